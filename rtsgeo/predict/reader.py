"""Window-by-window reading of a scene's modalities in its native CRS.

A scene taken at another ground sampling distance than the model's is read
through a GDAL warped VRT on the same CRS and extent with the model's pixel
size: each window is resampled as it is read, and the scene is never copied.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType

import numpy as np
import rasterio
import rasterio.errors
import torch
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.env import get_gdal_config, set_gdal_config
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
from ..modalities import (
    ND_EPS,
    channel_layout,
    get_modality,
    required_bands,
    resolve_band_names,
)
from ..quality import QualityMask
from ..resolution import gsd_differs, pixel_gsd_m, resampled_grid
from ..transforms import NormalizeModalities
from ..transforms.scene_norm import BandRanges, SceneStretch, apply_stretch
from .masking import QualityWindowReader
from .tiling import Tile

__all__ = ['SceneReader', 'acquisition_date', 'gdal_block_cache', 'row_cache_bytes']

_DATE_TAGS = (
    'ACQUISITION_DATE',
    'ACQUISITION_DATETIME',
    'DATE_ACQUIRED',
    'acquired',
    'datetime',
    'TIFFTAG_DATETIME',
)
_DATE = re.compile(r'(\d{4})[-:/]?(\d{2})[-:/]?(\d{2})')


#: One output channel: the index of its band among those read, or of the two
#: bands of a normalised difference (second None for a plain band), then the
#: mean and standard deviation it is normalised with.
_Channel = tuple[int, int | None, float, float]


def _channel_plan(
    modalities: Sequence[str],
    bands: Sequence[str],
    stats: Mapping[str, Mapping[str, Sequence[float]]],
) -> list[_Channel]:
    """How to make each normalised channel from the bands read, in stacking order.

    The same channels as :func:`~rtsgeo.modalities.compute_modalities` stacks
    from *bands*, with the statistics :class:`~rtsgeo.transforms.NormalizeModalities`
    uses.

    Raises:
        ConfigError: If a modality has no statistics or the wrong count.
    """
    normalize = NormalizeModalities(stats, modalities)
    means: list[float] = torch.as_tensor(normalize.mean).flatten().tolist()
    stds: list[float] = torch.as_tensor(normalize.std).flatten().tolist()
    pairs: list[tuple[int, int | None]] = []
    for name in channel_layout(modalities):
        modality = get_modality(name)
        sources = modality.source_bands(bands)
        if sources == modality.bands and modality.derive == 'normalized_difference':
            pairs.append((bands.index(sources[0]), bands.index(sources[1])))
        else:
            pairs += [(bands.index(band), None) for band in sources]
    return [
        (first, second, mean, std)
        for (first, second), mean, std in zip(pairs, means, stds, strict=True)
    ]


def _normalized_difference(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """``(a - b) / (a + b)`` into *out*, 0 where the sum is about 0, in [-1, 1]."""
    total = a + b
    np.subtract(a, b, out=out)
    safe = np.abs(total) >= np.float32(ND_EPS)
    np.divide(out, total, out=out, where=safe)
    np.copyto(out, 0.0, where=~safe)
    np.clip(out, -1.0, 1.0, out=out)


def row_cache_bytes(src: DatasetReader, span: float) -> int:
    """Bytes of *src*'s decoded blocks under a band *span* CRS units high.

    The rows of the band, and a row of blocks on either side, across the
    raster's whole width, all bands (see :meth:`SceneReader.tile_row_cache_bytes`).
    """
    block_rows = max(height for height, _ in src.block_shapes)
    rows = math.ceil(span / src.res[1]) + 2 * block_rows
    itemsize = max(np.dtype(dtype).itemsize for dtype in src.dtypes)
    return int(src.width * rows * src.count * itemsize)


# The least block cache gdal_block_cache sets (bytes).
_MIN_BLOCK_CACHE = 16 * 2**20


@contextlib.contextmanager
def gdal_block_cache(limit: int) -> Iterator[None]:
    """Cap GDAL's block cache at *limit* bytes (at least 16 MiB) in the block.

    GDAL keeps decoded blocks up to 5 % of the machine's memory by default,
    so a process reading a scene once, window by window, grows with the
    scene's size until it holds that much. The cap is never raised above
    the current setting (``GDAL_CACHEMAX``), and the setting is restored on
    leaving. GDAL's cache is one per process: the cap applies to every thread.
    """
    before = int(get_gdal_config('GDAL_CACHEMAX'))
    set_gdal_config('GDAL_CACHEMAX', min(before, max(int(limit), _MIN_BLOCK_CACHE)))
    try:
        yield
    finally:
        set_gdal_config('GDAL_CACHEMAX', before)


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
    belong. With a quality mask (see :mod:`rtsgeo.quality`), pixels it marks
    unobserved are invalid too, read from the same windows as the bands.
    With ``scene_stretch``, the reflectance bands of every tile are stretched
    with the scene's own percentiles, measured once on the whole file (as
    training measures its files) when the first tile is read, if
    :meth:`scene_percentiles` was not called before.
    Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        path: str | Path,
        modalities: Sequence[str],
        stats: Mapping[str, Mapping[str, Sequence[float]]],
        sensor: str | None = None,
        gsd_m: float | None = None,
        quality: QualityMask | None = None,
        scene_stretch: SceneStretch | None = None,
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
            quality: the scene's quality mask (None: every pixel with data
                counts as observed).
            scene_stretch: the model's per-scene stretch (see
                :class:`~rtsgeo.transforms.SceneStretch`); None: raw bands.

        Raises:
            DataNotFoundError: If the file (or its mask raster) does not exist.
            CorruptRasterError: If it cannot be opened or has no CRS.
            BandNotFoundError: If a band the modalities (or the mask) need is
                missing.
            InvalidImageryError: If its CRS is geographic (degrees), or the
                mask raster does not overlap it.
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
        self._quality: QualityWindowReader | None = None
        try:
            self._check(sensor)
            self._grid = self._open_grid(gsd_m)
            if quality is not None:
                self._quality = QualityWindowReader(
                    quality, self.path, self._src, self._grid, self.band_names
                )
        except Exception:
            self.close()
            raise
        self._plan = _channel_plan(self.modalities, self.bands, stats)
        # A nodata value to compare with (None when there is none, or NaN).
        self._nodata = (
            None
            if self.nodata is None or math.isnan(self.nodata)
            else np.float32(self.nodata)
        )
        # Integer bands read as float32 are never NaN or infinite.
        self._may_be_nan = any(
            np.dtype(self._src.dtypes[i - 1]).kind in 'fc' for i in self.indexes
        )
        self.scene_stretch = scene_stretch
        # The scene's percentiles and stretch, measured on first use.
        self._percentiles: BandRanges | None = None
        self._stretch: dict[str, tuple[float, float]] = {}
        self._measured = threading.Lock()

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
        self.band_names = names
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

    def tile_row_cache_bytes(self, tile_size: int) -> int:
        """Bytes of decoded blocks under one row of tiles, across the scene.

        Tiles are read row by row and neighbours overlap, so a block cache
        this large decodes each block of the file about once (see
        :func:`gdal_block_cache`); it grows with the scene's width only.
        A quality mask in a raster of its own shares that cache (GDAL has one
        per process): its blocks under the row count too, or each would
        push the scene's out before their neighbouring tiles are read.
        """
        span = tile_size * self._grid.res[1]
        own = None if self._quality is None else self._quality.raster
        mask = 0 if own is None else row_cache_bytes(own, span)
        return row_cache_bytes(self._src, span) + mask

    def scene_percentiles(self) -> BandRanges | None:
        """The scene's percentiles that its tiles are stretched with.

        Measured on the whole file the first time they are needed, so that
        opening a scene to check it reads no pixels; None without
        ``scene_stretch``.

        Raises:
            CorruptRasterError: If the scene (or its mask raster) cannot be read.
        """
        if self.scene_stretch is None:
            return None
        with self._measured:
            if self._percentiles is None:
                percentiles = self.scene_stretch.measure(
                    self.path, self.band_names, self.quality
                )
                self._stretch = self.scene_stretch.coefficients(percentiles)
                self._percentiles = percentiles
        return self._percentiles

    @property
    def quality(self) -> QualityMask | None:
        """The quality mask read with the bands, if any."""
        return None if self._quality is None else self._quality.mask

    @property
    def channels(self) -> int:
        """Channels of the stacked image :meth:`read` returns."""
        return len(self._plan)

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

    def read_into(
        self,
        tile: Tile,
        image: np.ndarray,
        valid: np.ndarray,
        unobserved: np.ndarray | None = None,
    ) -> bool:
        """Write a tile's normalised modalities and validity into given arrays.

        The stacked, normalised image is the same as
        :func:`~rtsgeo.modalities.compute_modalities` followed by
        :class:`~rtsgeo.transforms.NormalizeModalities` give (on the bands
        stretched with :meth:`scene_percentiles`, with ``scene_stretch``),
        computed in one pass over the window with numpy, in place: no torch
        call and few temporaries, so a background reader thread costs little
        and does not compete for torch's threads. Pixels that are nodata, NaN or padding
        are 0 in every channel and False in *valid*; so are pixels with data
        that the quality mask marks unobserved.

        Args:
            tile: the window.
            image: ``(C, size, size)`` float32 array, overwritten.
            valid: ``(size, size)`` bool array, overwritten.
            unobserved: ``(size, size)`` bool array, overwritten (with a
                quality mask only): True where a pixel has data but is
                unobserved.

        Returns:
            Whether any pixel of the tile is valid.

        Raises:
            CorruptRasterError: If the window cannot be read.
        """
        size = tile.size
        r0, c0 = max(tile.row_off, 0), max(tile.col_off, 0)
        r1 = min(tile.row_off + size, self.height)
        c1 = min(tile.col_off + size, self.width)
        if r1 <= r0 or c1 <= c0:
            image.fill(0.0)
            valid.fill(False)
            if unobserved is not None:
                unobserved.fill(False)
            return False
        window = Window(c0, r0, c1 - c0, r1 - r0)
        if self._quality is not None:
            self._quality.start(window)
        try:
            block = self._grid.read(self.indexes, window=window, out_dtype='float32')
        except rasterio.errors.RasterioError as error:
            msg = f'reading {self.path} at {window} failed (corrupt?): {error}'
            raise CorruptRasterError(msg) from error
        rows = slice(r0 - tile.row_off, r1 - tile.row_off)
        cols = slice(c0 - tile.col_off, c1 - tile.col_off)
        padded = (r1 - r0, c1 - c0) != (size, size)
        if padded:
            image.fill(0.0)
            valid.fill(False)
        ok = valid[rows, cols]
        self._valid_pixels(block, ok)
        if self._quality is not None:
            hidden = self._quality.read(window)
            hidden &= ok
            if unobserved is not None:
                if padded:
                    unobserved.fill(False)
                unobserved[rows, cols] = hidden
            ok &= ~hidden
        if self.scene_percentiles() is not None:
            apply_stretch(block, self.bands, self._stretch)
        # Invalid pixels end as 0. Integer bands are finite: each channel is
        # multiplied by the validity while it is in cache, which costs half a
        # masked copy of all channels after. Float bands may hold NaN or
        # infinity, which a product keeps: they take the masked copy.
        keep = None
        if not self._may_be_nan and not ok.all():
            keep = ok.astype(np.float32)
        with np.errstate(invalid='ignore', divide='ignore', over='ignore'):
            for channel, (first, second, mean, std) in enumerate(self._plan):
                out = image[channel, rows, cols]
                if second is None:
                    np.subtract(block[first], mean, out=out)
                else:
                    _normalized_difference(block[first], block[second], out)
                    out -= mean
                out /= std
                if keep is not None:
                    out *= keep
        if self._may_be_nan and not ok.all():
            np.copyto(image[:, rows, cols], 0.0, where=~ok)
        return bool(ok.any())

    def _valid_pixels(self, block: np.ndarray, ok: np.ndarray) -> None:
        """Write into *ok* which pixels of *block* no band marks nodata or NaN."""
        ok.fill(True)
        for band in block:
            if self._may_be_nan:
                ok &= np.isfinite(band)
            if self._nodata is not None:
                ok &= band != self._nodata

    def read(self, tile: Tile) -> tuple[Tensor, Tensor]:
        """Normalised ``(C, size, size)`` image and validity mask over a tile."""
        image = np.empty((self.channels, tile.size, tile.size), dtype=np.float32)
        valid = np.empty((tile.size, tile.size), dtype=bool)
        self.read_into(tile, image, valid)
        return torch.from_numpy(image), torch.from_numpy(valid)

    def close(self) -> None:
        """Close the file (and its resampled view and quality mask)."""
        if self._quality is not None:
            self._quality.close()
        grid = getattr(self, '_grid', self._src)
        if grid is not self._src:
            grid.close()
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
