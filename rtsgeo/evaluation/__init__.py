"""Evaluation of predicted slumps: scene-level polygons and COCO masks.

* :func:`evaluate_polygons`: AP50, AP and polygon precision / recall / F1 of
  georeferenced polygons by exact polygon IoU (see
  :mod:`rtsgeo.evaluation.polygons` for the definitions);
* :func:`evaluate_coco`: the same figures for COCO mask results, by
  pycocotools;
* :func:`evaluate_files`: either, from files (what ``rtsgeo evaluate`` runs).
"""

from .coco import evaluate_coco, is_coco_results
from .files import evaluate_files
from .matching import (
    COCO_IOU_THRESHOLDS,
    COCO_RECALL_THRESHOLDS,
    average_precision,
    match_greedy,
    polygon_ious,
)
from .polygons import equal_area_crs, evaluate_polygons
from .readers import DEFAULT_LAYER, clean_polygons, read_polygons
from .result import EvaluationResult, detection_counts

__all__ = [
    'COCO_IOU_THRESHOLDS',
    'COCO_RECALL_THRESHOLDS',
    'DEFAULT_LAYER',
    'EvaluationResult',
    'average_precision',
    'clean_polygons',
    'detection_counts',
    'equal_area_crs',
    'evaluate_coco',
    'evaluate_files',
    'evaluate_polygons',
    'is_coco_results',
    'match_greedy',
    'polygon_ious',
    'read_polygons',
]
