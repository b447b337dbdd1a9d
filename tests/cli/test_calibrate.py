"""``rtsgeo calibrate`` end to end: map, calibrate, map again, evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import torch
from shapely.geometry import box

from rtsgeo.cli import calibrate as calibrate_cli
from rtsgeo.cli.main import main
from rtsgeo.datasets import make_synthetic_dataset
from rtsgeo.errors import ConfigError
from rtsgeo.evaluation import CALIBRATION_METHODS, CALIBRATION_TARGETS
from rtsgeo.models import load_trained_model


@pytest.fixture(scope='module')
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rtsgeo.models import build_model_from_preset, get_preset, save_trained_model

    name = 'nano_cascade_rgb_ndvi_nir'
    torch.manual_seed(0)
    stats = {
        m: {'mean': [0.0] * c, 'std': [1.0] * c}
        for m, c in (('rgb', 3), ('ndvi', 1), ('nir', 1))
    }
    path = tmp_path_factory.mktemp('model') / 'nano.pt'
    model = build_model_from_preset(name).eval()
    return save_trained_model(path, model, get_preset(name), stats, 'sentinel2', name)


def test_choices_follow_the_library() -> None:
    assert set(calibrate_cli.METHODS) == set(CALIBRATION_METHODS)
    assert set(calibrate_cli.TARGETS) == set(CALIBRATION_TARGETS)


@pytest.mark.slow
def test_calibrate_then_map_writes_probability_and_tiers(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_synthetic_dataset(tmp_path / 'data', n_scenes=1, seed=5, size=128, n_slumps=2)
    scene = str(tmp_path / 'data' / 'image')
    common = ['--no-progress', '--score-threshold', '0.05']
    val = tmp_path / 'val.gpkg'
    assert (
        main(
            ['map', scene, '--checkpoint', str(model_file), '--out', str(val), *common]
        )
        == 0
    )
    slumps = pyogrio.read_dataframe(val, layer='slumps')
    assert len(slumps) >= 2, 'the untrained model should leave a few polygons'
    assert slumps['probability'].isna().all() and slumps['confidence'].isna().all()
    # "truth": every other mapped polygon, so that some predictions are real
    truth = tmp_path / 'truth.gpkg'
    slumps.iloc[::2][['geometry']].to_file(truth)
    calibrated = tmp_path / 'calibrated.pt'
    capsys.readouterr()
    argv = ['calibrate', '--pred', str(val), '--truth', str(truth)]
    argv += ['--checkpoint', str(model_file), '--out', str(calibrated), '--json']
    assert main(argv) == 0
    row = json.loads(capsys.readouterr().out)
    assert row['n'] == len(slumps) and row['positives'] == len(slumps.iloc[::2])
    assert Path(row['plot']) == tmp_path / 'calibrated.reliability.png'
    assert Path(row['plot']).stat().st_size > 0
    _, info = load_trained_model(calibrated)
    assert info.calibration is not None
    assert info.calibration.model_sha256 == load_trained_model(model_file)[1].sha256

    test = tmp_path / 'test.gpkg'
    argv = ['map', scene, '--checkpoint', str(calibrated), '--out', str(test), *common]
    assert main(argv) == 0
    mapped = pyogrio.read_dataframe(test, layer='slumps')
    assert len(mapped) == len(slumps)
    want = info.calibration.probability(mapped['score'])
    assert np.allclose(mapped['probability'], want)
    assert list(mapped['confidence']) == list(info.calibration.tiers(want))

    capsys.readouterr()
    assert main(['evaluate', '--pred', str(test), '--truth', str(truth), '--json']) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result['tiers']) == {'high', 'medium', 'low'}
    assert result['ece'] is not None
    # the calibrated file's own map is a map of the same model
    again = ['calibrate', '--pred', str(test), '--truth', str(truth)]
    assert main([*again, '--checkpoint', str(calibrated)]) == 0
    assert 'isotonic calibration, target iou50' in capsys.readouterr().out


def test_a_map_of_another_model_is_refused(tmp_path: Path, model_file: Path) -> None:
    from rtsgeo.evaluation import calibrate_files

    other = tmp_path / 'other.gpkg'
    frame = gpd.GeoDataFrame(
        {'score': [0.9], 'checkpoint_sha256': ['f' * 64]},
        geometry=[box(0, 0, 10, 10)],
        crs='EPSG:32608',
    )
    frame.to_file(other, layer='slumps')
    with pytest.raises(ConfigError, match='mapped with another model file'):
        calibrate_files(other, other, model_file)
