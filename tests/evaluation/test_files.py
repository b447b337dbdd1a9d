"""Reading prediction and truth files: formats, layers, filters and CRSs."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from rtsgeo.errors import CRSMismatchError, InvalidPolygonsError
from rtsgeo.evaluation import evaluate_files, evaluate_polygons

#: A place on Banks Island in EPSG:3413 (metres).
ORIGIN = (-1_250_000.0, -700_000.0)


def scene(seed: int = 0) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """30 truth slumps 40-120 m across and jittered predictions, in EPSG:3413."""
    rng = np.random.default_rng(seed)
    centres = np.array(ORIGIN) + np.stack(
        np.meshgrid(np.arange(6) * 400.0, np.arange(5) * 400.0), -1
    ).reshape(-1, 2)
    radii = rng.uniform(20, 60, len(centres))
    truth = shapely.buffer(shapely.points(centres), radii)
    moved = centres + rng.normal(0, 0.3, centres.shape) * radii[:, None]
    pred = shapely.buffer(shapely.points(moved), radii * rng.uniform(0.8, 1.2, 30))
    scores = rng.uniform(0.1, 1.0, 30)
    return (
        gpd.GeoDataFrame(
            {'score': scores, 'region': ['a'] * 15 + ['b'] * 15},
            geometry=pred,
            crs='EPSG:3413',
        ),
        gpd.GeoDataFrame(
            {'region': ['a'] * 15 + ['b'] * 15}, geometry=truth, crs='EPSG:3413'
        ),
    )


def figures(result: object) -> tuple:
    return tuple(
        getattr(result, k)
        for k in ('ap50', 'ap75', 'ap', 'precision', 'recall', 'f1', 'tp', 'fp', 'fn')
    )


def test_truth_in_4326_gives_the_same_result_as_in_3413(tmp_path: Path) -> None:
    pred, truth = scene()
    pred.to_file(tmp_path / 'pred.gpkg', layer='slumps')
    truth.to_file(tmp_path / 'truth_3413.gpkg')
    truth.to_crs('EPSG:4326').to_file(tmp_path / 'truth_4326.geojson')
    same = evaluate_files(tmp_path / 'pred.gpkg', tmp_path / 'truth_3413.gpkg')
    moved = evaluate_files(tmp_path / 'pred.gpkg', tmp_path / 'truth_4326.geojson')
    assert 0 < same.tp < 30 and 0 < same.ap50 < 1  # type: ignore[operator]
    assert figures(moved) == pytest.approx(figures(same), abs=1e-6)
    assert moved.crs == same.crs == 'EPSG:3413'


def test_geographic_predictions_are_scored_in_an_equal_area_crs() -> None:
    pred, truth = scene()
    result = evaluate_polygons(pred.to_crs('EPSG:4326'), truth)
    assert result.crs == 'EPSG:6931'
    assert any('geographic' in note for note in result.notes)
    assert figures(result) == pytest.approx(figures(evaluate_polygons(pred, truth)))


def test_a_missing_crs_is_taken_from_the_other_side() -> None:
    pred, truth = scene()
    result = evaluate_polygons(pred, truth.set_crs(None, allow_override=True))
    assert figures(result) == figures(evaluate_polygons(pred, truth))
    assert result.notes == ('truth has no CRS: assumed EPSG:3413',)


def test_both_without_crs_is_refused() -> None:
    pred, truth = scene()
    pred = pred.set_crs(None, allow_override=True)
    with pytest.raises(CRSMismatchError, match='neither the predictions nor the truth'):
        evaluate_polygons(pred, truth.set_crs(None, allow_override=True))


@pytest.mark.parametrize('suffix', ['.gpkg', '.geojson', '.shp', '.parquet'])
def test_formats_and_where(tmp_path: Path, suffix: str) -> None:
    pred, truth = scene(1)
    path = tmp_path / f'pred{suffix}'
    if suffix == '.parquet':
        pytest.importorskip('pyarrow', reason='GeoParquet needs pyarrow')
        pred.to_parquet(path)
    else:
        pred.to_file(path)
    truth.to_file(tmp_path / 'truth.gpkg')
    full = evaluate_files(path, tmp_path / 'truth.gpkg')
    assert figures(full) == pytest.approx(figures(evaluate_polygons(pred, truth)))
    half = evaluate_files(
        path, tmp_path / 'truth.gpkg', where="region = 'a'", truth_where="region = 'a'"
    )
    expected = evaluate_polygons(pred[pred.region == 'a'], truth[truth.region == 'a'])
    assert (half.n_pred, half.n_truth) == (15, 15)
    assert figures(half) == pytest.approx(figures(expected))


def test_multi_layer_gpkg_defaults_to_slumps(tmp_path: Path) -> None:
    pred, truth = scene(2)
    path = tmp_path / 'pred.gpkg'
    pred.iloc[:3].to_file(path, layer='coverage')
    pred.to_file(path, layer='slumps')
    truth.to_file(tmp_path / 'truth.gpkg')
    assert evaluate_files(path, tmp_path / 'truth.gpkg').n_pred == 30
    other = evaluate_files(path, tmp_path / 'truth.gpkg', layer='coverage')
    assert other.n_pred == 3


def test_invalid_and_empty_geometries_are_repaired_or_ignored(tmp_path: Path) -> None:
    pred, truth = scene(3)
    bowtie = shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    extra = gpd.GeoDataFrame(
        {'score': [0.9, 0.9], 'region': ['c', 'c']},
        geometry=[bowtie, shapely.Polygon()],
        crs='EPSG:3413',
    )
    result = evaluate_polygons(pred, truth)
    pred_path = tmp_path / 'pred.gpkg'
    gpd.pd.concat([pred, extra]).to_file(pred_path)
    truth.to_file(tmp_path / 'truth.gpkg')
    read = evaluate_files(pred_path, tmp_path / 'truth.gpkg')
    assert read.n_pred == 31 and read.fp == result.fp + 1
    assert any('1 invalid polygons repaired' in note for note in read.notes)
    assert any('1 empty geometries ignored' in note for note in read.notes)


def test_non_polygons_are_refused(tmp_path: Path) -> None:
    pred, truth = scene()
    pred.geometry = pred.centroid
    pred.to_file(tmp_path / 'pred.gpkg')
    truth.to_file(tmp_path / 'truth.gpkg')
    with pytest.raises(InvalidPolygonsError, match=r"has \['Point'\] geometries"):
        evaluate_files(tmp_path / 'pred.gpkg', tmp_path / 'truth.gpkg')


def test_in_memory_inputs_are_checked_and_repaired() -> None:
    pred, truth = scene()
    with pytest.raises(InvalidPolygonsError, match="no 'confidence' column"):
        evaluate_polygons(pred, truth, score_column='confidence')
    bowtie = shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    truth = gpd.GeoSeries([bowtie], crs='EPSG:3413')
    pred = gpd.GeoDataFrame({'score': [1.0]}, geometry=[bowtie], crs='EPSG:3413')
    result = evaluate_polygons(pred, truth)
    assert result.tp == 1
    assert result.notes == (
        'predictions: 1 invalid polygons repaired',
        'truth: 1 invalid polygons repaired',
    )


def test_a_file_that_is_not_vectors(tmp_path: Path) -> None:
    from rtsgeo.errors import CorruptLabelsError

    (tmp_path / 'pred.gpkg').write_text('not a geopackage')
    with pytest.raises(
        CorruptLabelsError, match=r'cannot read .*pred\.gpkg as a vector'
    ):
        evaluate_files(tmp_path / 'pred.gpkg', tmp_path / 'pred.gpkg')
