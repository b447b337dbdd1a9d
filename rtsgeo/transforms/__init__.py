"""Normalisation and augmentation of batches."""

from .augment import RandomFlipRotate, RandomRadiometry
from .normalize import ModalityStats, NormalizeModalities, compute_modality_stats

__all__ = [
    'ModalityStats',
    'NormalizeModalities',
    'RandomFlipRotate',
    'RandomRadiometry',
    'compute_modality_stats',
]
