"""Normalisation (fixed statistics, per-scene stretch) and augmentation of batches."""

from .augment import RandomFlipRotate, RandomRadiometry
from .normalize import ModalityStats, NormalizeModalities, compute_modality_stats
from .scene_norm import SceneStretch, check_scene_norm, measure_scene

__all__ = [
    'ModalityStats',
    'NormalizeModalities',
    'RandomFlipRotate',
    'RandomRadiometry',
    'SceneStretch',
    'check_scene_norm',
    'compute_modality_stats',
    'measure_scene',
]
