"""Datasets: multimodal imagery, instance labels and synthetic scenes."""

from ._instances import RTS_CLASS, boxes_from_masks, instances_from_mask
from .coco import COCOInstanceDataset
from .grouped import CRSGroupedDataset, build_instance_dataset
from .polygons import VECTOR_SUFFIXES, InstancePolygonDataset
from .raster import InstanceMaskDataset, MultimodalRasterDataset
from .synthetic import (
    SyntheticScene,
    make_synthetic_dataset,
    make_synthetic_scene,
    make_synthetic_splits,
)
from .utils import collate_instances, join_samples

__all__ = [
    'RTS_CLASS',
    'VECTOR_SUFFIXES',
    'COCOInstanceDataset',
    'CRSGroupedDataset',
    'InstanceMaskDataset',
    'InstancePolygonDataset',
    'MultimodalRasterDataset',
    'SyntheticScene',
    'boxes_from_masks',
    'build_instance_dataset',
    'collate_instances',
    'instances_from_mask',
    'join_samples',
    'make_synthetic_dataset',
    'make_synthetic_scene',
    'make_synthetic_splits',
]
