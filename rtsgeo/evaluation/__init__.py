"""Evaluation of predicted slumps: scene-level polygons and COCO masks.

* :func:`evaluate_polygons`: AP50, AP and polygon precision / recall / F1 of
  georeferenced polygons by exact polygon IoU (see
  :mod:`rtsgeo.evaluation.polygons` for the definitions);
* :func:`evaluate_coco`: the same figures for COCO mask results, by
  pycocotools;
* :func:`evaluate_files`: either, from files (what ``rtsgeo evaluate`` runs),
  with false positives per 100 km² of the mapped area (:func:`mapped_km2`);
* :func:`fit_calibration`, :class:`ScoreCalibration`: calibrated
  probabilities and confidence tiers from a validation map scored by
  :func:`polygon_outcomes` (what ``rtsgeo calibrate`` runs);
* :func:`read_chips`, :func:`assign_sites`, :func:`site_folds`,
  :func:`zone_folds`: spatially blocked folds of image chips (what
  ``rtsgeo folds`` runs), laid out for training by :func:`link_fold`.
"""

from .calibration import (
    CALIBRATION_METHODS,
    CALIBRATION_TARGETS,
    CONFIDENCE_TIERS,
    ScoreCalibration,
    calibrate_files,
    expected_calibration_error,
    fit_calibration,
    plot_reliability,
    reliability_bins,
)
from .chips import CHIP_SUFFIXES, read_chips, zone_label
from .coco import evaluate_coco, is_coco_results
from .files import evaluate_files
from .folds import assign_sites, fold_summary, site_folds, zone_folds
from .layout import fold_roles, link_fold
from .matching import (
    COCO_IOU_THRESHOLDS,
    COCO_RECALL_THRESHOLDS,
    average_precision,
    match_greedy,
    polygon_ious,
)
from .observed import keep_observed, remove_unobserved, unobserved_geometry
from .polygons import equal_area_crs, evaluate_polygons, mapped_km2, polygon_outcomes
from .readers import DEFAULT_LAYER, clean_polygons, read_polygons
from .result import EvaluationResult, detection_counts

__all__ = [
    'CALIBRATION_METHODS',
    'CALIBRATION_TARGETS',
    'CHIP_SUFFIXES',
    'COCO_IOU_THRESHOLDS',
    'COCO_RECALL_THRESHOLDS',
    'CONFIDENCE_TIERS',
    'DEFAULT_LAYER',
    'EvaluationResult',
    'ScoreCalibration',
    'assign_sites',
    'average_precision',
    'calibrate_files',
    'clean_polygons',
    'detection_counts',
    'equal_area_crs',
    'evaluate_coco',
    'evaluate_files',
    'evaluate_polygons',
    'expected_calibration_error',
    'fit_calibration',
    'fold_roles',
    'fold_summary',
    'is_coco_results',
    'keep_observed',
    'link_fold',
    'mapped_km2',
    'match_greedy',
    'plot_reliability',
    'polygon_ious',
    'polygon_outcomes',
    'read_chips',
    'read_polygons',
    'reliability_bins',
    'remove_unobserved',
    'site_folds',
    'unobserved_geometry',
    'zone_folds',
    'zone_label',
]
