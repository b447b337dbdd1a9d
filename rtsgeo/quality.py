"""Quality masks: which pixels of a scene were observed, one definition for all.

Optical scenes of the Arctic carry cloud, cloud shadow, haze and late snow.
A *quality mask* says which pixels show the ground: the Sentinel-2 L2A scene
classification (SCL), PlanetScope's UDM2, Landsat Collection 2 ``QA_PIXEL``
bit flags, or any raster where non-zero means unobserved. Mapping
(:class:`~rtsgeo.predict.SceneReader`) and training
(:class:`~rtsgeo.datasets.MultimodalRasterDataset`) read it through this
module, so both agree on what "unobserved" means. Unobserved pixels are
nodata for the model and absent from a campaign's ``coverage`` layer.

A mask is either band(s) of the scene itself (described ``scl``,
``qa_pixel``, ``unobserved`` or ``udm2_1`` ... ``udm2_8``; a sensor preset
may name them) or a raster of its own, given as a path template such as
``{dir}/{stem}_SCL.tif`` (``{stem}``: the scene file's name without its
suffix, ``{dir}``: its folder). Class rasters are resampled to the scene's
grid by nearest neighbour; pixels outside the mask raster count as unobserved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import BandNotFoundError, ConfigError, DataNotFoundError

__all__ = [
    'MASK_FORMATS',
    'MaskFormat',
    'QualityMask',
    'get_mask_format',
    'parse_quality_mask',
]


@dataclass(frozen=True)
class MaskFormat:
    """How one kind of quality raster encodes its classes.

    Attributes:
        name: format name (``scl``, ``udm2``, ``qa_pixel``, ``nonzero``).
        rule: ``'value'`` (a class per pixel value), ``'bands'`` (one band
            per class, set when non-zero) or ``'bits'`` (one bit per class).
        classes: class name -> its pixel value, 1-based band or bit number.
        default: classes counted as unobserved unless told otherwise.
        bands: names of the mask's bands when they are bands of the scene
            (band 1 of a separate raster first).
        description: the product, for listings and docs.
    """

    name: str
    rule: str
    classes: Mapping[str, int]
    default: tuple[str, ...]
    bands: tuple[str, ...]
    description: str = ''


#: The quality-mask formats rtsgeo reads, by name.
MASK_FORMATS: dict[str, MaskFormat] = {
    fmt.name: fmt
    for fmt in (
        MaskFormat(
            'scl',
            'value',
            {
                'no_data': 0,
                'saturated_defective': 1,
                'dark_area': 2,
                'cloud_shadow': 3,
                'vegetation': 4,
                'not_vegetated': 5,
                'water': 6,
                'unclassified': 7,
                'cloud_medium': 8,
                'cloud_high': 9,
                'thin_cirrus': 10,
                'snow_ice': 11,
            },
            (
                'no_data',
                'saturated_defective',
                'cloud_shadow',
                'cloud_medium',
                'cloud_high',
                'thin_cirrus',
                'snow_ice',
            ),
            ('scl',),
            'Sentinel-2 L2A scene classification (SCL), one class value per pixel',
        ),
        MaskFormat(
            'udm2',
            'bands',
            {
                'snow': 2,
                'shadow': 3,
                'light_haze': 4,
                'heavy_haze': 5,
                'cloud': 6,
                'unusable': 8,
            },
            ('snow', 'shadow', 'heavy_haze', 'cloud', 'unusable'),
            tuple(f'udm2_{band}' for band in range(1, 9)),
            'PlanetScope UDM2, 8 bands: clear, snow, shadow, light haze, heavy '
            'haze, cloud, confidence, unusable (UDM1 bits)',
        ),
        MaskFormat(
            'qa_pixel',
            'bits',
            {
                'fill': 0,
                'dilated_cloud': 1,
                'cirrus': 2,
                'cloud': 3,
                'cloud_shadow': 4,
                'snow': 5,
                'water': 7,
            },
            ('fill', 'dilated_cloud', 'cirrus', 'cloud', 'cloud_shadow', 'snow'),
            ('qa_pixel',),
            'Landsat Collection 2 QA_PIXEL bit flags (bit 0 first)',
        ),
        MaskFormat(
            'nonzero',
            'value',
            {'nonzero': 1},
            ('nonzero',),
            ('unobserved',),
            'any raster or band: non-zero means unobserved',
        ),
    )
}


def get_mask_format(name: str) -> MaskFormat:
    """The format called *name* (case-insensitive).

    Raises:
        ConfigError: If there is no such format.
    """
    try:
        return MASK_FORMATS[name.strip().lower()]
    except KeyError:
        known = ', '.join(MASK_FORMATS)
        msg = f'unknown quality mask format {name!r}: choose one of {known}'
        raise ConfigError(msg) from None


@dataclass(frozen=True)
class QualityMask:
    """A quality mask: its format, the classes that count, and where it is.

    Attributes:
        format: a key of :data:`MASK_FORMATS`.
        unobserved: classes counted as unobserved (None or empty: the
            format's default).
        path: the mask raster as a path template (``{stem}`` and ``{dir}``
            of the scene are filled in); None: band(s) of the scene itself.
    """

    format: str
    unobserved: tuple[str, ...] | None = None
    path: str | None = None
    _codes: tuple[int, ...] = field(init=False, repr=False, compare=False)
    # Class-coded masks: unobserved or not per uint8 value, built once.
    _table: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fmt = get_mask_format(self.format)
        object.__setattr__(self, 'format', fmt.name)
        classes = tuple(self.unobserved or fmt.default)
        unknown = [c for c in classes if c not in fmt.classes]
        if unknown:
            msg = (
                f'unknown {fmt.name} class(es) {unknown}: choose from '
                f'{", ".join(fmt.classes)}'
            )
            raise ConfigError(msg)
        object.__setattr__(self, 'unobserved', classes)
        object.__setattr__(self, '_codes', tuple(fmt.classes[c] for c in classes))
        table = np.zeros(256, dtype=bool)
        table[[code for code in self._codes if 0 <= code < 256]] = True
        object.__setattr__(self, '_table', table)
        if self.path is not None:
            self.raster_path('scene.tif')  # an unknown field fails here, early

    @property
    def spec(self) -> MaskFormat:
        """The mask's format."""
        return MASK_FORMATS[self.format]

    @property
    def band_count(self) -> int:
        """Bands of the mask product (8 for UDM2, else 1)."""
        return len(self.spec.bands)

    def raster_path(self, scene: str | Path) -> str | None:
        """The mask raster of *scene* (None when the mask is a band of the scene)."""
        if self.path is None:
            return None
        scene = Path(scene)
        try:
            return self.path.format(stem=scene.stem, dir=str(scene.parent))
        except (KeyError, IndexError, ValueError) as error:
            msg = (
                f'quality mask path {self.path!r} has an unknown field ({error}): '
                'use {stem} and {dir} only'
            )
            raise ConfigError(msg) from None

    def check_bands(self, scene: str | Path, band_names: Sequence[str]) -> None:
        """Check that *scene*, whose bands are *band_names*, holds the mask's bands.

        Raises:
            BandNotFoundError: Naming the first band missing and the fixes.
        """
        missing = [band for band in self.spec.bands if band not in band_names]
        if missing:
            msg = (
                f'scene {scene} has no band {missing[0]!r} for the {self.format} '
                f'quality mask (its bands: {list(band_names)}): describe that '
                f'band, use a sensor preset that has it, or give the mask '
                f'raster as {self.format}=PATH'
            )
            raise BandNotFoundError(msg)

    def band_indexes(self, scene: str | Path, band_names: Sequence[str]) -> list[int]:
        """1-based indexes in *scene* of the mask bands that decide.

        Those of :attr:`needed_bands`, among the scene's *band_names*.

        Raises:
            BandNotFoundError: If *scene* lacks a band of the mask (see
                :meth:`check_bands`).
        """
        self.check_bands(scene, band_names)
        names, wanted = list(band_names), self.spec.bands
        return [names.index(wanted[band - 1]) + 1 for band in self.needed_bands]

    def existing_raster(self, scene: str | Path) -> str | None:
        """The mask raster of *scene*, checked to exist (None: a band of it).

        Raises:
            DataNotFoundError: If the path template leads to no file.
        """
        path = self.raster_path(scene)
        if path is not None and not Path(path).is_file():
            msg = (
                f'quality mask {path} of scene {scene} does not exist: check the '
                'path template ({stem}, {dir})'
            )
            raise DataNotFoundError(msg)
        return path

    @property
    def needed_bands(self) -> tuple[int, ...]:
        """The mask's bands (1-based, in :attr:`MaskFormat.bands`) that decide.

        For UDM2 only the bands of the classes counted; else band 1.
        """
        if self.spec.rule == 'bands':
            return tuple(sorted(self._codes))
        return (1,)

    def flags(
        self, block: np.ndarray, bands: Sequence[int] | None = None
    ) -> np.ndarray:
        """Which pixels of a mask window are unobserved.

        Args:
            block: ``(bands, h, w)`` integer values of the mask's bands.
            bands: the 1-based band (in :attr:`MaskFormat.bands`) of each row
                of *block*; None: all of them, in order.

        Returns:
            ``(h, w)`` bool, True where unobserved.
        """
        spec = self.spec
        if spec.rule == 'bands':
            numbers = range(1, len(block) + 1) if bands is None else bands
            out = np.zeros(block.shape[1:], dtype=bool)
            for row, band in zip(block, numbers, strict=True):
                if band in self._codes:
                    out |= row != 0
            return out
        values = block[0]
        if spec.rule == 'bits':
            bits = sum(1 << bit for bit in self._codes)
            unsigned = np.issubdtype(values.dtype, np.unsignedinteger)
            if unsigned and bits <= np.iinfo(values.dtype).max:
                return (values & values.dtype.type(bits)) != 0
            return (values.astype(np.int64, copy=False) & bits) != 0
        if spec.name == 'nonzero':
            return values != 0
        if values.dtype == np.uint8:
            return self._table[values]
        return np.isin(values, self._codes)


def parse_quality_mask(
    text: str | QualityMask, unobserved: str | Sequence[str] | None = None
) -> QualityMask:
    """A quality mask from ``FORMAT`` or ``FORMAT=PATH_TEMPLATE``.

    Args:
        text: e.g. ``'scl'`` (the scene's band described ``scl``),
            ``'scl={dir}/{stem}_SCL.tif'`` or ``'udm2=udm2/{stem}.tif'``; a
            :class:`QualityMask` is returned as it is unless *unobserved* is given.
        unobserved: classes to count, comma-separated or a list (None: the
            format's default).

    Raises:
        ConfigError: If the format or a class is unknown, or the path is empty.
    """
    if isinstance(unobserved, str):
        unobserved = [c.strip().lower() for c in unobserved.split(',') if c.strip()]
    classes = tuple(unobserved) if unobserved else None
    if isinstance(text, QualityMask):
        if classes is None:
            return text
        return QualityMask(text.format, classes, text.path)
    name, sep, path = text.partition('=')
    if sep and not path.strip():
        msg = f'quality mask {text!r} has an empty path: use FORMAT or FORMAT=PATH'
        raise ConfigError(msg)
    return QualityMask(name, classes, path.strip() or None)
