"""Evaluate a prediction file against a truth file, whatever their formats."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import geopandas as gpd
import pyogrio

from ..errors import ConfigError, EmptyLabelsError
from .coco import evaluate_coco, is_coco_results
from .polygons import evaluate_polygons
from .readers import read_polygons
from .result import EvaluationResult

__all__ = ['COVERAGE_LAYER', 'evaluate_files']

#: The layer of the mapped ground in the predictor's GeoPackage.
COVERAGE_LAYER = 'coverage'


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
    coverage: str | Path | None = None,
    area_km2: float | None = None,
    unobserved: str | Path | None = None,
    observed_only: bool = False,
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
        coverage: a vector file of the mapped ground (its only layer, else
            ``coverage``), for false positives per 100 km²; default the
            ``coverage`` layer of *pred* when it has one (what ``rtsgeo map``
            writes; for a ``NAME.slumps.parquet`` export, the
            ``NAME.coverage.parquet`` beside it), read with *where* too.
        area_km2: the mapped area in km², instead of *coverage*.
        unobserved: a vector file of the ground the scenes did not see
            (cloud, shadow, snow; any CRS): cut out of predictions and truth
            before scoring (see :mod:`rtsgeo.evaluation.observed`).
        observed_only: score on the mapped ground only: predictions and
            truth are cut to the polygons of the mapped area (*coverage*, or
            the ``coverage`` layer of *pred*, which holds the observed ground
            when ``rtsgeo map`` ran with a quality mask).

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
    area, area_notes = _mapped_area(pred, coverage, area_km2, where)
    hidden = None if unobserved is None else read_polygons(unobserved)
    if observed_only and not isinstance(area, gpd.GeoDataFrame):
        msg = (
            f'--observed-only needs the mapped ground as polygons and {pred} has '
            'no coverage layer: give --coverage FILE'
        )
        raise ConfigError(msg)
    result = evaluate_polygons(
        pred_frame,
        truth_frame,
        iou_threshold=iou_threshold,
        score_threshold=score_threshold,
        score_column=score_column,
        area=area,
        unobserved=hidden,
        observed=area if observed_only else None,
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
        for note in (*result.notes, *area_notes)
    )
    return dataclasses.replace(result, pred=str(pred), truth=str(truth), notes=notes)


def _mapped_area(
    pred: str | Path,
    coverage: str | Path | None,
    area_km2: float | None,
    where: str | None,
) -> tuple[float | gpd.GeoDataFrame | None, list[str]]:
    """The mapped area for the false-positive rate, and a note on its source."""
    if area_km2 is not None:
        return area_km2, [f'mapped area: {area_km2:g} km² as given']
    if coverage is not None:
        path = Path(coverage)
        layers = _layers(path)
        if len(layers) > 1 and COVERAGE_LAYER not in layers:
            msg = (
                f'{path} has several layers {layers} and none is named '
                f'{COVERAGE_LAYER!r}: give a file of the mapped ground alone'
            )
            raise ConfigError(msg)
        layer = COVERAGE_LAYER if COVERAGE_LAYER in layers else None
        frame = read_polygons(path, layer=layer)
        return frame, [f'mapped area: {path}']
    path = Path(pred)
    # the GeoParquet export of a map keeps the layer beside: NAME.coverage.parquet
    sibling = None
    if path.name.endswith('.slumps.parquet'):
        sibling = path.with_name(
            path.name[: -len('slumps.parquet')] + 'coverage.parquet'
        )
    if sibling is not None and sibling.is_file():
        source, layer, where_from = sibling, None, f'{sibling}'
    elif COVERAGE_LAYER in _layers(path):
        source, layer, where_from = (
            path,
            COVERAGE_LAYER,
            f'its {COVERAGE_LAYER!r} layer',
        )
    else:
        return None, []
    try:
        frame = read_polygons(source, layer=layer, where=where)
    except ConfigError:
        note = (
            f'{path}: the mapped area ({where_from}) cannot take --where; area unknown'
        )
        return None, [note]
    return frame, []  # PRED's own mapped ground: the figures need no note


def _layers(path: Path) -> list[str]:
    """The layer names of a vector file ([] when it has none or is not one)."""
    if path.suffix.lower() == '.parquet' or not path.exists():
        return []
    try:
        return [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except Exception:  # GDAL raises several types; read_polygons reports it
        return []
