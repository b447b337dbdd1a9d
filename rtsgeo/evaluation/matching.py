"""Exact polygon IoU, COCO-style greedy matching and 101-point AP.

The building blocks of :func:`rtsgeo.evaluation.evaluate_polygons`, kept free
of files and CRSs so they can be tested by hand:

* :func:`polygon_ious` finds every (prediction, truth) pair whose polygons
  intersect with an STRtree and computes their IoU exactly, as
  ``area(p & t) / (area(p) + area(t) - area(p & t))`` with shapely; pairs that
  do not intersect have IoU 0 and are never listed, so the cost grows with the
  number of overlapping pairs, not with ``n_pred * n_truth``.
* :func:`match_greedy` is COCO's matching (``COCOeval.evaluateImg``):
  predictions in descending score order (stable), each taking the still
  unmatched truth with the highest IoU, if that IoU is at least the threshold.
* :func:`average_precision` is COCO's 101-point interpolated AP
  (``COCOeval.accumulate``): the precision envelope (precision made
  non-increasing in recall) sampled at recalls 0, 0.01, ..., 1 and averaged,
  with 0 where a recall is never reached.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely

__all__ = [
    'COCO_IOU_THRESHOLDS',
    'COCO_RECALL_THRESHOLDS',
    'PairIoUs',
    'average_precision',
    'match_greedy',
    'polygon_ious',
]

#: IoU thresholds of COCO's AP (0.5, 0.55, ..., 0.95), computed as pycocotools does.
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, round((0.95 - 0.5) / 0.05) + 1)

#: Recall points of COCO's interpolated precision (0, 0.01, ..., 1).
COCO_RECALL_THRESHOLDS = np.linspace(0.0, 1.0, round(1.0 / 0.01) + 1)

#: Sparse IoUs: ``(pred_index, truth_index, iou)`` arrays of the pairs that intersect.
PairIoUs = tuple[np.ndarray, np.ndarray, np.ndarray]


def polygon_ious(
    pred: Sequence[shapely.Geometry] | np.ndarray,
    truth: Sequence[shapely.Geometry] | np.ndarray,
) -> PairIoUs:
    """Exact IoU of every intersecting (prediction, truth) pair.

    Args:
        pred: predicted polygons (Polygon or MultiPolygon), valid, one CRS.
        truth: reference polygons in the same CRS.

    Returns:
        ``(pred_index, truth_index, iou)``: one entry per pair whose
        intersection has a positive area, sorted by prediction then truth.
    """
    pred = np.asarray(pred, dtype=object)
    truth = np.asarray(truth, dtype=object)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, float))
    if len(pred) == 0 or len(truth) == 0:
        return empty
    tree = shapely.STRtree(truth)
    pi, ti = tree.query(pred, predicate='intersects')
    order = np.lexsort((ti, pi))
    pi, ti = pi[order].astype(np.int64), ti[order].astype(np.int64)
    inter = shapely.area(shapely.intersection(pred[pi], truth[ti]))
    union = shapely.area(pred)[pi] + shapely.area(truth)[ti] - inter
    with np.errstate(divide='ignore', invalid='ignore'):
        iou = np.where(union > 0, inter / union, 0.0)
    keep = iou > 0
    return pi[keep], ti[keep], iou[keep]


def match_greedy(
    scores: np.ndarray, n_truth: int, pairs: PairIoUs, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Match predictions to truth greedily by descending score, as COCO does.

    Args:
        scores: ``(n_pred,)`` confidence of each prediction.
        n_truth: number of truth objects.
        pairs: sparse IoUs from :func:`polygon_ious`.
        threshold: smallest IoU of a match (a match needs ``iou >= threshold``).

    Returns:
        ``(order, matched)``: the prediction indices in descending score order
        and, aligned with *order*, the truth index each one matched (-1: none).
    """
    order = np.argsort(-np.asarray(scores, dtype=float), kind='mergesort')
    matched = np.full(len(order), -1, dtype=np.int64)
    candidates = _candidates(len(order), pairs)
    taken = np.zeros(n_truth, dtype=bool)
    limit = min(threshold, 1 - 1e-10)
    for rank, p in enumerate(order):
        for t, iou in candidates[p]:
            if iou < limit:
                break  # candidates are sorted by descending IoU
            if not taken[t]:
                taken[t] = True
                matched[rank] = t
                break
    return order, matched


def _candidates(n_pred: int, pairs: PairIoUs) -> list[list[tuple[int, float]]]:
    """Per prediction, its (truth, IoU) pairs by descending IoU.

    Ties go to the later truth object, as in pycocotools.
    """
    candidates: list[list[tuple[int, float]]] = [[] for _ in range(n_pred)]
    pi, ti, iou = pairs
    for k in np.lexsort((-ti, -iou, pi)):
        candidates[pi[k]].append((int(ti[k]), float(iou[k])))
    return candidates


def average_precision(is_tp: np.ndarray, n_truth: int) -> float | None:
    """COCO's 101-point interpolated average precision.

    Args:
        is_tp: ``(n_pred,)`` booleans in descending score order: True where
            the prediction matched a truth object.
        n_truth: number of truth objects.

    Returns:
        AP in ``[0, 1]``, or None when there is no truth (undefined; COCO
        reports -1 and leaves it out of its averages).
    """
    if n_truth == 0:
        return None
    is_tp = np.asarray(is_tp, dtype=bool)
    if is_tp.size == 0:
        return 0.0
    tp = np.cumsum(is_tp, dtype=float)
    fp = np.cumsum(~is_tp, dtype=float)
    recall = tp / n_truth
    precision = tp / (tp + fp + np.spacing(1))
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    index = np.searchsorted(recall, COCO_RECALL_THRESHOLDS, side='left')
    sampled = np.where(
        index < len(envelope), envelope[np.minimum(index, len(envelope) - 1)], 0.0
    )
    return float(sampled.mean())
