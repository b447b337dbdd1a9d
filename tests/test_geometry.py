"""Tests of the one geometry-cleaning helper."""

from __future__ import annotations

import pytest
from shapely.geometry import (
    GeometryCollection,
    LineString,
    MultiPolygon,
    Point,
    Polygon,
    box,
)

from rtsgeo.geometry import polygonal


def test_invalid_geometry_is_repaired() -> None:
    bowtie = Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])
    assert not bowtie.is_valid
    repaired = polygonal(bowtie)
    assert repaired.is_valid and isinstance(repaired, MultiPolygon)
    assert repaired.area == pytest.approx(2.0)
    # Lines left over from a repair are dropped, polygons kept.
    assert polygonal(Polygon([(0, 0), (1, 1), (2, 2)])).is_empty


def test_collections_keep_their_polygons_only() -> None:
    nested = GeometryCollection(
        [
            Point(9, 9),
            LineString([(0, 0), (5, 5)]),
            GeometryCollection([box(0, 0, 1, 1)]),
        ]
    )
    assert polygonal(nested).equals(box(0, 0, 1, 1))
    assert polygonal(GeometryCollection([Point(0, 0)])).is_empty
    assert polygonal(None).is_empty


def test_multi_promotes_a_polygon() -> None:
    square = box(0, 0, 1, 1)
    assert polygonal(square) is square
    promoted = polygonal(square, multi=True)
    assert isinstance(promoted, MultiPolygon) and promoted.equals(square)
    assert isinstance(polygonal(None, multi=True), MultiPolygon)
