"""A scene's quality mask, read window by window on the grid tiles are cut from.

The mask is read with the same windows as the bands, never as a whole
scene: from band(s) of the scene itself, or from a raster of its own. A mask
raster in the scene's CRS whose pixels are whole multiples of the grid's and
start on its pixel edges (Sentinel-2's 20 m SCL beside 10 m bands, or the
same grid over another extent) is read at its own resolution and each of its
pixels repeated; any other is warped on the fly (nearest neighbour) onto the
grid. Pixels outside that raster, or on its nodata, count as unobserved.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
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
from ._bools import enlarged

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


def _aligned(src: DatasetReader, grid: Grid) -> tuple[int, int, int] | None:
    """``(k, row, col)`` when *src*'s pixel is ``k x k`` pixels of *grid*.

    Its origin must fall on the grid's pixel corner ``(row, col)``; None when
    the CRS differs or the pixels do not nest.
    """
    s, g = src.transform, grid.transform
    if src.crs != grid.crs or s.b or s.d or g.b or g.d or not g.a or not g.e:
        return None
    factor, row, col = s.a / g.a, (s.f - g.f) / g.e, (s.c - g.c) / g.a
    k = round(factor)
    whole = [abs(v - round(v)) < 1e-6 for v in (factor, row, col)]
    if k < 1 or not all(whole) or abs(s.e / g.e - k) > 1e-6:
        return None
    return k, round(row), round(col)


def _key(window: Window) -> tuple[int, ...]:
    return tuple(
        int(v) for v in (window.col_off, window.row_off, window.width, window.height)
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
        self._nested: tuple[int, int, int] | None = None
        path = mask.existing_raster(scene)
        if path is None:
            # Only the bands that decide (UDM2: those of the classes counted).
            self.indexes = mask.band_indexes(scene, band_names)
            self.path = scene
            self._dataset = _on_grid(src, grid) if grid is not src else src
        else:
            self.path = path
            self._own = self._open(path, scene, grid)
            self.indexes = list(mask.needed_bands)
            self._dataset = _on_grid(self._own, grid)
            if self._dataset is not self._own:
                # Not on the grid: read at its own resolution if it nests.
                self._nested = _aligned(self._own, grid)
                if self._nested is not None:
                    self._dataset.close()
                    self._dataset = self._own
        # A warp's last band is its alpha: 0 outside the mask raster (or on
        # its nodata), which counts as unobserved.
        warped = isinstance(self._dataset, WarpedVRT)
        self._alpha = self._dataset.count if warped else None
        # A raster of its own is read in a thread of its own, while the
        # scene's bands are read (GDAL lets go of the GIL): see :meth:`start`.
        # Its file handle is used by that thread alone.
        self._pool = (
            ThreadPoolExecutor(1, thread_name_prefix='rtsgeo-mask')
            if self._own is not None
            else None
        )
        self._pending: tuple[tuple[int, ...], Future[np.ndarray]] | None = None

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

    @property
    def raster(self) -> DatasetReader | None:
        """The mask's raster of its own, open; None for band(s) of the scene."""
        return self._own

    def start(self, window: Window) -> None:
        """Begin reading *window* in the background, for :meth:`read`."""
        if self._pool is not None:
            self._pending = (_key(window), self._pool.submit(self._read, window))

    def read(self, window: Window) -> np.ndarray:
        """``(h, w)`` bool over a window of the grid: True where unobserved.

        Raises:
            CorruptRasterError: If the window cannot be read.
        """
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] == _key(window):
            return pending[1].result()
        if self._pool is not None:
            return self._pool.submit(self._read, window).result()
        return self._read(window)

    def _read(self, window: Window) -> np.ndarray:
        try:
            if self._nested is not None:
                return self._read_nested(window, *self._nested)
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

    def _read_nested(self, window: Window, k: int, row: int, col: int) -> np.ndarray:
        """:meth:`read` from a raster whose pixels nest *k* x *k* in the grid's."""
        r0, c0 = int(window.row_off) - row, int(window.col_off) - col
        r1, c1 = r0 + int(window.height), c0 + int(window.width)
        out = np.ones((r1 - r0, c1 - c0), dtype=bool)
        src = self._dataset
        # The mask's own pixels under the window, clipped to its extent.
        top, left = max(r0 // k, 0), max(c0 // k, 0)
        bottom, right = min(-(-r1 // k), src.height), min(-(-c1 // k), src.width)
        if bottom <= top or right <= left:
            return out
        block = src.read(
            self.indexes, window=Window(left, top, right - left, bottom - top)
        )
        hidden = self.mask.flags(block, self.mask.needed_bands)
        if src.nodata is not None:
            hidden |= (block == src.nodata).all(axis=0)
        # Each mask pixel repeated k x k, then the window's part of that.
        big = enlarged(hidden, k)
        y0, x0 = max(r0, 0), max(c0, 0)
        y1, x1 = min(r1, bottom * k), min(c1, right * k)
        out[y0 - r0 : y1 - r0, x0 - c0 : x1 - c0] = big[
            y0 - top * k : y1 - top * k, x0 - left * k : x1 - left * k
        ]
        return out

    def close(self) -> None:
        """Close the mask raster and its warp, if any."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if isinstance(self._dataset, WarpedVRT):
            self._dataset.close()
        if self._own is not None:
            self._own.close()
