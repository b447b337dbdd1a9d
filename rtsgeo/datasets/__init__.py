"""Datasets: multimodal imagery, instance labels and synthetic scenes."""

from ._instances import RTS_CLASS, boxes_from_masks, instances_from_mask
from .grouped import CRSGroupedDataset, build_instance_dataset
from .raster import InstanceMaskDataset, MultimodalRasterDataset
from .utils import collate_instances

__all__ = [
    'RTS_CLASS',
    'CRSGroupedDataset',
    'InstanceMaskDataset',
    'MultimodalRasterDataset',
    'boxes_from_masks',
    'build_instance_dataset',
    'collate_instances',
    'instances_from_mask',
]
