"""Lightning tasks, the paper's two-stage training recipe and short training runs."""

from .instance_segmentation import InstanceSegmentationTask, build_config, lr_factor
from .short import ShortTraining, train_steps

__all__ = [
    'InstanceSegmentationTask',
    'ShortTraining',
    'build_config',
    'lr_factor',
    'train_steps',
]
