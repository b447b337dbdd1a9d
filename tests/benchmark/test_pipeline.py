"""Tests of the pipeline benchmark and its stand-in model."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import rasterio
import torch

from rtsgeo.benchmark.pipeline import (
    StandInModel,
    describe_pipeline,
    measure_pipeline,
)
from rtsgeo.benchmark.predict import scene_statistics, write_benchmark_scenes
from rtsgeo.cli.main import main
from rtsgeo.predict.reader import SceneReader


def test_stand_in_model_returns_its_objects_and_takes_its_time() -> None:
    model = StandInModel(objects=4, model_ms=20)
    start = time.perf_counter()
    outputs = model(torch.zeros(3, 5, 64, 64))
    assert time.perf_counter() - start >= 0.06
    assert len(outputs) == 3
    for out in outputs:
        assert out['masks'].shape == (4, 1, 64, 64)
        assert out['scores'].tolist() == pytest.approx([0.9, 0.8, 0.7, 0.6])
        assert (out['masks'].flatten(1).sum(1) == 8 * 8).all()  # side 64 / 8


def test_measure_pipeline_same_polygons_with_workers(tmp_path: Path) -> None:
    base, _ = write_benchmark_scenes(tmp_path, 192)
    stats = scene_statistics(base, ('rgb', 'ndvi', 'nir'))
    read = SceneReader.read
    rows = [
        measure_pipeline(str(base), stats, 64, 2, workers, 2, 1.0, 3)
        for workers in (0, 2)
    ]
    assert SceneReader.read is read  # the timing wrappers are gone
    for row in rows:
        assert row['tiles'] == 16  # 192 px in 64 px tiles overlapping 16
        assert row['area_km2'] == pytest.approx(192 * 192 * 25 / 1e6)
        assert row['model_s'] >= 0.016
        assert all(row[k] > 0 for k in ('read_s', 'post_s', 'write_s'))
    assert rows[0]['polygons'] == rows[1]['polygons'] > 0


def test_cli_pipeline_only_prints_one_json_object(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # One run (two measuring processes, one per scene) with a quality mask:
    # the plain pipeline is measured in-process by the tests above.
    args = ['benchmark', 'predict', '--pipeline-only', '--scene-size', '128']
    args += ['--tile-size', '64', '--workers', '2', '--model-ms', '2', '--json']
    args += ['--objects', '2', '--quality-mask', 'scl', '--repeats', '1']
    assert main(args) == 0
    row = json.loads(capsys.readouterr().out)
    assert row['tiles'] == row['scenes']['base']['tiles'] + row['scenes']['x4']['tiles']
    assert (row['model_ms'], row['objects'], row['workers']) == (2.0, 2, 2)
    assert row['quality_mask'] == 'scl' and row['tiles'] > 0
    # The same scenes without the mask, measured beside it.
    plain_s = row['tiles'] / row['tiles_per_s_without_mask']
    assert row['mask_drop_pct'] == pytest.approx(
        100 * (1 - plain_s / row['end_to_end_s']), abs=0.1
    )
    assert f'costs {row["mask_drop_pct"]} % of the throughput' in (
        describe_pipeline(row)
    )
    assert row['rss_ratio_4x'] == pytest.approx(
        row['peak_rss_mb_4x'] / row['peak_rss_mb_base'], rel=0.01
    )
    assert row['km2_per_h'] > 0 and row['tiles_per_s'] > 0
    assert all(row[k] > 0 for k in ('read_s', 'model_s', 'post_s', 'write_s'))
    assert main(['benchmark', 'predict', '--quality-mask', 'scl']) == 2
    assert '--quality-mask needs --pipeline-only' in capsys.readouterr().err


def test_cli_pipeline_only_refuses_a_model(capsys: pytest.CaptureFixture[str]) -> None:
    args = ['benchmark', 'predict', '--pipeline-only', '--preset', 'nano_cascade_rgb']
    assert main(args) == 2
    assert 'stand-in model' in capsys.readouterr().err


def test_measure_pipeline_with_a_generated_cloud_mask(tmp_path: Path) -> None:
    from rtsgeo.benchmark.clouds import write_cloud_mask

    base, _ = write_benchmark_scenes(tmp_path, 256)
    write_cloud_mask(base, 'scl')
    stats = scene_statistics(base, ('rgb', 'ndvi', 'nir'))
    spec = 'scl={dir}/{stem}_scl.tif'
    row = measure_pipeline(str(base), stats, 64, 2, 0, 2, 0.0, 3, None, 1, spec)
    plain = measure_pipeline(str(base), stats, 64, 2, 0, 2, 0.0, 3)
    assert row['tiles'] <= plain['tiles']
    assert row['polygons'] < plain['polygons']


@pytest.mark.parametrize('fmt', ['scl', 'udm2', 'qa_pixel', 'nonzero'])
def test_generated_cloud_masks_hide_about_a_quarter(tmp_path: Path, fmt: str) -> None:
    from rtsgeo.benchmark.clouds import CLOUD_SHARE, write_cloud_mask
    from rtsgeo.predict import PredictorOptions, ScenePredictor
    from tests.predict.oracle import ComponentOracle, oracle_info

    base, _ = write_benchmark_scenes(tmp_path, 256)
    mask = write_cloud_mask(base, fmt)
    spec = f'{fmt}={{dir}}/{{stem}}_{fmt}.tif'
    predictor = ScenePredictor(
        ComponentOracle(), oracle_info(64), PredictorOptions(quality_mask=spec)
    )
    with predictor.open(base) as reader:
        area = reader.width * reader.height * reader.pixel_area_m2
    got = predictor.predict_scene(base)
    assert got.unobserved_area_m2 is not None
    # Clouds and shadows, less what lies on the scene's nodata hole.
    share = got.unobserved_area_m2 / area
    assert 0.8 * CLOUD_SHARE < share < 1.2 * 1.1 * CLOUD_SHARE
    if fmt == 'scl':
        with rasterio.open(mask) as src, rasterio.open(base) as scene:
            assert src.res == (2 * scene.res[0], 2 * scene.res[1])
