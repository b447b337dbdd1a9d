"""The per-scene percentile stretch: percentiles, reference, coefficients, files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from rtsgeo.errors import ConfigError
from rtsgeo.quality import QualityMask
from rtsgeo.transforms import SceneStretch, check_scene_norm, measure_scene
from rtsgeo.transforms.scene_norm import (
    apply_stretch,
    band_percentiles,
    decimated_shape,
    reference_percentiles,
    stretch_coefficients,
)

BANDS = ('blue', 'green', 'red', 'nir')


def test_percentiles_count_valid_finite_pixels_only() -> None:
    block = np.zeros((2, 10, 10), np.float32)
    block[0] = np.arange(100).reshape(10, 10)
    block[1] = 5.0
    valid = np.ones((10, 10), bool)
    valid[0] = False  # nodata: the values 0-9
    block[1, 9, 9] = np.nan  # not finite in one band: 99 does not count either
    ranges = band_percentiles(block, ['red', 'nir'], valid, 0.0, 100.0)
    assert ranges == {'red': (10.0, 98.0), 'nir': (5.0, 5.0)}
    lo, hi = np.percentile(np.arange(10, 99), [2, 98])
    assert band_percentiles(block, ['red', 'nir'], valid)['red'] == pytest.approx(
        (lo, hi)
    )
    assert band_percentiles(block, ['red', 'nir'], np.zeros((10, 10), bool)) == {}
    with pytest.raises(ConfigError, match='percentiles'):
        band_percentiles(block, ['red', 'nir'], low=50, high=50)
    with pytest.raises(ValueError, match='2 bands'):
        band_percentiles(block, ['red'])


def test_coefficients_map_percentiles_onto_the_reference() -> None:
    reference = {'red': (200.0, 1000.0), 'nir': (0.0, 800.0), 'blue': (1.0, 2.0)}
    scene = {'red': (300.0, 300.0), 'nir': (100.0, 500.0)}  # red constant, no blue
    coefficients = stretch_coefficients(scene, reference)
    assert set(coefficients) == {'red', 'nir'}
    assert coefficients['nir'] == pytest.approx((2.0, -200.0))
    # a constant band is centred on the reference, not divided by about 0
    assert coefficients['red'] == (1.0, 300.0)
    block = np.full((3, 4, 4), 300.0, np.float32)
    block[1] = 100.0
    block[1, 0, 0] = 500.0
    block[1, 0, 1] = -np.inf  # a fill value
    block[1, 0, 2] = np.nan
    block[2] = 7.0  # a band without coefficients
    apply_stretch(block, ['red', 'nir', 'blue'], coefficients)
    assert (block[0] == 600.0).all()
    assert block[1, 0, 0] == 800.0 and block[1, 3, 3] == 0.0
    assert block[1, 0, 1] == -np.inf and np.isnan(block[1, 0, 2])
    assert (block[2] == 7.0).all()


def test_reference_is_the_median_over_files() -> None:
    files = [
        {'red': (1.0, 10.0)},
        {'red': (3.0, 30.0), 'nir': (5.0, 6.0)},
        {'red': (2.0, 20.0)},
    ]
    assert reference_percentiles(files) == {'red': (2.0, 20.0), 'nir': (5.0, 6.0)}
    with pytest.raises(ValueError, match='no training file has a valid pixel'):
        reference_percentiles([{}, {}])


def test_stretch_record_round_trips_and_refuses_bad_ones() -> None:
    stretch = SceneStretch.from_ranges({'red': [200, 1000], 'blue': (100, 900)})
    assert stretch.bands == ('blue', 'red')
    assert stretch.ranges == {'blue': (100.0, 900.0), 'red': (200.0, 1000.0)}
    record = stretch.to_dict()
    assert record['method'] == 'percentile'
    assert record['percentiles'] == [2.0, 98.0]
    assert SceneStretch.from_dict(record) == stretch
    assert hash(SceneStretch.from_dict(record)) == hash(stretch)
    with pytest.raises(ConfigError, match='not a scene normalisation record'):
        SceneStretch.from_dict({'method': 'percentile'})
    with pytest.raises(ConfigError, match="scene_norm='zscore'"):
        SceneStretch.from_dict({**record, 'method': 'zscore'})
    with pytest.raises(ConfigError, match="band 'red'"):
        SceneStretch.from_ranges({'red': [5, 5]})
    with pytest.raises(ConfigError, match='percentiles'):
        SceneStretch.from_ranges({'red': [1, 5]}, low=98, high=2)
    assert check_scene_norm(None) is None
    assert check_scene_norm('percentile') == 'percentile'


def _raster(path: Path, data: np.ndarray, nodata: float | None = None) -> Path:
    count, height, width = data.shape
    with rasterio.open(
        path, 'w', driver='GTiff', width=width, height=height, count=count,
        dtype=data.dtype.name, crs='EPSG:32608',
        transform=from_origin(500000, 7600000, 10, 10), nodata=nodata,
    ) as dst:  # fmt: skip
        dst.write(data)
    return path


def test_measure_scene_leaves_out_nodata_and_unobserved_pixels(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = rng.uniform(100, 2000, (4, 40, 50)).astype(np.float32)
    data[:, :5] = 0.0  # nodata rows
    data[2, 20:30, 20:30] = 60000.0  # bright, hidden by the mask below
    path = _raster(tmp_path / 'scene.tif', data, nodata=0.0)
    mask = np.zeros((1, 40, 50), np.uint8)
    mask[0, 20:30, 20:30] = 1
    _raster(tmp_path / 'scene_mask.tif', mask)
    quality = QualityMask('nonzero', path='{dir}/{stem}_mask.tif')
    measured = measure_scene(path, BANDS, ('red', 'nir', 'swir16'), quality)
    assert set(measured) == {'red', 'nir'}  # the file has no swir16
    ok = np.ones((40, 50), bool)
    ok[:5] = False
    ok[20:30, 20:30] = False
    expected = band_percentiles(data[[2, 3]], ['red', 'nir'], ok)
    for band in ('red', 'nir'):
        assert measured[band] == pytest.approx(expected[band])
    unmasked = measure_scene(path, BANDS, ('red',))
    assert unmasked['red'][1] == pytest.approx(60000.0)  # the hidden pixels count


def test_large_scenes_are_measured_on_a_decimated_read(tmp_path: Path) -> None:
    assert decimated_shape(300, 200, 1_000_000) == (300, 200)
    assert decimated_shape(10_000, 10_000, 1_000_000) == (1000, 1000)
    assert decimated_shape(301, 100, 10_000) == (151, 50)
    rng = np.random.default_rng(1)
    data = rng.uniform(0, 1000, (1, 300, 300)).astype(np.float32)
    path = _raster(tmp_path / 'big.tif', data)
    full = measure_scene(path, ['red'], ['red'])
    sampled = measure_scene(path, ['red'], ['red'], max_pixels=10_000)
    assert full['red'] == pytest.approx(tuple(np.percentile(data, [2, 98])))
    assert sampled['red'] != full['red']  # another read: 100 x 100 samples
    assert sampled['red'] == pytest.approx(full['red'], abs=15.0)
