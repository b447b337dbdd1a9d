"""Scene-level evaluation of predicted polygons against reference polygons.

What :func:`evaluate_polygons` computes, exactly:

0. **Observed ground only.** Given an ``unobserved`` area (cloud, shadow,
   snow), it is cut out of the predictions, the reference polygons and the
   mapped-area polygons first (see :mod:`rtsgeo.evaluation.observed`):
   polygons wholly inside it do not count, those partly inside are scored
   on their observed part. Given the ``observed`` ground instead (the
   ``coverage`` layer), both sides are cut to it in the same way.
1. **One CRS.** The reference polygons are reprojected to the predictions'
   CRS. If that CRS is geographic (degrees), both are reprojected to a
   Lambert azimuthal equal-area projection: EPSG:6931 (EASE-Grid 2.0 North)
   when every polygon lies north of 45°N, EPSG:6932 (South) when every one lies
   south of 45°S, else one centred on the polygons. An equal-area projection
   keeps area ratios, so the IoUs are those on the ellipsoid. In a projected
   CRS that is not equal-area (UTM, EPSG:3413) the scale factor is constant
   to about 1e-5 across a slump, so its IoUs agree with the equal-area ones
   to that order.
2. **Exact IoU.** For every prediction/truth pair that intersects (found with
   an STRtree), ``IoU = area(p ∩ t) / area(p ∪ t)`` with shapely; no raster.
   A MultiPolygon is one object; invalid polygons are repaired
   (``make_valid``), empty ones ignored.
3. **COCO matching.** Per IoU threshold, predictions in descending score
   order each take the unmatched truth polygon of highest IoU >= threshold.
   All polygons form one image (polygons of different scenes only match where
   they overlap on the ground); no area ranges, no limit on detections
   (pycocotools keeps 100 per image).
4. **AP.** COCO's 101-point interpolated precision averaged over recalls
   0, 0.01, ..., 1: AP50 at IoU 0.5, AP75 at 0.75, AP over 0.5:0.05:0.95.
5. **Precision / recall / F1** at the IoU threshold (default 0.5) counting the
   predictions whose score is at least the score threshold (default 0.5):
   ``P = TP / (TP + FP)``, ``R = TP / n_truth``, ``F1 = 2TP / (2TP + FP + FN)``.
6. **False positives per 100 km².** The predictions at or above the score
   threshold that touch no truth polygon at all (not even at a boundary) are
   counted, and divided by the mapped area: ``100 * n_isolated / km²``. The
   area is a number of km² or the footprint of the mapped ground (the
   ``coverage`` layer of ``rtsgeo map``), whose union is measured in an
   equal-area projection (as in 1), so overlapping scenes count once. An
   unmatched prediction that overlaps a slump (a poor outline) is a false
   positive of precision but not of this rate: the rate counts objects on
   ground where there is no slump, which is what piles up over a campaign.
7. **Confidence.** When the predictions carry the ``confidence`` tier and
   calibrated ``probability`` of a calibrated model (see
   :mod:`rtsgeo.evaluation.calibration`), the precision of each tier (all of
   its predictions, whatever their score, matched at the IoU threshold) and
   the expected calibration error of ``probability`` against that match.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from ..errors import CRSMismatchError, InvalidPolygonsError
from .calibration import CONFIDENCE_TIERS, expected_calibration_error
from .matching import COCO_IOU_THRESHOLDS, average_precision, match_greedy, polygon_ious
from .observed import keep_observed, remove_unobserved
from .readers import clean_polygons
from .result import EvaluationResult, detection_counts

__all__ = ['equal_area_crs', 'evaluate_polygons', 'mapped_km2', 'polygon_outcomes']


def evaluate_polygons(
    pred: gpd.GeoDataFrame,
    truth: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    iou_threshold: float = 0.5,
    score_threshold: float = 0.5,
    score_column: str = 'score',
    area: float | gpd.GeoSeries | gpd.GeoDataFrame | None = None,
    unobserved: Any = None,
    observed: Any = None,
) -> EvaluationResult:
    """AP50, AP and polygon precision / recall / F1 of predicted polygons.

    Args:
        pred: predicted polygons with a *score_column*.
        truth: reference polygons, in any CRS.
        iou_threshold: IoU of a match for precision / recall / F1.
        score_threshold: smallest score counted in precision / recall / F1.
        score_column: the predictions' confidence column.
        area: the mapped area, in km² or as footprint polygons with a CRS,
            for false positives per 100 km²; None leaves that rate out.
        unobserved: ground the scenes did not see (GeoDataFrame or GeoSeries
            in any CRS, or a shapely geometry in the predictions' CRS): cut
            out of both sides before scoring, and out of *area* when that is
            polygons; None: all ground counts.
        observed: the ground the scenes saw, such as the ``coverage`` layer
            of ``rtsgeo map`` (same forms as *unobserved*): both sides are
            cut to it before scoring; None: all ground counts.

    Returns:
        The figures (see the module docstring for their definitions).

    Raises:
        CRSMismatchError: If neither input has a CRS.
        InvalidPolygonsError: If *pred* has no *score_column* or either input
            has geometries other than polygons.
        ValueError: If a threshold is outside ``[0, 1]`` or *area* is
            negative.
    """
    if not (0 <= iou_threshold <= 1 and 0 <= score_threshold <= 1):
        msg = (
            f'iou_threshold={iou_threshold} and score_threshold={score_threshold} '
            'must both be in [0, 1]'
        )
        raise ValueError(msg)
    pred, pred_geoms, truth_geoms, crs, notes = _prepare(
        pred, truth, score_column, unobserved, observed
    )
    scores = np.asarray(pred[score_column], dtype=float)
    pairs = polygon_ious(pred_geoms, truth_geoms)
    n_truth = len(truth_geoms)
    ap_at: dict[float, float | None] = {}
    for threshold in [*COCO_IOU_THRESHOLDS, iou_threshold]:
        order, matched = match_greedy(scores, n_truth, pairs, threshold)
        ap_at[float(threshold)] = average_precision(matched >= 0, n_truth)
    kept = scores[order] >= score_threshold
    tp = int((matched[kept] >= 0).sum())
    precision, recall, f1 = detection_counts(tp, int(kept.sum()), n_truth)
    per_threshold = [ap_at[float(t)] for t in COCO_IOU_THRESHOLDS]
    above = scores >= score_threshold
    n_isolated = int((~_touches(pred_geoms[above], truth_geoms)).sum())
    if unobserved is not None and isinstance(area, gpd.GeoSeries | gpd.GeoDataFrame):
        area, _ = remove_unobserved(
            gpd.GeoDataFrame(geometry=area.geometry), unobserved
        )
    area_km2 = mapped_km2(area)
    rate = 100 * n_isolated / area_km2 if area_km2 else None
    return EvaluationResult(
        ap50=per_threshold[0],
        ap75=per_threshold[5],
        ap=None if n_truth == 0 else float(np.mean([a or 0.0 for a in per_threshold])),
        precision=precision,
        recall=recall,
        f1=f1,
        tp=tp,
        fp=int(kept.sum()) - tp,
        fn=n_truth - tp,
        n_pred=len(pred_geoms),
        n_truth=n_truth,
        iou_threshold=iou_threshold,
        score_threshold=score_threshold,
        n_isolated=n_isolated,
        area_km2=area_km2,
        fp_per_100km2=rate,
        crs=crs.to_string(),
        notes=tuple(notes),
        **_confidence_figures(pred, _by_prediction(order, matched >= 0)),
    )


def _confidence_figures(pred: gpd.GeoDataFrame, matched: np.ndarray) -> dict[str, Any]:
    """Precision per ``confidence`` tier and the ECE of ``probability``.

    Both only where the predictions carry those columns (a map made with a
    calibrated model) with at least one value.
    """
    out: dict[str, Any] = {}
    if 'confidence' in pred.columns and pred['confidence'].notna().any():
        tiers = pred['confidence'].to_numpy(dtype=object)
        out['tiers'] = {
            tier: _tier_row(matched[tiers == tier]) for tier in CONFIDENCE_TIERS
        }
    if 'probability' in pred.columns:
        p = pd.to_numeric(pred['probability'], errors='coerce').to_numpy(dtype=float)
        known = np.isfinite(p)
        if known.any():
            out['ece'] = expected_calibration_error(p[known], matched[known])
    return out


def _tier_row(matched: np.ndarray) -> dict[str, Any]:
    n, tp = len(matched), int(matched.sum())
    return {'n': n, 'tp': tp, 'precision': tp / n if n else None}


def polygon_outcomes(
    pred: gpd.GeoDataFrame,
    truth: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    iou_threshold: float = 0.5,
    score_column: str = 'score',
    unobserved: Any = None,
    observed: Any = None,
) -> gpd.GeoDataFrame:
    """Each prediction with what it is: matched, touching a slump, or neither.

    The inputs are read as by :func:`evaluate_polygons` (steps 0-3 of the
    module docstring); what calibration fits on.

    Args:
        pred: predicted polygons with a *score_column*.
        truth: reference polygons, in any CRS.
        iou_threshold: IoU of a match.
        score_column: the predictions' confidence column.
        unobserved: as for :func:`evaluate_polygons`.
        observed: as for :func:`evaluate_polygons`.

    Returns:
        The cleaned predictions (empty ones dropped, unobserved parts cut)
        with boolean columns ``matched`` (COCO greedy match at
        *iou_threshold*) and ``touches`` (intersects a reference polygon).

    Raises:
        CRSMismatchError: If neither input has a CRS.
        InvalidPolygonsError: If *pred* has no *score_column* or either input
            has geometries other than polygons.
    """
    pred, pred_geoms, truth_geoms, _, _ = _prepare(
        pred, truth, score_column, unobserved, observed
    )
    scores = np.asarray(pred[score_column], dtype=float)
    pairs = polygon_ious(pred_geoms, truth_geoms)
    order, matched = match_greedy(scores, len(truth_geoms), pairs, iou_threshold)
    out = pred.copy()
    out['matched'] = _by_prediction(order, matched >= 0)
    out['touches'] = _touches(pred_geoms, truth_geoms)
    return out


def _by_prediction(order: np.ndarray, ranked: np.ndarray) -> np.ndarray:
    """Flags given in score order (``match_greedy``), back in prediction order."""
    flags = np.zeros(len(order), dtype=bool)
    flags[order] = ranked
    return flags


def _prepare(
    pred: gpd.GeoDataFrame,
    truth: gpd.GeoDataFrame | gpd.GeoSeries,
    score_column: str,
    unobserved: Any,
    observed: Any,
) -> tuple[gpd.GeoDataFrame, np.ndarray, np.ndarray, CRS, list[str]]:
    """Steps 0-1 of the module docstring: clean, cut to observed ground, one CRS.

    Returns:
        The cleaned predictions, their geometries and the truth geometries
        in one CRS, that CRS, and notes on what was done.

    Raises:
        InvalidPolygonsError: If *pred* has no *score_column*.
    """
    if score_column not in pred.columns:
        msg = f'the predictions have no {score_column!r} column: add their scores'
        raise InvalidPolygonsError(msg)
    pred, notes = clean_polygons(pred, 'predictions')
    truth_frame, truth_notes = clean_polygons(
        gpd.GeoDataFrame(geometry=truth.geometry), 'truth'
    )
    if unobserved is not None:
        pred, pred_out = remove_unobserved(pred, unobserved)
        truth_frame, truth_out = remove_unobserved(truth_frame, unobserved)
        notes.append(
            f'unobserved area left out: {pred_out} prediction(s) and {truth_out} '
            'truth polygon(s) wholly inside it, the others cut to their observed part'
        )
    if observed is not None:
        pred, pred_out = keep_observed(pred, observed)
        truth_frame, truth_out = keep_observed(truth_frame, observed)
        notes.append(
            f'observed ground only: {pred_out} prediction(s) and {truth_out} truth '
            'polygon(s) wholly off it left out, the others cut to it'
        )
    truth_geoms, pred_geoms, crs, crs_notes = _common_crs(
        pred.geometry, truth_frame.geometry
    )
    notes += truth_notes + crs_notes
    return pred, pred_geoms, truth_geoms, crs, notes


def _touches(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Which of *pred* intersect (or touch) at least one of *truth*."""
    flags = np.zeros(len(pred), dtype=bool)
    if len(pred) and len(truth):
        hits = shapely.STRtree(truth).query(pred, predicate='intersects')
        flags[hits[0]] = True
    return flags


def mapped_km2(area: float | gpd.GeoSeries | gpd.GeoDataFrame | None) -> float | None:
    """The mapped area in km²: *area* itself, or its polygons' union measured.

    Args:
        area: km², or footprint polygons with a CRS (overlaps count once), or
            None.

    Returns:
        km², or None for None.

    Raises:
        ValueError: If *area* is a negative number.
        CRSMismatchError: If the footprint polygons have no CRS.
    """
    if area is None:
        return None
    if isinstance(area, int | float):
        if area < 0 or math.isnan(area):
            msg = f'area={area} km²: give the mapped area as a number >= 0'
            raise ValueError(msg)
        return float(area)
    footprint = gpd.GeoSeries(area.geometry)
    if footprint.crs is None:
        msg = 'the mapped-area polygons have no CRS: set one to measure their area'
        raise CRSMismatchError(msg)
    footprint = footprint[~(footprint.is_empty | footprint.isna())]
    if footprint.empty:
        return 0.0
    crs = equal_area_crs(footprint)
    union = shapely.union_all(shapely.make_valid(_values(footprint.to_crs(crs))))
    return float(union.area) / 1e6


def _common_crs(
    pred: gpd.GeoSeries, truth: gpd.GeoSeries
) -> tuple[np.ndarray, np.ndarray, CRS, list[str]]:
    """Truth and prediction geometries in one projected CRS, and notes."""
    notes = []
    if pred.crs is None and truth.crs is None:
        msg = (
            'neither the predictions nor the truth polygons have a CRS: set one '
            "(ogr2ogr -a_srs EPSG:... or GeoDataFrame.set_crs('EPSG:...'))"
        )
        raise CRSMismatchError(msg)
    if pred.crs is None:
        notes.append(f'predictions have no CRS: assumed {truth.crs.to_string()}')
        pred = pred.set_crs(truth.crs)
    elif truth.crs is None:
        notes.append(f'truth has no CRS: assumed {pred.crs.to_string()}')
        truth = truth.set_crs(pred.crs)
    truth = truth.to_crs(pred.crs)
    crs = CRS.from_user_input(pred.crs)
    if crs.is_geographic:
        crs = equal_area_crs(pred, truth)
        notes.append(f'predictions are geographic: IoU computed in {crs.to_string()}')
        pred, truth = pred.to_crs(crs), truth.to_crs(crs)
    return _values(truth), _values(pred), crs, notes


def _values(series: gpd.GeoSeries) -> np.ndarray:
    return np.asarray(series.array, dtype=object)


def equal_area_crs(*series: gpd.GeoSeries) -> CRS:
    """A Lambert azimuthal equal-area CRS suited to the extent of *series*.

    Args:
        series: polygons in any CRS (not all empty).

    Returns:
        EPSG:6931 when all lie north of 45°N, EPSG:6932 when all lie south of
        45°S, else a projection centred on their common bounding box.
    """
    lonlat = [s.to_crs('EPSG:4326') for s in series if len(s)]
    if not lonlat:
        return CRS.from_epsg(6931)
    bounds = np.array([s.total_bounds for s in lonlat])
    west, south = bounds[:, :2].min(axis=0)
    east, north = bounds[:, 2:].max(axis=0)
    if south >= 45:
        return CRS.from_epsg(6931)
    if north <= -45:
        return CRS.from_epsg(6932)
    lat, lon = (south + north) / 2, (west + east) / 2
    return CRS.from_proj4(f'+proj=laea +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m')
