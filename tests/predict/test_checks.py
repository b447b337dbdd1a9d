"""Tests of scene checks (bad input) and of the predictor with a real model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from rtsgeo.datasets import make_synthetic_scene
from rtsgeo.errors import (
    BandNotFoundError,
    ConfigError,
    CorruptRasterError,
    DataNotFoundError,
    InvalidImageryError,
)
from rtsgeo.models import (
    ModelConfig,
    TrainedModelInfo,
    build_model_from_preset,
    get_preset,
    save_trained_model,
)
from rtsgeo.predict import PredictorOptions, ScenePredictor, acquisition_date

from .oracle import ComponentOracle, oracle_info, write_mask_scene

TRANSFORM = Affine(5.0, 0.0, 500000.0, 0.0, -5.0, 7600000.0)


@pytest.fixture
def predictor() -> ScenePredictor:
    return ScenePredictor(ComponentOracle(), oracle_info(64))


def _info(config: ModelConfig, stats: dict) -> TrainedModelInfo:
    return TrainedModelInfo(config, stats, None, 'nano', '', '')


def _mask() -> np.ndarray:
    mask = np.zeros((40, 40), bool)
    mask[10:20, 10:20] = True
    return mask


def test_missing_scene(predictor: ScenePredictor, tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r'nope\.tif'):
        predictor.check_scene(tmp_path / 'nope.tif')


def test_unreadable_scene(predictor: ScenePredictor, tmp_path: Path) -> None:
    path = tmp_path / 'broken.tif'
    path.write_bytes(b'II*\x00 not really a tiff')
    with pytest.raises(CorruptRasterError, match=r'broken\.tif'):
        predictor.predict_scene(path)


def test_missing_band_is_named(predictor: ScenePredictor, tmp_path: Path) -> None:
    path = tmp_path / 'rgb.tif'
    with rasterio.open(
        path,
        'w',
        driver='GTiff',
        width=8,
        height=8,
        count=3,
        dtype='uint16',
        crs='EPSG:32608',
        transform=TRANSFORM,
    ) as dst:
        dst.write(np.ones((3, 8, 8), np.uint16))
        for band, name in enumerate(('red', 'green', 'blue'), start=1):
            dst.set_band_description(band, name)
    with pytest.raises(
        BandNotFoundError, match=r"\['nir'\].*rgb.tif|rgb.tif.*\['nir'\]"
    ):
        predictor.check_scene(path)


def test_sensor_preset_that_does_not_fit(tmp_path: Path) -> None:
    path = write_mask_scene(
        tmp_path / 'plain.tif', _mask(), TRANSFORM, 'EPSG:32608', descriptions=False
    )
    # Without descriptions the model's sensor preset names the bands.
    ScenePredictor(ComponentOracle(), oracle_info(64, sensor='sentinel2')).check_scene(
        path
    )
    rgb_only = ScenePredictor(
        ComponentOracle(), oracle_info(64), PredictorOptions(sensor='rgb')
    )
    with pytest.raises(BandNotFoundError, match="preset 'rgb'"):
        rgb_only.check_scene(path)
    with pytest.raises(BandNotFoundError, match='sensor'):
        ScenePredictor(ComponentOracle(), oracle_info(64)).check_scene(path)


def test_geographic_crs_refused(predictor: ScenePredictor, tmp_path: Path) -> None:
    transform = Affine(0.0001, 0.0, -133.0, 0.0, -0.0001, 69.4)
    path = write_mask_scene(tmp_path / 'deg.tif', _mask(), transform, 'EPSG:4326')
    with pytest.raises(InvalidImageryError, match=r'deg\.tif.*projected CRS.*UTM'):
        predictor.check_scene(path)
    with pytest.raises(InvalidImageryError):
        predictor.predict_scene(path)


def test_metadata_of_the_prediction(predictor: ScenePredictor, tmp_path: Path) -> None:
    tags = {'TIFFTAG_DATETIME': '2019:07:14 19:58:01'}
    path = write_mask_scene(
        tmp_path / 'tagged.tif', _mask(), TRANSFORM, 'EPSG:32608', tags=tags
    )
    result = predictor.predict_scene(path)
    assert result.acquired == '2019-07-14'
    assert result.scene_id == 'tagged' and result.path == str(path)
    assert result.crs.to_epsg() == 32608 and result.transform == TRANSFORM
    assert len(result.polygons) == 1
    assert result.polygons.geometry.iloc[0].area == pytest.approx(100 * 25.0)
    assert result.valid_area_m2 == pytest.approx(40 * 40 * 25.0)


def test_acquisition_date_tags() -> None:
    assert (
        acquisition_date({'ACQUISITION_DATE': '2021-08-03T10:00:00Z'}) == '2021-08-03'
    )
    assert acquisition_date({'AREA_OR_POINT': 'Area'}) is None


def test_bad_settings_refused() -> None:
    info = oracle_info(64)
    model = build_model_from_preset('nano_cascade_rgb')
    with pytest.raises(ConfigError, match='image_size=64'):
        ScenePredictor(model, info, PredictorOptions(tile_size=128))
    with pytest.raises(ConfigError, match='overlap=64: use 0 <= overlap < tile_size'):
        ScenePredictor(ComponentOracle(), info, PredictorOptions(overlap=64))
    with pytest.raises(ConfigError, match='batch_size=0'):
        PredictorOptions(batch_size=0)
    with pytest.raises(ConfigError, match='overlap=-1'):
        PredictorOptions(overlap=-1)
    with pytest.raises(
        ConfigError, match=r'score_threshold=1.5: use a value in \[0, 1\]'
    ):
        PredictorOptions(score_threshold=1.5)


def test_fixed_input_size_is_the_model_configs() -> None:
    assert get_preset('nano_cascade_rgb').fixed_input_size
    resnet = get_preset('nano_cascade_rgb').with_overrides(backbone='resnet50')
    assert not resnet.fixed_input_size
    # A model without a fixed input size runs at any tile size.
    model = build_model_from_preset('nano_cascade_rgb', backbone='resnet50')
    info = _info(resnet, {'rgb': {'mean': [0.0] * 3, 'std': [1.0] * 3}})
    assert ScenePredictor(model, info, PredictorOptions(tile_size=96)).tile_size == 96


def test_real_model_from_checkpoint(tmp_path: Path) -> None:
    scene = make_synthetic_scene(
        tmp_path, seed=1, size=100, n_slumps=2, nodata_hole=True
    )
    config = get_preset('nano_cascade_rgb_ndvi_nir')
    stats = {
        'rgb': {'mean': [900.0] * 3, 'std': [300.0] * 3},
        'ndvi': {'mean': [0.3], 'std': [0.2]},
        'nir': {'mean': [2500.0], 'std': [600.0]},
    }
    model = build_model_from_preset('nano_cascade_rgb_ndvi_nir')
    checkpoint = save_trained_model(
        tmp_path / 'nano.pt', model, config, stats, sensor='sentinel2'
    )
    predictor = ScenePredictor.from_checkpoint(
        checkpoint, PredictorOptions(score_threshold=0.0)
    )
    assert predictor.tile_size == 64 and predictor.overlap == 16
    assert predictor.sensor == 'sentinel2' and predictor.amp is False
    result = predictor.predict_scene(scene.image_path)
    assert result.tiles + result.tiles_skipped == 4
    assert len(result.polygons) > 0  # untrained: boxes everywhere, all kept
    assert result.polygons.geometry.is_valid.all()
    assert result.polygons.crs == result.crs
    assert result.polygons['score'].between(0, 1).all()
    # No polygon reaches into nodata.
    assert result.polygons.union_all().difference(
        result.coverage
    ).area == pytest.approx(0)


def test_real_model_with_tta(tmp_path: Path) -> None:
    scene = make_synthetic_scene(tmp_path, seed=2, size=64, n_slumps=1)
    config = get_preset('nano_cascade_rgb')
    stats = {'rgb': {'mean': [900.0] * 3, 'std': [300.0] * 3}}
    model = build_model_from_preset('nano_cascade_rgb')
    predictor = ScenePredictor(model, _info(config, stats), PredictorOptions(tta=True))
    result = predictor.predict_scene(scene.image_path)
    assert result.tiles == 1
    assert result.polygons.geometry.is_valid.all()
    # Merged over three views, scores are means of at most three scores.
    assert result.polygons['score'].between(0, 1).all()
