"""Evaluate a prediction file against a truth file, whatever their formats."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..errors import EmptyLabelsError
from .coco import evaluate_coco, is_coco_results
from .polygons import evaluate_polygons
from .readers import read_polygons
from .result import EvaluationResult

__all__ = ['evaluate_files']


def evaluate_files(
    pred: str | Path,
    truth: str | Path,
    *,
    iou_threshold: float = 0.5,
    score_threshold: float = 0.5,
    layer: str | None = None,
    truth_layer: str | None = None,
    where: str | None = None,
    truth_where: str | None = None,
    score_column: str = 'score',
    unobserved: str | Path | None = None,
) -> EvaluationResult:
    """Evaluate predictions in a file against reference objects in another.

    A ``.json`` *pred* whose content is a list is a COCO results file: *truth*
    is then a COCO instances JSON and :func:`~rtsgeo.evaluation.evaluate_coco`
    scores masks with pycocotools. Any other *pred* is a vector file of
    polygons with a score column, scored against the polygons of *truth* by
    :func:`~rtsgeo.evaluation.evaluate_polygons` (exact polygon IoU).

    Args:
        pred: predictions (vector file or COCO results JSON).
        truth: reference polygons (any CRS) or COCO instances JSON.
        iou_threshold: IoU of a match for precision / recall / F1.
        score_threshold: smallest score counted in precision / recall / F1.
        layer: layer of *pred* (default: its only layer, else ``slumps``).
        truth_layer: layer of *truth* (same default).
        where: SQL clause keeping rows of *pred*.
        truth_where: SQL clause keeping rows of *truth*.
        score_column: the column of *pred* holding the confidence.
        unobserved: a vector file of the ground the scenes did not see
            (cloud, shadow, snow; any CRS): cut out of predictions and truth
            before scoring (see :mod:`rtsgeo.evaluation.observed`).

    Returns:
        The figures, naming both files.

    Raises:
        DataNotFoundError: If a file does not exist.
        EmptyLabelsError: If neither file has a polygon.
        RTSGeoError: The other errors of the readers (see
            :func:`~rtsgeo.evaluation.read_polygons`).
    """
    if is_coco_results(pred):
        return evaluate_coco(
            pred, truth, iou_threshold=iou_threshold, score_threshold=score_threshold
        )
    pred_frame = read_polygons(
        pred, layer=layer, where=where, score_column=score_column, option='--layer'
    )
    truth_frame = read_polygons(
        truth, layer=truth_layer, where=truth_where, option='--truth-layer'
    )
    hidden = None if unobserved is None else read_polygons(unobserved)
    result = evaluate_polygons(
        pred_frame,
        truth_frame,
        iou_threshold=iou_threshold,
        score_threshold=score_threshold,
        score_column=score_column,
        unobserved=hidden,
    )
    if result.n_pred == 0 and result.n_truth == 0:
        msg = (
            f'neither {pred} nor {truth} has a polygon (after any --where): '
            'nothing to evaluate; check the layers and filters'
        )
        raise EmptyLabelsError(msg)
    names = {'predictions:': f'{pred}:', 'truth:': f'{truth}:'}
    notes = tuple(
        names[note.split(' ', 1)[0]] + ' ' + note.split(' ', 1)[1]
        if note.split(' ', 1)[0] in names
        else note
        for note in result.notes
    )
    return dataclasses.replace(result, pred=str(pred), truth=str(truth), notes=notes)
