"""Hand-computed polygon IoU, greedy matching, AP and P/R/F1."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from rtsgeo.evaluation import (
    average_precision,
    evaluate_polygons,
    match_greedy,
    polygon_ious,
)

CRS = 'EPSG:3413'


def three_truth_four_preds() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """3 truth squares; 4 predictions with IoUs 1, 0.62, 0.82 (a duplicate), 0.72.

    The prediction of IoU 0.72 has score 0.4: below the default score threshold.
    """
    truth = [shapely.box(x, 0, x + 10, 10) for x in (0, 20, 40)]
    pred = [
        shapely.box(0, 0, 10, 10),  # truth 0, IoU 1
        shapely.box(20, 0, 30, 6.2),  # truth 1, IoU 0.62
        shapely.box(0, 0, 10, 8.2),  # truth 0 again, IoU 0.82
        shapely.box(40, 0, 50, 7.2),  # truth 2, IoU 0.72
    ]
    scores = [0.9, 0.8, 0.7, 0.4]
    return (
        gpd.GeoDataFrame({'score': scores}, geometry=pred, crs=CRS),
        gpd.GeoDataFrame(geometry=truth, crs=CRS),
    )


def test_polygon_ious_are_exact_and_sparse() -> None:
    pred, truth = three_truth_four_preds()
    pi, ti, iou = polygon_ious(pred.geometry.values, truth.geometry.values)
    assert pi.tolist() == [0, 1, 2, 3]
    assert ti.tolist() == [0, 1, 0, 2]
    np.testing.assert_allclose(iou, [1.0, 0.62, 0.82, 0.72], atol=1e-12)


def test_greedy_matching_gives_the_truth_to_the_higher_score() -> None:
    pred, truth = three_truth_four_preds()
    pairs = polygon_ious(pred.geometry.values, truth.geometry.values)
    order, matched = match_greedy(pred['score'].to_numpy(), 3, pairs, 0.5)
    assert order.tolist() == [0, 1, 2, 3]
    assert matched.tolist() == [0, 1, -1, 2]
    _, matched = match_greedy(pred['score'].to_numpy(), 3, pairs, 0.7)
    assert matched.tolist() == [0, -1, -1, 2]


def test_hand_computed_ap_and_prf() -> None:
    pred, truth = three_truth_four_preds()
    result = evaluate_polygons(pred, truth)
    # IoU 0.5: TP TP FP TP -> precision envelope 1 up to recall 2/3 (67 of the
    # 101 recall points), then 3/4 (34 points).
    assert result.ap50 == pytest.approx((67 + 34 * 0.75) / 101, abs=1e-12)
    # IoU 0.75: only the exact copy matches -> precision 1 up to recall 1/3.
    assert result.ap75 == pytest.approx(34 / 101, abs=1e-12)
    # 0.5-0.6: 92.5/101; 0.65-0.7: TP FP FP TP -> 1 to 1/3, 1/2 to 2/3: 50.5/101;
    # 0.75-0.95: 34/101.
    expected_ap = (3 * 92.5 + 2 * 50.5 + 5 * 34) / 101 / 10
    assert result.ap == pytest.approx(expected_ap, abs=1e-12)
    # Score >= 0.5 keeps the first three: TP TP FP; truth 2 is missed.
    assert (result.tp, result.fp, result.fn) == (2, 1, 1)
    assert result.precision == pytest.approx(2 / 3)
    assert result.recall == pytest.approx(2 / 3)
    assert result.f1 == pytest.approx(2 / 3)
    assert (result.n_pred, result.n_truth) == (4, 3)


def test_thresholds_change_prf() -> None:
    pred, truth = three_truth_four_preds()
    result = evaluate_polygons(pred, truth, iou_threshold=0.7, score_threshold=0.0)
    # IoU 0.7, all scores: TP FP FP TP.
    assert (result.tp, result.fp, result.fn) == (2, 2, 1)
    assert result.precision == pytest.approx(0.5)
    assert result.f1 == pytest.approx(2 * 2 / (2 * 2 + 2 + 1))
    assert result.ap50 == evaluate_polygons(pred, truth).ap50


def test_iou_equal_to_threshold_matches() -> None:
    truth = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 10, 10)], crs=CRS)
    pred = gpd.GeoDataFrame(
        {'score': [1.0]}, geometry=[shapely.box(0, 0, 10, 5)], crs=CRS
    )
    assert evaluate_polygons(pred, truth).tp == 1  # IoU exactly 0.5
    assert evaluate_polygons(pred, truth, iou_threshold=0.51).tp == 0


def test_no_predictions() -> None:
    _, truth = three_truth_four_preds()
    pred = gpd.GeoDataFrame({'score': []}, geometry=[], crs=CRS)
    result = evaluate_polygons(pred, truth)
    assert (result.ap50, result.ap, result.recall, result.f1) == (0.0, 0.0, 0.0, 0.0)
    assert result.precision is None
    assert (result.tp, result.fp, result.fn) == (0, 0, 3)


def test_no_truth() -> None:
    pred, _ = three_truth_four_preds()
    truth = gpd.GeoDataFrame(geometry=[], crs=CRS)
    result = evaluate_polygons(pred, truth)
    assert result.ap50 is None and result.ap is None and result.recall is None
    assert (result.precision, result.f1) == (0.0, 0.0)
    assert (result.tp, result.fp, result.fn) == (0, 3, 0)
    assert result.to_dict()['ap50'] is None
    assert 'n/a (no truth)' in result.to_table()


def test_average_precision_edge_cases() -> None:
    assert average_precision(np.array([], bool), 0) is None
    assert average_precision(np.array([], bool), 2) == 0.0
    assert average_precision(np.array([True, True]), 2) == pytest.approx(1.0)
    # FP first: precision 1/2 at recall 1 everywhere.
    assert average_precision(np.array([False, True]), 1) == pytest.approx(0.5)


def test_multipolygon_is_one_object() -> None:
    parts = shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(5, 0, 6, 1)])
    truth = gpd.GeoDataFrame(geometry=[parts], crs=CRS)
    pred = gpd.GeoDataFrame(
        {'score': [0.9]}, geometry=[shapely.box(0, 0, 1, 1)], crs=CRS
    )
    pairs = polygon_ious(pred.geometry.values, truth.geometry.values)
    assert pairs[2].tolist() == [0.5]
    assert evaluate_polygons(pred, truth).tp == 1


def test_many_polygons_stay_fast() -> None:
    import time

    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100_000, size=(12_000, 2))
    truth = shapely.buffer(shapely.points(xy), 30.0, quad_segs=4)
    moved = xy + rng.normal(0, 10, xy.shape)
    pred = shapely.buffer(shapely.points(moved), 30.0, quad_segs=4)
    frame = gpd.GeoDataFrame({'score': rng.uniform(size=len(xy))}, geometry=pred)
    start = time.perf_counter()
    result = evaluate_polygons(
        frame.set_crs(CRS), gpd.GeoSeries(truth, crs=CRS), score_threshold=0.0
    )
    assert time.perf_counter() - start < 20
    own = shapely.area(shapely.intersection(pred, truth)) / shapely.area(
        shapely.union(pred, truth)
    )
    # Circles about 900 m apart only ever match their own copy.
    assert result.recall == pytest.approx(np.mean(own >= 0.5), abs=2e-3)
