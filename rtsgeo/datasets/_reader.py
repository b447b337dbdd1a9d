"""Reading checked raster files onto a query grid, warping them if needed."""

from __future__ import annotations

import atexit
import os
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
import rasterio.enums
import rasterio.errors
import rasterio.merge
import rasterio.warp
import shapely
import torch
from pyproj import CRS
from rasterio.crs import CRS as RioCRS
from rasterio.io import DatasetReader
from rasterio.vrt import WarpedVRT
from torch import Tensor

from ..errors import BandNotFoundError, CorruptRasterError
from ._files import RasterInfo
from ._geo import footprint_index, rows_in_window

__all__ = ['NODATA_FILL', 'RasterSource']

# Fill value for nodata and uncovered pixels while reading; real imagery never
# holds -inf, and NaN stays free to flag NaN values that are really in a file.
NODATA_FILL = -np.inf


def _rio(crs: CRS | RioCRS) -> RioCRS:
    return RioCRS.from_user_input(crs.to_wkt())


class RasterSource:
    """Files of one source, checked by :func:`read_raster_info`, on one CRS.

    Files on another CRS are warped on the fly. Every band is read as float32,
    with nodata and uncovered pixels set to :data:`NODATA_FILL`. The footprint
    index follows TorchGeo's layout (see :mod:`rtsgeo.datasets._geo`).
    """

    def __init__(
        self,
        infos: Sequence[RasterInfo],
        crs: CRS | RioCRS | None,
        res: tuple[float, float] | None,
        resampling: rasterio.enums.Resampling,
        cache: bool = True,
    ) -> None:
        """Initialise a new RasterSource.

        Args:
            infos: the files (at least one), all with the same bands.
            crs: CRS to read on (defaults to the first file's).
            res: pixel size in CRS units (defaults to the first file's, warped).
            resampling: resampling of reads onto the query grid.
            cache: keep file handles open between reads.

        Raises:
            BandNotFoundError: If the files do not share their bands.
        """
        self.infos = list(infos)
        self.band_names = self.infos[0].bands
        for info in self.infos[1:]:
            if info.bands != self.band_names:
                msg = (
                    f'{info.path} has bands {info.bands} but {self.infos[0].path} '
                    f'has {self.band_names}: files of one source must share bands'
                )
                raise BandNotFoundError(msg)
        self.resampling = resampling
        self.cache = cache
        self._handles: dict[str, DatasetReader | WarpedVRT] = {}
        self._pid = os.getpid()
        _SOURCES.add(self)
        self.index = self._footprints(CRS.from_user_input(crs or self.infos[0].crs))
        self.res = res or self._default_res()

    @property
    def crs(self) -> CRS:
        """CRS that reads are made on; setting it re-indexes the files."""
        return CRS.from_user_input(self.index.crs)

    @crs.setter
    def crs(self, new_crs: CRS) -> None:
        if CRS.from_user_input(new_crs) != self.crs:
            for handle in self._handles.values():  # warped onto the old CRS
                _close(handle)
            self._handles.clear()
            self.index = self._footprints(CRS.from_user_input(new_crs))

    def _footprints(self, crs: CRS) -> gpd.GeoDataFrame:
        target = _rio(crs)
        boxes = [
            shapely.box(*rasterio.warp.transform_bounds(info.crs, target, *info.bounds))
            if info.crs != target
            else shapely.box(*info.bounds)
            for info in self.infos
        ]
        return footprint_index([i.path for i in self.infos], boxes, crs)

    def _default_res(self) -> tuple[float, float]:
        info = self.infos[0]
        target = _rio(self.crs)
        if info.crs == target:
            return info.res
        left, bottom, right, top = info.bounds
        width = max(1, round((right - left) / info.res[0]))
        height = max(1, round((top - bottom) / info.res[1]))
        transform, _, _ = rasterio.warp.calculate_default_transform(
            info.crs, target, width, height, left, bottom, right, top
        )
        return (abs(transform.a), abs(transform.e))

    def files_at(self, x: slice, y: slice, t: slice) -> list[str]:
        """Files that meet a window (empty when none does)."""
        return list(rows_in_window(self.index, x, y, t).filepath)

    def read(
        self,
        x: slice,
        y: slice,
        t: slice,
        adjust: Callable[[str, np.ndarray], None] | None = None,
    ) -> Tensor | None:
        """All bands over a window as ``(C, H, W)`` float32, or None if uncovered.

        Args:
            x: the window's x range and pixel width.
            y: its y range and pixel height.
            t: its time range.
            adjust: called as ``adjust(path, block)`` with each file's part
                of the window (:data:`NODATA_FILL` where the file has no data)
                to change it in place before the files are merged, the first
                file with data winning each value (a per-scene stretch).

        Raises:
            CorruptRasterError: If a file cannot be read.
        """
        files = self.files_at(x, y, t)
        if not files:
            return None
        if adjust is None:
            return torch.from_numpy(self._merge(files, x, y))
        merged = self._merge(files[:1], x, y)
        adjust(files[0], merged)
        for path in files[1:]:
            block = self._merge([path], x, y)
            adjust(path, block)
            free = (merged == NODATA_FILL) & (block != NODATA_FILL)
            np.copyto(merged, block, where=free)
        return torch.from_numpy(merged)

    def _merge(self, files: Sequence[str], x: slice, y: slice) -> np.ndarray:
        """The files merged over a window (the first file wins where it has data)."""
        handles = [self._open(path) for path in files]
        try:
            dest, _ = rasterio.merge.merge(
                handles,
                bounds=(x.start, y.start, x.stop, y.stop),
                res=(x.step, y.step),
                resampling=self.resampling,
                nodata=NODATA_FILL,
                dtype='float32',
            )
        except rasterio.errors.RasterioError as error:
            names = ', '.join(files)
            msg = f'reading {names} failed (corrupt or truncated file?): {error}'
            raise CorruptRasterError(msg) from error
        finally:
            if not self.cache:
                for handle in handles:
                    _close(handle)
        return dest

    def _open(self, path: str) -> DatasetReader | WarpedVRT:
        if self._pid != os.getpid():
            # A forked DataLoader worker: GDAL handles opened by the parent share
            # its file offsets, and concurrent reads through them return corrupt
            # blocks. The worker opens its own (the parent's are left alone).
            self._handles = {}
            self._pid = os.getpid()
        handle = self._handles.get(path)
        if handle is not None:
            return handle
        try:
            src = rasterio.open(path)
        except rasterio.errors.RasterioIOError as error:
            msg = (
                f'{path} cannot be opened as a raster (corrupt or truncated?): {error}'
            )
            raise CorruptRasterError(msg) from error
        target = _rio(self.crs)
        opened = src if src.crs == target else WarpedVRT(src, crs=target)
        if self.cache:
            self._handles[path] = opened
        return opened

    def close(self) -> None:
        """Close the file handles kept open; later reads open them again."""
        handles, self._handles = self._handles, {}
        if self._pid == os.getpid():
            for handle in handles.values():
                _close(handle)

    @property
    def open_files(self) -> list[str]:
        """Files whose handles are kept open for later reads."""
        return list(self._handles)

    def __getstate__(self) -> dict[str, Any]:
        # File handles do not cross process boundaries (DataLoader workers).
        return {**self.__dict__, '_handles': {}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        _SOURCES.add(self)


#: Every live source, so that :func:`_close_all` reaches their open handles.
_SOURCES: weakref.WeakSet[RasterSource] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """Close every source's open files while the interpreter is still whole.

    A dataset that stays referenced until the interpreter exits (a LightningCLI
    run keeps its datamodule in reference cycles) would otherwise have its
    rasterio handles finalised in the last garbage collection, when rasterio
    can no longer report anything and Python prints a bare
    "Error in sys.excepthook" for each handle.
    """
    for source in list(_SOURCES):
        source.close()


def _close(handle: DatasetReader | WarpedVRT) -> None:
    handle.close()
    if isinstance(handle, WarpedVRT):
        handle.src_dataset.close()
