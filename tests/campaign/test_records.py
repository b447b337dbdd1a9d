"""Tests of a scene's output rows: the one filtering path (geodesic m^2)."""

from __future__ import annotations

from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS
from shapely.geometry import MultiPolygon, Point, Polygon, box

from rtsgeo.campaign.records import build_scene_records

INFO = SimpleNamespace(name='m', sha256='a' * 64, modalities=('rgb',), gsd_m=10.0)


def _prediction(geometries: list, crs: str = 'EPSG:32608') -> SimpleNamespace:
    return SimpleNamespace(
        path='/data/s.tif',
        scene_id='s',
        crs=CRS.from_user_input(crs),
        transform=Affine(10, 0, 500000, 0, -10, 7600000),
        polygons=gpd.GeoDataFrame(
            {'score': np.linspace(0.9, 0.5, len(geometries))},
            geometry=geometries,
            crs=crs,
        ),
        coverage=box(500000, 7590000, 510000, 7600000),
        acquired=None,
        tiles=1,
        tiles_skipped=0,
        valid_area_m2=1e8,
        scene_gsd_m=10.0,
    )


def test_simplify_and_geodesic_min_area() -> None:
    disk = Point(502000, 7598000).buffer(250, quad_segs=64)  # about 196,000 m^2
    tiny = box(505000, 7595000, 505010, 7595010)  # 100 m^2 (planar UTM)
    prediction = _prediction([disk, tiny])
    exact = build_scene_records(prediction, INFO, 'EPSG:32608', {}).slumps
    assert len(exact) == 2
    # Geodesic areas: the UTM grid's scale (0.9996 near its central meridian
    # here) makes them larger than the planar ones.
    assert exact.area_m2.iloc[1] == pytest.approx(100 / 0.9996**2, rel=2e-4)
    cut = float(exact.area_m2.iloc[1])
    simple = build_scene_records(
        prediction, INFO, 'EPSG:32608', {}, min_area_m2=cut + 0.01, simplify=10.0
    ).slumps
    assert list(simple.score) == [0.9]
    before = len(exact.geometry.iloc[0].geoms[0].exterior.coords)
    after = len(simple.geometry.iloc[0].geoms[0].exterior.coords)
    assert after < before / 2
    assert simple.geometry.iloc[0].is_valid
    assert simple.area_m2.iloc[0] == pytest.approx(exact.area_m2.iloc[0], rel=0.05)
    # The threshold applies to the geodesic area (100.08 m^2), not to the
    # planar one (100 m^2), which would drop the small polygon.
    kept = build_scene_records(
        prediction, INFO, 'EPSG:32608', {}, min_area_m2=100.04
    ).slumps
    assert len(kept) == 2


def test_invalid_and_empty_geometries_are_cleaned() -> None:
    bowtie = Polygon([(0, 0), (20, 20), (20, 0), (0, 20)])
    bowtie = Polygon([(500000 + x, 7590000 + y) for x, y in bowtie.exterior.coords])
    line = Polygon([(500000, 7590000), (500010, 7590010), (500020, 7590020)])
    slumps = build_scene_records(_prediction([bowtie, line]), INFO, 'EPSG:3413', {})
    assert len(slumps.slumps) == 1
    assert slumps.slumps.geometry.iloc[0].geom_type == 'MultiPolygon'
    assert slumps.slumps.is_valid.all()


def test_area_takes_holes_off_and_perimeter_counts_every_ring() -> None:
    outer = box(502000, 7595000, 502100, 7595100)
    hole = box(502040, 7595040, 502060, 7595060)
    ring = Polygon(outer.exterior.coords, [hole.exterior.coords])
    two = MultiPolygon([ring, box(503000, 7595000, 503010, 7595010)])
    slumps = build_scene_records(
        _prediction([ring, two]), INFO, 'EPSG:32608', {}
    ).slumps
    scale = 0.9996  # the UTM grid's scale near its central meridian, as above
    assert slumps.area_m2.tolist() == pytest.approx(
        [9600 / scale**2, 9700 / scale**2], rel=2e-4
    )
    # 400 m of exterior, 80 m of hole, and 40 m more for the second part.
    assert slumps.perimeter_m.tolist() == pytest.approx(
        [480 / scale, 520 / scale], rel=2e-4
    )


def test_quality_mask_areas_and_rim_fractions_reach_the_rows() -> None:
    prediction = _prediction([box(501000, 7591000, 502000, 7592000)] * 2)
    prediction.polygons['unobserved_fraction'] = [0.0, 0.25]
    prediction.unobserved_area_m2 = 2.5e7
    rows = build_scene_records(prediction, INFO, 'EPSG:32608', {})
    assert rows.slumps['unobserved_fraction'].tolist() == [0.0, 0.25]
    assert rows.run['observed_area_m2'] == 1e8
    assert rows.run['unobserved_area_m2'] == 2.5e7
    # Without a mask: NULL areas; a predictor that measures no rims: NULL.
    plain = build_scene_records(_prediction([box(0, 0, 1, 1)]), INFO, 'EPSG:32608', {})
    assert plain.run['observed_area_m2'] is None
    assert plain.run['unobserved_area_m2'] is None
    assert plain.slumps['unobserved_fraction'].isna().all()
    # A scene the mask hides entirely is skipped, and says why.
    hidden = _prediction([])
    hidden.valid_area_m2, hidden.coverage, hidden.unobserved_area_m2 = 0.0, None, 1e8
    skipped = build_scene_records(hidden, INFO, 'EPSG:32608', {})
    assert skipped.run['status'] == 'skipped'
    assert 'no observed pixel' in skipped.run['message']
