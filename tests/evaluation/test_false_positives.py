"""False positives per 100 km²: isolated predictions over the mapped area."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from rtsgeo.cli.main import main
from rtsgeo.evaluation import evaluate_files, evaluate_polygons, mapped_km2

#: UTM 8N, where a metre of the CRS is a metre on the ground to about 4e-4.
UTM = 'EPSG:32608'
X0, Y0 = 500_000.0, 7_600_000.0


def box(x: float, y: float, side: float = 100.0) -> shapely.Polygon:
    return shapely.box(X0 + x, Y0 + y, X0 + x + side, Y0 + y + side)


def scene() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Two slumps; a match, a poor outline, a boundary touch, and two isolated."""
    truth = gpd.GeoDataFrame(geometry=[box(0, 0), box(1000, 0)], crs=UTM)
    pred = gpd.GeoDataFrame(
        {'score': [0.9, 0.8, 0.7, 0.9, 0.3]},
        geometry=[
            box(0, 0),  # matches the first slump
            box(1060, 0),  # overlaps the second (IoU 0.25): unmatched, not isolated
            box(0, 100),  # shares an edge with the first: touches, not isolated
            box(3000, 3000),  # isolated, counted at 0.5
            box(5000, 5000),  # isolated, below 0.5
        ],
        crs=UTM,
    )
    return pred, truth


def test_isolated_predictions_per_100_km2() -> None:
    pred, truth = scene()
    result = evaluate_polygons(pred, truth, area=4.0)
    assert (result.tp, result.fp) == (1, 3)
    assert result.n_isolated == 1
    assert result.area_km2 == 4.0
    assert result.fp_per_100km2 == pytest.approx(25.0)
    low = evaluate_polygons(pred, truth, area=4.0, score_threshold=0.2)
    assert low.n_isolated == 2
    assert low.fp_per_100km2 == pytest.approx(50.0)


def test_without_an_area_the_rate_is_unknown_but_the_count_is_kept() -> None:
    pred, truth = scene()
    result = evaluate_polygons(pred, truth)
    assert (result.n_isolated, result.area_km2, result.fp_per_100km2) == (1, None, None)
    assert 'FP / 100 km²' not in result.to_table()  # the rate needs the area


def test_a_footprint_counts_overlapping_scenes_once() -> None:
    # two 2 x 1 km scenes overlapping by 1 km²: 3 km² of ground
    scenes = gpd.GeoDataFrame(
        geometry=[
            shapely.box(X0, Y0, X0 + 2000, Y0 + 1000),
            shapely.box(X0 + 1000, Y0, X0 + 3000, Y0 + 1000),
        ],
        crs=UTM,
    )
    assert mapped_km2(scenes) == pytest.approx(3.0, rel=2e-3)
    assert mapped_km2(scenes.to_crs('EPSG:3413')) == pytest.approx(3.0, rel=2e-3)
    with pytest.raises(ValueError, match='area=-1'):
        mapped_km2(-1.0)


def test_files_read_the_coverage_layer_of_a_map(tmp_path: Path) -> None:
    pred, truth = scene()
    gpkg = tmp_path / 'map.gpkg'
    pred.to_file(gpkg, layer='slumps')
    footprint = shapely.box(X0 - 500, Y0 - 500, X0 + 9500, Y0 + 9500)  # 100 km²
    gpd.GeoDataFrame(geometry=[footprint], crs=UTM).to_file(gpkg, layer='coverage')
    truth.to_file(tmp_path / 'truth.gpkg')
    result = evaluate_files(gpkg, tmp_path / 'truth.gpkg')
    assert result.area_km2 == pytest.approx(100.0, rel=2e-3)
    assert result.fp_per_100km2 == pytest.approx(1.0, rel=2e-3)
    assert any("mapped area from its 'coverage' layer" in n for n in result.notes)
    given = evaluate_files(gpkg, tmp_path / 'truth.gpkg', area_km2=50.0)
    assert given.fp_per_100km2 == pytest.approx(2.0)


def test_cli_text_json_and_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pred, truth = scene()
    pred.to_file(tmp_path / 'pred.geojson')
    truth.to_file(tmp_path / 'truth.geojson')
    # 10 km² of UTM, 10.01 km² on the ground (scale factor 0.9996 at the meridian)
    footprint = shapely.box(X0, Y0, X0 + 5000, Y0 + 2000)
    gpd.GeoDataFrame(geometry=[footprint], crs=UTM).to_file(tmp_path / 'cov.geojson')
    argv = ['evaluate', '--pred', str(tmp_path / 'pred.geojson'),
            '--truth', str(tmp_path / 'truth.geojson')]  # fmt: skip
    assert main([*argv, '--coverage', str(tmp_path / 'cov.geojson')]) == 0
    out = capsys.readouterr().out
    assert 'FP / 100 km²   9.99 (1 at score >= 0.5 touching no reference' in out
    assert main([*argv, '--area-km2', '4', '--score-threshold', '0.2', '--json']) == 0
    row = json.loads(capsys.readouterr().out)
    assert (row['n_isolated'], row['area_km2'], row['fp_per_100km2']) == (2, 4, 50)
    assert main([*argv, '--area-km2', '0']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        'rtsgeo evaluate: error: --area-km2 0.0 is not an area: '
        'give a number of km² > 0'
    ]
