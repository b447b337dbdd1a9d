"""Lightning datamodules."""

from .cached import CachedRTSDataModule
from .coco import COCODataModule
from .rts import RTSDataModule

__all__ = ['COCODataModule', 'CachedRTSDataModule', 'RTSDataModule']
