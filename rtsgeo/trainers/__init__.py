"""Lightning tasks and the paper's two-stage training recipe."""

from .instance_segmentation import InstanceSegmentationTask, build_config, lr_factor

__all__ = ['InstanceSegmentationTask', 'build_config', 'lr_factor']
