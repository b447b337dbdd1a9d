"""Lightning datamodules."""

from .rts import RTSDataModule

__all__ = ['RTSDataModule']
