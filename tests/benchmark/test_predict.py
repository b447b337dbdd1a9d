"""Tests of the predictor benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from rtsgeo.benchmark.predict import measure_scene, write_benchmark_scenes
from rtsgeo.cli.main import main
from rtsgeo.models import build_model_from_preset, get_preset, save_trained_model


def test_large_scene_is_the_base_scene_two_by_two(tmp_path: Path) -> None:
    base, large = write_benchmark_scenes(tmp_path, 96)
    with rasterio.open(base) as a, rasterio.open(large) as b:
        small = a.read()
        big = b.read()
        assert (b.width, b.height) == (2 * a.width, 2 * a.height)
        assert b.transform == a.transform and b.crs == a.crs
        assert b.descriptions == a.descriptions
    np.testing.assert_array_equal(big, np.tile(small, (1, 2, 2)))


def test_measure_scene(tmp_path: Path) -> None:
    base, _ = write_benchmark_scenes(tmp_path, 96)
    config = get_preset('nano_cascade_rgb')
    stats = {'rgb': {'mean': [900.0] * 3, 'std': [300.0] * 3}}
    model = build_model_from_preset('nano_cascade_rgb')
    checkpoint = save_trained_model(tmp_path / 'm.pt', model, config, stats)
    row = measure_scene(str(checkpoint), str(base), None, 2, 0.55, repeats=1)
    assert row['tiles'] + row['tiles_skipped'] == 4  # 96 px in 64 px tiles
    assert row['area_km2'] == pytest.approx(96 * 96 * 25 / 1e6)
    assert row['model_forward_s'] > 0 and row['end_to_end_s'] > 0
    assert row['peak_rss_mb'] >= row['rss_before_mapping_mb'] > 0


@pytest.mark.slow
def test_cli_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    args = ['benchmark', 'predict', '--preset', 'nano_cascade_rgb', '--size', '96']
    args += ['--tile-size', '64', '--repeats', '1', '--json']
    assert main(args) == 0
    row = json.loads(capsys.readouterr().out)
    base, large = row['scenes']['base'], row['scenes']['x4']
    assert base['tiles'] + base['tiles_skipped'] == 4
    assert large['tiles'] + large['tiles_skipped'] == 16
    assert row['tiles'] == base['tiles'] + large['tiles']
    assert row['overhead_ratio'] == pytest.approx(
        row['end_to_end_s'] / row['model_forward_s'], rel=0.01
    )
    assert row['rss_ratio_4x'] == pytest.approx(
        row['peak_rss_mb_4x'] / row['peak_rss_mb_base'], rel=0.01
    )
    assert row['km2_per_h'] > 0 and row['tiles_per_s'] > 0
    assert row['score_threshold_calibrated'] is True
