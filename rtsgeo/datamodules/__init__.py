"""Lightning datamodules."""

from .cached import CachedRTSDataModule
from .rts import RTSDataModule

__all__ = ['CachedRTSDataModule', 'RTSDataModule']
