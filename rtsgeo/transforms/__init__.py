"""Normalisation and augmentation of batches."""

from .augment import RandomFlipRotate
from .normalize import ModalityStats, NormalizeModalities, compute_modality_stats

__all__ = [
    'ModalityStats',
    'NormalizeModalities',
    'RandomFlipRotate',
    'compute_modality_stats',
]
