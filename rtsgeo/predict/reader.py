"""Window-by-window reading of a scene's modalities in its native CRS.

A scene taken at another ground sampling distance than the model's is read
through a GDAL warped VRT on the same CRS and extent with the model's pixel
size: each window is resampled as it is read, and the scene is never copied.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import numpy as np
import rasterio
import rasterio.errors
import torch
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window
from torch import Tensor

from ..errors import (
    BandNotFoundError,
    CorruptRasterError,
    DataNotFoundError,
    InvalidImageryError,
)
from ..modalities import compute_modalities, required_bands, resolve_band_names
from ..resolution import gsd_differs, pixel_gsd_m, resampled_grid
from ..transforms import NormalizeModalities
from .tiling import Tile

__all__ = ['SceneReader', 'acquisition_date']

_DATE_TAGS = (
    'ACQUISITION_DATE',
    'ACQUISITION_DATETIME',
    'DATE_ACQUIRED',
    'acquired',
    'datetime',
    'TIFFTAG_DATETIME',
)
_DATE = re.compile(r'(\d{4})[-:/]?(\d{2})[-:/]?(\d{2})')


def acquisition_date(tags: Mapping[str, str]) -> str | None:
    """ISO date (``YYYY-MM-DD``) from a GeoTIFF's tags, or None when absent."""
    for key in _DATE_TAGS:
        match = _DATE.search(str(tags.get(key, '')))
        if match:
            return '-'.join(match.groups())
    return None


class SceneReader:
    """Reads the stacked, normalised modalities of a scene one tile at a time.

    Only the bands the modalities need are read, window by window: the scene
    is never in memory as a whole. A pixel is valid when none of those bands
    is nodata (or NaN); invalid and padded pixels are 0 after normalisation.
    With ``gsd_m``, tiles are cut from the scene resampled (bilinear, on the
    fly) to that ground sampling distance: :attr:`width`, :attr:`height` and
    :attr:`transform` then describe that grid, on the scene's own CRS and
    extent, so polygons vectorised with :attr:`transform` land where they
    belong. Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        path: str | Path,
        modalities: Sequence[str],
        stats: Mapping[str, Mapping[str, Sequence[float]]],
        sensor: str | None = None,
        gsd_m: float | None = None,
    ) -> None:
        """Open a scene and check it can feed the model.

        Args:
            path: the scene GeoTIFF (or any raster GDAL reads).
            modalities: modalities in stacking order.
            stats: normalisation statistics per modality.
            sensor: sensor preset for files without band descriptions.
            gsd_m: read the scene resampled to this ground sampling distance
                (metres per pixel); None, or within 1 % of the scene's own:
                its native grid.

        Raises:
            DataNotFoundError: If the file does not exist.
            CorruptRasterError: If it cannot be opened or has no CRS.
            BandNotFoundError: If a band the modalities need is missing.
            InvalidImageryError: If its CRS is geographic (degrees).
        """
        self.path = str(path)
        self.modalities = tuple(modalities)
        if not Path(path).is_file():
            msg = f'scene {self.path} does not exist: check the path'
            raise DataNotFoundError(msg)
        try:
            self._src = rasterio.open(self.path)
        except rasterio.errors.RasterioIOError as error:
            msg = f'scene {self.path} cannot be opened as a raster: {error}'
            raise CorruptRasterError(msg) from error
        try:
            self._check(sensor)
            self._grid = self._open_grid(gsd_m)
        except Exception:
            self._src.close()
            raise
        self._normalize = NormalizeModalities(stats, self.modalities)

    def _check(self, sensor: str | None) -> None:
        src = self._src
        if src.crs is None:
            msg = f'scene {self.path} has no CRS: georeference it (gdal_edit.py -a_srs)'
            raise CorruptRasterError(msg)
        if src.crs.is_geographic:
            msg = (
                f'scene {self.path} is in a geographic CRS ({src.crs.to_string()}, '
                'degrees): tiles would not be square on the ground and areas would '
                'be distorted. Reproject it to a projected CRS such as its UTM '
                'zone first (gdalwarp -t_srs EPSG:326NN in.tif out.tif)'
            )
            raise InvalidImageryError(msg)
        names = resolve_band_names(src.descriptions, self.path, sensor)
        needed = required_bands(self.modalities, names)
        missing = [band for band in needed if band not in names]
        if missing:
            preset = f' (sensor preset {sensor!r})' if sensor else ''
            msg = (
                f'scene {self.path} lacks band(s) {missing} needed by the '
                f'modalities {list(self.modalities)}; its bands are '
                f'{list(names)}{preset}: use a model trained on these bands, '
                'the matching sensor preset, or set band descriptions'
            )
            raise BandNotFoundError(msg)
        self.bands = needed
        self.indexes = [names.index(band) + 1 for band in needed]
        self.nodata = src.nodata
        self.native_gsd_m = pixel_gsd_m(src.crs, src.res)

    def _open_grid(self, gsd_m: float | None) -> DatasetReader | WarpedVRT:
        """The file itself, or a warped VRT of it at *gsd_m*."""
        if gsd_m is None or not gsd_differs(self.native_gsd_m, gsd_m):
            return self._src
        src = self._src
        transform, width, height = resampled_grid(
            src.transform, src.width, src.height, src.crs, gsd_m
        )
        return WarpedVRT(
            src,
            crs=src.crs,
            transform=transform,
            width=width,
            height=height,
            resampling=Resampling.bilinear,
        )

    @property
    def resampled(self) -> bool:
        """True when tiles come from the scene resampled to another GSD."""
        return self._grid is not self._src

    @property
    def gsd_m(self) -> float:
        """Ground sampling distance of the grid tiles are cut from (metres)."""
        return pixel_gsd_m(self.crs, self._grid.res)

    @property
    def width(self) -> int:
        """Width in pixels of the grid read (the scene's, unless resampled)."""
        return int(self._grid.width)

    @property
    def height(self) -> int:
        """Height in pixels of the grid read (the scene's, unless resampled)."""
        return int(self._grid.height)

    @property
    def crs(self) -> CRS:
        """The scene's native CRS."""
        return self._src.crs

    @property
    def transform(self) -> Affine:
        """Affine transform of the grid read (pixel edges to CRS coordinates)."""
        return self._grid.transform

    @property
    def pixel_area_m2(self) -> float:
        """Area of one pixel of the grid read in m^2 (projected CRSs only)."""
        t = self.transform
        metres = float(self.crs.linear_units_factor[1])
        return abs(t.a * t.e - t.b * t.d) * metres**2

    @property
    def acquired(self) -> str | None:
        """Acquisition date from the file's tags, if recorded."""
        return acquisition_date(self._src.tags())

    def read_raw(self, tile: Tile) -> tuple[dict[str, Tensor], Tensor]:
        """Raw band values and validity over a tile, padded past the edges.

        Returns:
            Band name -> ``(size, size)`` float32 tensor, and the ``(size, size)``
            bool validity mask (False on nodata and padding).

        Raises:
            CorruptRasterError: If the window cannot be read.
        """
        size = tile.size
        r0, c0 = max(tile.row_off, 0), max(tile.col_off, 0)
        r1 = min(tile.row_off + size, self.height)
        c1 = min(tile.col_off + size, self.width)
        data = np.zeros((len(self.indexes), size, size), dtype=np.float32)
        valid = np.zeros((size, size), dtype=bool)
        if r1 > r0 and c1 > c0:
            window = Window(c0, r0, c1 - c0, r1 - r0)
            try:
                block = self._grid.read(
                    self.indexes, window=window, out_dtype='float32'
                )
            except rasterio.errors.RasterioError as error:
                msg = f'reading {self.path} at {window} failed (corrupt?): {error}'
                raise CorruptRasterError(msg) from error
            ok = np.isfinite(block).all(axis=0)
            if self.nodata is not None and not math.isnan(self.nodata):
                ok &= (block != np.float32(self.nodata)).all(axis=0)
            rows = slice(r0 - tile.row_off, r1 - tile.row_off)
            cols = slice(c0 - tile.col_off, c1 - tile.col_off)
            data[:, rows, cols] = np.where(ok, block, 0.0)
            valid[rows, cols] = ok
        tensors = torch.from_numpy(data)
        bands = {name: tensors[i] for i, name in enumerate(self.bands)}
        return bands, torch.from_numpy(valid)

    def read(self, tile: Tile) -> tuple[Tensor, Tensor]:
        """Normalised ``(C, size, size)`` image and validity mask over a tile."""
        bands, valid = self.read_raw(tile)
        image = compute_modalities(bands, self.modalities, valid)
        batch = self._normalize({'image': image[None], 'valid': valid[None]})
        return batch['image'][0], valid

    def close(self) -> None:
        """Close the file (and its resampled view)."""
        if self._grid is not self._src:
            self._grid.close()
        self._src.close()

    def __enter__(self) -> SceneReader:
        """Return self."""
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the file."""
        self.close()
