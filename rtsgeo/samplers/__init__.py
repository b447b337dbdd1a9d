"""Samplers of windows over scenes."""

from .grouped import CRSGroupedGeoSampler
from .positive import PositiveAwareGeoSampler, positive_boxes

__all__ = ['CRSGroupedGeoSampler', 'PositiveAwareGeoSampler', 'positive_boxes']
