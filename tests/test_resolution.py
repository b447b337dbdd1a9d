"""Ground sampling distances: from pixel sizes, compared, and resampled grids."""

from __future__ import annotations

import pytest
from affine import Affine
from rasterio.crs import CRS

from rtsgeo.errors import InvalidImageryError
from rtsgeo.resolution import (
    describe_resampling,
    gsd_differs,
    imagery_gsd_m,
    pixel_gsd_m,
    resampled_grid,
)

UTM = CRS.from_epsg(32608)


def test_pixel_gsd_in_metres_whatever_the_units() -> None:
    assert pixel_gsd_m(UTM, (3.0, 3.0)) == 3.0
    assert pixel_gsd_m(UTM, (2.0, 8.0)) == 4.0  # the square of the same area
    feet = CRS.from_epsg(2277)  # Texas central, US survey feet
    assert pixel_gsd_m(feet, (10.0, 10.0)) == pytest.approx(3.048, rel=1e-5)
    with pytest.raises(InvalidImageryError, match=r'degrees.*reproject'):
        pixel_gsd_m(CRS.from_epsg(4326), (0.0001, 0.0001))


def test_median_gsd_of_the_training_rasters() -> None:
    assert imagery_gsd_m([(UTM, (3, 3)), (UTM, (10, 10)), (UTM, (3, 3))]) == 3.0
    assert imagery_gsd_m([]) is None


def test_resampled_grid_keeps_the_origin_and_extent() -> None:
    transform = Affine(2.5, 0, 500000, 0, -2.5, 7600000)
    grid, width, height = resampled_grid(transform, 401, 200, UTM, 5.0)
    assert grid == Affine(5.0, 0, 500000, 0, -5.0, 7600000)
    assert (width, height) == (200, 100)  # 200.5 rounds to the nearest pixel
    grid, width, height = resampled_grid(transform, 4, 4, UTM, 1.25)
    assert (grid.a, grid.e, width, height) == (1.25, -1.25, 8, 8)


def test_gsd_comparisons_and_words() -> None:
    assert not gsd_differs(5.02, 5.0)
    assert gsd_differs(5.2, 5.0)
    assert not gsd_differs(6.0, 5.0, 0.25)
    assert describe_resampling(2.5, 5.0) == "2.5 m -> 5 m (model's GSD)"
    assert describe_resampling(2.5, 5.0, resample=False) == (
        '2.5 m, native (model 5 m; resampling off)'
    )
    assert describe_resampling(5.0, 5.0) == "5 m (the model's GSD), native"
    assert 'records no GSD' in describe_resampling(3.0, None)
