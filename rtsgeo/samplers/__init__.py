"""Samplers of windows over scenes."""

from .areas import SamplingArea, sampling_areas
from .grid import SceneGridGeoSampler
from .grouped import CRSGroupedGeoSampler, WindowSampler
from .positive import PositiveAwareGeoSampler, positive_boxes

__all__ = [
    'CRSGroupedGeoSampler',
    'PositiveAwareGeoSampler',
    'SamplingArea',
    'SceneGridGeoSampler',
    'WindowSampler',
    'positive_boxes',
    'sampling_areas',
]
