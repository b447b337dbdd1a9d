"""Tests of masks to polygons."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio.features
from affine import Affine
from shapely.geometry import MultiPolygon, Polygon

from rtsgeo.predict import vectorize_mask, vectorize_masks

TRANSFORM = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 7600000.0)


def test_outline_on_pixel_edges_with_holes() -> None:
    mask = np.zeros((7, 9), bool)
    mask[1:6, 2:8] = True
    mask[3, 4] = False  # a one-pixel hole
    geometry = vectorize_mask(mask, TRANSFORM, row=10, col=20)
    assert isinstance(geometry, Polygon) and geometry.is_valid
    assert len(geometry.interiors) == 1
    # Scene pixel (11, 22) is the top-left one: its corner, not its centre.
    x0, y0 = TRANSFORM * (22, 11)
    x1, y1 = TRANSFORM * (28, 16)
    assert geometry.bounds == (x0, y1, x1, y0)
    assert geometry.area == pytest.approx((30 - 1) * 100)
    hx, hy = TRANSFORM * (24, 13)
    assert geometry.interiors[0].bounds == (hx, hy - 10, hx + 10, hy)


def test_rasterising_the_polygon_gives_the_mask_back() -> None:
    rng = np.random.default_rng(0)
    mask = rng.random((40, 50)) > 0.5
    geometry = vectorize_mask(mask, TRANSFORM)
    assert geometry.is_valid
    back = rasterio.features.rasterize(
        [(geometry, 1)], out_shape=mask.shape, transform=TRANSFORM
    )
    np.testing.assert_array_equal(back.astype(bool), mask)


def test_diagonal_pixels_make_a_valid_multipolygon() -> None:
    mask = np.array([[1, 0], [0, 1]], bool)
    geometry = vectorize_mask(mask, TRANSFORM)
    assert isinstance(geometry, MultiPolygon) and geometry.is_valid
    assert len(geometry.geoms) == 2


def test_empty_mask_gives_empty_geometry() -> None:
    assert vectorize_mask(np.zeros((4, 4), bool), TRANSFORM).is_empty
    frame = vectorize_masks([], TRANSFORM, 'EPSG:32608')
    assert len(frame) == 0 and list(frame.columns) == ['score', 'geometry']
