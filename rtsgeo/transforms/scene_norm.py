"""Per-scene radiometric normalisation: a robust linear stretch of the raw bands.

Scenes differ in brightness and colour by sensor, processing level, sun angle
and atmosphere, so much that a model normalised with fixed training statistics
sees another place's scene as unfamiliar. :class:`SceneStretch` maps each
reflectance band of a scene (see :func:`~rtsgeo.modalities.reflectance_bands`)
linearly, so that the band's low and high percentiles over the scene's valid,
observed pixels (2 % and 98 % by default) land on reference values, those of
the training set (the median over its image files)::

    x' = ref_lo + (x - p_lo) * (ref_hi - ref_lo) / (p_hi - p_lo)

The stretch applies to the raw bands as read, before NDVI is derived from
them and before :class:`~rtsgeo.transforms.NormalizeModalities`. Training
(:class:`~rtsgeo.datasets.MultimodalRasterDataset`) and mapping
(:class:`~rtsgeo.predict.SceneReader`) measure a file with the same
:func:`measure_scene` and apply :func:`apply_stretch`, so a pixel gets the
same value in both. A file is measured once, as a whole, on its own grid
(decimated above :data:`DEFAULT_MAX_PIXELS`): windows and tiles of one scene
all get its one stretch, so tiling stays seam-free.
"""

from __future__ import annotations

import functools
import math
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.errors
from affine import Affine
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.vrt import WarpedVRT

from ..errors import ConfigError, CorruptRasterError
from ..quality import QualityMask

__all__ = [
    'DEFAULT_MAX_PIXELS',
    'DEFAULT_PERCENTILES',
    'SCENE_NORMS',
    'BandRanges',
    'SceneStretch',
    'apply_stretch',
    'band_percentiles',
    'check_scene_norm',
    'decimated_shape',
    'measure_scene',
    'reference_percentiles',
    'stretch_coefficients',
]

#: The per-scene normalisations there are (``None`` is none).
SCENE_NORMS = ('percentile',)
#: The low and high percentiles measured by default.
DEFAULT_PERCENTILES = (2.0, 98.0)
#: Most pixels read to measure a scene: a larger one is read decimated (a
#: nearest-neighbour sample on a coarser grid, from overviews where it has them).
DEFAULT_MAX_PIXELS = 1_000_000

#: band name -> (low, high) value.
BandRanges = dict[str, tuple[float, float]]


def check_scene_norm(value: str | None) -> str | None:
    """*value* when it names a per-scene normalisation (or is None).

    Raises:
        ConfigError: If it names none.
    """
    if value is None or value in SCENE_NORMS:
        return value
    msg = (
        f'scene_norm={value!r} is unknown: use {" or ".join(map(repr, SCENE_NORMS))}'
        ', or None for the fixed training statistics alone'
    )
    raise ConfigError(msg)


def _check_percentiles(low: float, high: float) -> None:
    if not 0.0 <= low < high <= 100.0:
        msg = f'percentiles ({low}, {high}): need 0 <= low < high <= 100'
        raise ConfigError(msg)


def band_percentiles(
    block: np.ndarray,
    names: Sequence[str],
    valid: np.ndarray | None = None,
    low: float = DEFAULT_PERCENTILES[0],
    high: float = DEFAULT_PERCENTILES[1],
) -> BandRanges:
    """The low and high percentiles of each band of a block over its valid pixels.

    Args:
        block: ``(C, H, W)`` values.
        names: the band name of each row of *block*.
        valid: ``(H, W)`` bool, the pixels that count (None: all); a pixel
            that is not finite in some band never counts.
        low: lower percentile (0-100).
        high: upper percentile.

    Returns:
        band -> ``(p_lo, p_hi)``; empty when no pixel counts.

    Raises:
        ConfigError: If the percentiles are out of order or range.
        ValueError: If *names* does not name every row.
    """
    _check_percentiles(low, high)
    if len(names) != len(block):
        msg = f'{len(names)} band names for a block of {len(block)} bands'
        raise ValueError(msg)
    ok = np.isfinite(block).all(axis=0)
    if valid is not None:
        ok &= valid
    pixels = block[:, ok].astype(np.float64)
    if pixels.shape[1] == 0:
        return {}
    values = np.percentile(pixels, [low, high], axis=1)
    return {
        name: (float(values[0, row]), float(values[1, row]))
        for row, name in enumerate(names)
    }


def reference_percentiles(
    scenes: Iterable[Mapping[str, tuple[float, float]]],
) -> BandRanges:
    """The median over scenes of each band's low and of its high percentile.

    Args:
        scenes: the percentiles of each training file (see :func:`measure_scene`).

    Returns:
        band -> ``(ref_lo, ref_hi)``, over the scenes that have the band.

    Raises:
        ValueError: If no scene has a band (no valid pixel anywhere).
    """
    lows: dict[str, list[float]] = {}
    highs: dict[str, list[float]] = {}
    for scene in scenes:
        for band, (lo, hi) in scene.items():
            lows.setdefault(band, []).append(lo)
            highs.setdefault(band, []).append(hi)
    if not lows:
        msg = 'no training file has a valid pixel: cannot find reference percentiles'
        raise ValueError(msg)
    return {
        band: (statistics.median(lows[band]), statistics.median(highs[band]))
        for band in lows
    }


def _span_floor(lo: float, hi: float) -> float:
    """Ranges narrower than this are constant bands, at float32 precision."""
    return 1e-6 * max(1.0, abs(lo), abs(hi))


def stretch_coefficients(
    scene: Mapping[str, tuple[float, float]],
    reference: Mapping[str, tuple[float, float]],
) -> dict[str, tuple[float, float]]:
    """Gain and offset per band that map a scene's percentiles onto the reference.

    ``x' = gain * x + offset``, the stretch of this module's formula. A band
    whose scene range is about 0 wide (constant, or saturated beyond both
    percentiles) is shifted so that its value lands mid-reference, with a
    gain of 1: dividing by a tiny range would blow its few other values up.
    Bands of the reference that the scene lacks get no coefficients (they
    are left as they are).

    Args:
        scene: the scene's ``(p_lo, p_hi)`` per band.
        reference: ``(ref_lo, ref_hi)`` per band.

    Returns:
        band -> ``(gain, offset)``.
    """
    out: dict[str, tuple[float, float]] = {}
    for band, (ref_lo, ref_hi) in reference.items():
        if band not in scene:
            continue
        lo, hi = scene[band]
        if hi - lo > _span_floor(lo, hi):
            gain = (ref_hi - ref_lo) / (hi - lo)
            out[band] = (gain, ref_lo - lo * gain)
        else:
            out[band] = (1.0, (ref_lo + ref_hi) / 2 - (lo + hi) / 2)
    return out


def apply_stretch(
    block: np.ndarray,
    names: Sequence[str],
    coefficients: Mapping[str, tuple[float, float]],
) -> None:
    """Stretch the rows of a float32 ``(C, H, W)`` block in place.

    The one arithmetic of the stretch, in float32, for training reads and
    mapping tiles alike. Rows whose band has no coefficients stay as they
    are; so do infinite fill values (gains are positive) and NaN.

    Args:
        block: the bands as read.
        names: the band name of each row.
        coefficients: band -> ``(gain, offset)`` (see :func:`stretch_coefficients`).
    """
    for row, name in enumerate(names):
        pair = coefficients.get(name)
        if pair is not None:
            block[row] *= np.float32(pair[0])
            block[row] += np.float32(pair[1])


def decimated_shape(height: int, width: int, max_pixels: int) -> tuple[int, int]:
    """``(h, w)`` of a raster read with at most about *max_pixels* pixels.

    The raster's own shape when it holds no more; else both sides divided by
    the same whole factor (rounded up).
    """
    factor = max(1, math.ceil(math.sqrt(height * width / max_pixels)))
    return -(-height // factor), -(-width // factor)


def measure_scene(
    path: str | Path,
    band_names: Sequence[str],
    bands: Sequence[str],
    quality: QualityMask | None = None,
    low: float = DEFAULT_PERCENTILES[0],
    high: float = DEFAULT_PERCENTILES[1],
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> BandRanges:
    """The low and high percentiles of a raster file's bands over its valid pixels.

    A pixel counts when none of the measured bands is nodata, NaN or infinite
    and the quality mask, if any, does not mark it unobserved. A file of more
    than *max_pixels* pixels is measured on a decimated read (nearest
    neighbour; GDAL takes an overview where the file has one). Results are
    kept per file (path, size and modification time), so a file is read once
    per process for the same question.

    Args:
        path: the raster file, on its own grid.
        band_names: canonical names of the file's bands, in file order.
        bands: the bands to measure; those the file lacks are left out.
        quality: the scene's quality mask (see :mod:`rtsgeo.quality`).
        low: lower percentile (0-100).
        high: upper percentile.
        max_pixels: most pixels read.

    Returns:
        band -> ``(p_lo, p_hi)``; empty when the file has none of the bands or
        no valid pixel (on the decimated read).

    Raises:
        CorruptRasterError: If the file or its mask raster cannot be read.
        DataNotFoundError: If the mask raster does not exist.
        BandNotFoundError: If the scene lacks its mask band.
    """
    names = tuple(band_names)
    wanted = tuple(band for band in bands if band in names)
    if not wanted:
        return {}
    stat = os.stat(path)
    measured = _measure(
        str(path),
        stat.st_mtime_ns,
        stat.st_size,
        names,
        wanted,
        quality,
        float(low),
        float(high),
        int(max_pixels),
    )
    return {band: (lo, hi) for band, lo, hi in measured}


@functools.lru_cache(maxsize=4096)
def _measure(
    path: str,
    mtime_ns: int,
    size: int,
    names: tuple[str, ...],
    wanted: tuple[str, ...],
    quality: QualityMask | None,
    low: float,
    high: float,
    max_pixels: int,
) -> tuple[tuple[str, float, float], ...]:
    """:func:`measure_scene`, cached; *mtime_ns* and *size* only key the cache."""
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as error:
        msg = f'{path} cannot be opened as a raster (corrupt or truncated?): {error}'
        raise CorruptRasterError(msg) from error
    with src:
        shape = decimated_shape(src.height, src.width, max_pixels)
        indexes = [names.index(band) + 1 for band in wanted]
        try:
            block = src.read(
                indexes,
                out_shape=(len(indexes), *shape),
                resampling=Resampling.nearest,
                out_dtype='float32',
            )
            valid = np.isfinite(block).all(axis=0)
            if src.nodata is not None and not math.isnan(src.nodata):
                valid &= (block != np.float32(src.nodata)).all(axis=0)
            if quality is not None:
                valid &= ~_unobserved(quality, path, src, names, shape)
        except rasterio.errors.RasterioError as error:
            msg = f'reading {path} to measure its percentiles failed: {error}'
            raise CorruptRasterError(msg) from error
    ranges = band_percentiles(block, wanted, valid, low, high)
    return tuple((band, lo, hi) for band, (lo, hi) in ranges.items())


def _unobserved(
    quality: QualityMask,
    path: str,
    src: DatasetReader,
    names: Sequence[str],
    shape: tuple[int, int],
) -> np.ndarray:
    """``shape`` bool on the (decimated) grid of *src*: True where unobserved.

    Mask bands of the scene are sampled as the bands are; a mask raster of
    its own is warped onto that grid by nearest neighbour, its outside and
    nodata counting as unobserved (as :mod:`rtsgeo.quality` says).
    """
    raster = quality.existing_raster(path)
    height, width = shape
    if raster is None:
        indexes = quality.band_indexes(path, names)
        block = src.read(
            indexes,
            out_shape=(len(indexes), height, width),
            resampling=Resampling.nearest,
        )
        return quality.flags(block, quality.needed_bands)
    transform = src.transform * Affine.scale(src.width / width, src.height / height)
    with (
        rasterio.open(raster) as mask,
        WarpedVRT(
            mask,
            crs=src.crs,
            transform=transform,
            width=width,
            height=height,
            resampling=Resampling.nearest,
            add_alpha=True,
        ) as vrt,
    ):
        block = vrt.read([*quality.needed_bands, vrt.count])
    hidden: np.ndarray = quality.flags(block[:-1], quality.needed_bands)
    return hidden | (block[-1] == 0)


@dataclass(frozen=True)
class SceneStretch:
    """The percentile stretch of every scene onto the training set's percentiles.

    What a trained-model file records (:meth:`to_dict`) and what training
    and mapping apply: measure a scene with :meth:`measure`, turn its
    percentiles into gains and offsets with :meth:`coefficients`, and apply
    them with :func:`apply_stretch`. Frozen and hashable, so it can key caches.

    Attributes:
        reference: ``(band, ref_lo, ref_hi)`` per stretched band, sorted by
            band: the training set's percentiles (see :meth:`from_ranges`).
        low: lower percentile (0-100).
        high: upper percentile.
        max_pixels: most pixels read to measure a scene.
    """

    reference: tuple[tuple[str, float, float], ...]
    low: float = DEFAULT_PERCENTILES[0]
    high: float = DEFAULT_PERCENTILES[1]
    max_pixels: int = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        _check_percentiles(self.low, self.high)
        if self.max_pixels < 1:
            raise ConfigError(f'max_pixels={self.max_pixels}: read at least 1 pixel')
        if not self.reference:
            raise ConfigError('a scene stretch needs reference percentiles')
        for band, lo, hi in self.reference:
            if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
                msg = (
                    f'reference percentiles of band {band!r} are ({lo}, {hi}): '
                    'need finite values, low < high (is the band constant in '
                    'the training images?)'
                )
                raise ConfigError(msg)

    @classmethod
    def from_ranges(
        cls,
        reference: Mapping[str, Sequence[float]],
        low: float = DEFAULT_PERCENTILES[0],
        high: float = DEFAULT_PERCENTILES[1],
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> SceneStretch:
        """A stretch onto ``band -> (ref_lo, ref_hi)`` reference values.

        Raises:
            ConfigError: If a band has not two values, or a setting is out of range.
        """
        rows = []
        for band, values in sorted(reference.items()):
            if len(values) != 2:
                msg = f'reference of band {band!r} is {list(values)}: give [low, high]'
                raise ConfigError(msg)
            rows.append((str(band), float(values[0]), float(values[1])))
        return cls(tuple(rows), float(low), float(high), int(max_pixels))

    @property
    def bands(self) -> tuple[str, ...]:
        """The bands stretched."""
        return tuple(band for band, _, _ in self.reference)

    @property
    def ranges(self) -> BandRanges:
        """The reference as ``band -> (ref_lo, ref_hi)``."""
        return {band: (lo, hi) for band, lo, hi in self.reference}

    def measure(
        self,
        path: str | Path,
        band_names: Sequence[str],
        quality: QualityMask | None = None,
    ) -> BandRanges:
        """A file's percentiles of the stretched bands (see :func:`measure_scene`)."""
        return measure_scene(
            path, band_names, self.bands, quality, self.low, self.high, self.max_pixels
        )

    def coefficients(
        self, scene: Mapping[str, tuple[float, float]]
    ) -> dict[str, tuple[float, float]]:
        """Gain and offset per band for a scene's percentiles (from :meth:`measure`)."""
        return stretch_coefficients(scene, self.ranges)

    def to_dict(self) -> dict[str, Any]:
        """The stretch as plain values, as trained-model files record it."""
        return {
            'method': 'percentile',
            'percentiles': [self.low, self.high],
            'max_pixels': self.max_pixels,
            'reference': {band: [lo, hi] for band, lo, hi in self.reference},
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> SceneStretch:
        """The stretch :meth:`to_dict` wrote.

        Raises:
            ConfigError: If the record is not one.
        """
        try:
            check_scene_norm(values['method'])
            low, high = values['percentiles']
            return cls.from_ranges(
                values['reference'], low, high, int(values['max_pixels'])
            )
        except ConfigError:
            raise
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            msg = f'not a scene normalisation record ({error!r}): {values!r}'
            raise ConfigError(msg) from None
