"""Samplers of windows over scenes."""

from .grid import SceneGridGeoSampler
from .grouped import CRSGroupedGeoSampler
from .positive import (
    PositiveAwareGeoSampler,
    SamplingArea,
    positive_boxes,
    sampling_areas,
)

__all__ = [
    'CRSGroupedGeoSampler',
    'PositiveAwareGeoSampler',
    'SamplingArea',
    'SceneGridGeoSampler',
    'positive_boxes',
    'sampling_areas',
]
