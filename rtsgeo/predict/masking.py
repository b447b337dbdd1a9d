"""A scene's quality mask, read window by window on the grid tiles are cut from.

The mask is read with the same windows as the bands, never as a whole
scene: from band(s) of the scene itself, or from a raster of its own that is
warped on the fly (nearest neighbour) onto the scene's grid when its CRS,
resolution or extent differ. Pixels outside that raster count as unobserved.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
import rasterio
import rasterio.errors
import rasterio.warp
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from ..errors import (
    BandNotFoundError,
    CorruptRasterError,
    InvalidImageryError,
)
from ..quality import QualityMask

__all__ = ['QualityWindowReader']

Grid: TypeAlias = DatasetReader | WarpedVRT


def _on_grid(src: DatasetReader, grid: Grid) -> Grid:
    """*src* itself when it is on *grid*, else a nearest-neighbour warp onto it."""
    if (
        src.crs == grid.crs
        and src.transform.almost_equals(grid.transform)
        and (src.width, src.height) == (grid.width, grid.height)
    ):
        return src
    return WarpedVRT(
        src,
        crs=grid.crs,
        transform=grid.transform,
        width=grid.width,
        height=grid.height,
        resampling=Resampling.nearest,
        add_alpha=True,
    )


def _overlaps(src: DatasetReader, grid: Grid) -> bool:
    left, bottom, right, top = rasterio.warp.transform_bounds(
        src.crs, grid.crs, *src.bounds
    )
    g_left, g_bottom, g_right, g_top = grid.bounds
    return left < g_right and right > g_left and bottom < g_top and top > g_bottom


class QualityWindowReader:
    """Which pixels of a window are unobserved, by a scene's quality mask."""

    def __init__(
        self,
        mask: QualityMask,
        scene: str,
        src: DatasetReader,
        grid: Grid,
        band_names: Sequence[str],
    ) -> None:
        """Open the mask of a scene on the grid its tiles are cut from.

        Args:
            mask: the quality mask.
            scene: the scene's path (fills the mask's path template).
            src: the open scene file.
            grid: the grid tiles are read on (*src*, or a resampled view of it).
            band_names: the scene's canonical band names.

        Raises:
            DataNotFoundError: If the mask raster does not exist.
            CorruptRasterError: If it cannot be opened or has no CRS.
            BandNotFoundError: If the scene or the mask raster lacks a mask band.
            InvalidImageryError: If the mask raster does not overlap the scene.
        """
        self.mask = mask
        self._own: DatasetReader | None = None
        path = mask.existing_raster(scene)
        if path is None:
            mask.check_bands(scene, band_names)
            wanted = mask.spec.bands
            # Only the bands that decide (UDM2: those of the classes counted).
            self.indexes = [
                list(band_names).index(wanted[band - 1]) + 1
                for band in mask.needed_bands
            ]
            self.path = scene
            self._dataset = _on_grid(src, grid) if grid is not src else src
        else:
            self.path = path
            self._own = self._open(path, scene, grid)
            self.indexes = list(mask.needed_bands)
            self._dataset = _on_grid(self._own, grid)
        # A warp's last band is its alpha: 0 outside the mask raster (or on
        # its nodata), which counts as unobserved.
        warped = isinstance(self._dataset, WarpedVRT)
        self._alpha = self._dataset.count if warped else None

    def _open(self, path: str, scene: str, grid: Grid) -> DatasetReader:
        try:
            src = rasterio.open(path)
        except rasterio.errors.RasterioIOError as error:
            msg = f'quality mask {path} cannot be opened as a raster: {error}'
            raise CorruptRasterError(msg) from error
        try:
            if src.crs is None:
                msg = f'quality mask {path} has no CRS: georeference it like {scene}'
                raise CorruptRasterError(msg)
            if src.count < self.mask.band_count:
                msg = (
                    f'quality mask {path} has {src.count} band(s), the '
                    f'{self.mask.format} format needs {self.mask.band_count}: give '
                    'the full mask product'
                )
                raise BandNotFoundError(msg)
            if not _overlaps(src, grid):
                msg = (
                    f'quality mask {path} does not overlap scene {scene}: give the '
                    'mask of this scene (check the path template)'
                )
                raise InvalidImageryError(msg)
        except Exception:
            src.close()
            raise
        return src

    def read(self, window: Window) -> np.ndarray:
        """``(h, w)`` bool over a window of the grid: True where unobserved.

        Raises:
            CorruptRasterError: If the window cannot be read.
        """
        try:
            if self._alpha is None:
                block = self._dataset.read(self.indexes, window=window)
                return self.mask.flags(block, self.mask.needed_bands)
            # One read, so that a warped mask is warped once per window.
            block = self._dataset.read([*self.indexes, self._alpha], window=window)
            unobserved = self.mask.flags(block[:-1], self.mask.needed_bands)
            unobserved |= block[-1] == 0
        except rasterio.errors.RasterioError as error:
            msg = f'reading quality mask {self.path} at {window} failed: {error}'
            raise CorruptRasterError(msg) from error
        return unobserved

    def close(self) -> None:
        """Close the mask raster and its warp, if any."""
        if isinstance(self._dataset, WarpedVRT):
            self._dataset.close()
        if self._own is not None:
            self._own.close()
