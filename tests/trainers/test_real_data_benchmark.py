"""``benchmarks/real_data.py`` runs end to end on a few real chips (2 steps).

The benchmark trains rtsgeo and the TorchGeo U-Net peer on the same crops,
maps whole s2-rts-lubka1 chips with the product's campaign path, scores the
GeoPackages with the product's evaluation and, on the yang2023 COCO chips,
scores chip-level AP50. Two steps on two chips per split check the plumbing,
not the figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from scipy import ndimage

from rtsgeo.models import load_trained_model

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / 'benchmarks' / 'real_data.py'
FUSED = 'rtsgeo RGB+NDVI+NIR (residual cross-attention)'
UNET = 'U-Net RGB+NDVI+NIR (stacked, 5 channels)'
COCO_ROWS = ['rtsgeo RGB (yang2023 chips)', 'U-Net RGB (yang2023 chips)']


@pytest.mark.data
def test_smoke_run(data_dir: Path, tmp_path: Path) -> None:
    lubka1 = data_dir / 's2-rts-lubka1'
    if not (lubka1 / 'test' / 'mask').is_dir():
        pytest.skip(f'{lubka1} not found: set RTSGEO_DATA_DIR to the shared data')
    coco = (data_dir / 'rgb-rts-coco-yang2023').is_dir()
    out = tmp_path / 'bench'
    argv = [
        sys.executable, str(SCRIPT), '--steps', '2', '--seeds', '0',
        '--limit-chips', '2', '--threads', '1', '--out', str(out),
        '--models', FUSED, UNET, '--model-options', 'anchor_density=2',
        *([] if coco else ['--skip-coco']),
    ]  # fmt: skip
    env = {**os.environ, 'RTSGEO_DATA_DIR': str(data_dir)}
    done = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert '| model | data, scoring | seeds | AP50 (%) |' in done.stdout
    assert 'command: python ' in done.stdout

    report = json.loads((out / 'results.json').read_text())
    rows = [FUSED, UNET, *(COCO_ROWS if coco else [])]
    assert [run['model'] for run in report['runs']] == rows
    assert list(report['summary']) == rows
    assert report['model_options'] == {'anchor_density': 2}
    for run in report['runs']:
        assert run['seed'] == 0 and run['seconds'] > 0
        for key in ('ap50', 'ap'):
            assert 0.0 <= run['metrics'][key] <= 1.0, (run['model'], key)
        assert report['summary'][run['model']]['seeds'] == 1

    # The truth: the scored chips' masks as 8-connected components.
    masks = sorted((lubka1 / 'test' / 'mask').glob('*.tif'))[:2]
    components = 0
    for path in masks:
        with rasterio.open(path) as src:
            components += ndimage.label(src.read(1) != 0, np.ones((3, 3)))[1]
    truth = gpd.read_file(out / 'truth-test.gpkg')
    assert len(truth) == components and truth.crs.to_epsg() == 3413
    scene_level = report['runs'][:2]
    for run in scene_level:
        assert run['metrics']['n_truth'] == components
        slumps = gpd.read_file(run['predictions'], layer='slumps')
        assert slumps.crs.to_epsg() == 3413
        assert len(slumps) == run['metrics']['n_pred']
        assert slumps['score'].between(0, 1).all()

    # Every trained rtsgeo model is a trained-model file that rtsgeo map reads.
    _, info = load_trained_model(report['runs'][0]['model_file'])
    assert info.config.modalities == ('rgb', 'ndvi', 'nir')
    assert info.config.fusion == 'residual_cross_attention'
    assert info.config.anchor_density == 2
    assert 'model_file' not in report['runs'][1]  # the U-Net is not one
    if coco:
        _, info = load_trained_model(report['runs'][2]['model_file'])
        assert info.config.modalities == ('rgb',)
        assert info.config.image_size == 320


@pytest.mark.data
def test_unknown_model_option_stops_before_training(
    data_dir: Path, tmp_path: Path
) -> None:
    if not (data_dir / 's2-rts-lubka1').is_dir():
        pytest.skip('s2-rts-lubka1 not found: set RTSGEO_DATA_DIR to the shared data')
    argv = [
        sys.executable, str(SCRIPT), '--out', str(tmp_path),
        '--model-options', 'anchor_density=2', 'no_such_field=1',
    ]  # fmt: skip
    env = {**os.environ, 'RTSGEO_DATA_DIR': str(data_dir)}
    done = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2
    assert '--model-options' in done.stderr and 'no_such_field' in done.stderr
    assert not (tmp_path / 'results.json').exists()
