"""Modalities and sensor presets: the one source of truth for band and channel order.

A *modality* is one input branch of the model (RGB, NIR, NDVI, slope, ...). It
names the scene bands it is made from and how: stacked as they are, or derived
as a normalised difference (NDVI). A *sensor preset* names the band order of
files that carry no band descriptions. The model, the datasets and the
predictor all take the channel layout from :func:`channel_layout`, so the order
is defined here and nowhere else.

Canonical band names follow the STAC ``eo`` common names where one exists
(``coastal``, ``blue``, ``green``, ``red``, ``yellow``, ``rededge``, ``nir``,
``nir08``, ``nir09``, ``swir16``, ``swir22``); bands without a unique common
name get a numbered one (Sentinel-2's ``rededge1`` to ``rededge3``, WorldView's
``nir2``, SuperDove's ``green_i``). A file may also carry a ready-made ``ndvi``
band: the NDVI modality then reads it instead of deriving it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from .errors import BandNotFoundError, ConfigError

__all__ = [
    'MODALITIES',
    'ND_EPS',
    'SENSORS',
    'Modality',
    'SensorPreset',
    'canonical_band_name',
    'channel_layout',
    'compute_modalities',
    'get_modality',
    'get_sensor',
    'modality_channel_names',
    'normalized_difference',
    'reflectance_bands',
    'required_bands',
    'resolve_band_names',
]


@dataclass(frozen=True)
class Modality:
    """How one modality is made from a scene's bands.

    Attributes:
        name: short lower-case name used in configs (``'rgb'``, ``'ndvi'``).
        bands: canonical band names read from the scene, in channel order for
            ``'stack'``; for ``'normalized_difference'`` the pair ``(a, b)``.
        derive: ``'stack'`` copies the bands; ``'normalized_difference'``
            computes ``(a - b) / (a + b)`` as one channel.
        stored: name of a band that holds a derived modality ready-made (the
            ``ndvi`` band of the paper's samples). When a file carries it, it is
            read as the modality's one channel instead of deriving it.
        reflectance: its :attr:`bands` are reflectance (or radiance), whose
            scale differs between scenes: a per-scene normalisation (see
            :mod:`rtsgeo.transforms.scene_norm`) stretches them. False for
            bands with a physical scale of their own (slope, elevation).
    """

    name: str
    bands: tuple[str, ...]
    derive: Literal['stack', 'normalized_difference'] = 'stack'
    stored: str | None = None
    reflectance: bool = False

    @property
    def channels(self) -> int:
        """Number of channels this modality contributes to the image tensor."""
        return 1 if self.derive == 'normalized_difference' else len(self.bands)

    def source_bands(self, available: Collection[str] | None = None) -> tuple[str, ...]:
        """Bands this modality reads from a file with the *available* bands.

        Args:
            available: canonical band names of the file; ``None`` when not
                known, which gives the bands the modality is derived from.

        Returns:
            ``(stored,)`` when the file carries the stored band, else :attr:`bands`.
        """
        if (
            self.stored is not None
            and available is not None
            and self.stored in available
        ):
            return (self.stored,)
        return self.bands


@dataclass(frozen=True)
class SensorPreset:
    """Band order of a sensor's files, used when a file has no band descriptions.

    Attributes:
        name: preset name used in configs.
        bands: canonical band names in file order (band 1 first).
        description: the product and band order in words, for listings.
        quality: the quality-mask format (a key of
            :data:`rtsgeo.quality.MASK_FORMATS`) of the mask band(s) the
            preset holds, applied when mapping with it unless another mask is
            given; None: the preset has no mask band.
    """

    name: str
    bands: tuple[str, ...]
    description: str = ''
    quality: str | None = None


#: Built-in modalities. NDVI is derived on the fly from red and nir, unless the
#: file carries an ``ndvi`` band (see :attr:`Modality.stored`).
MODALITIES: dict[str, Modality] = {
    'rgb': Modality('rgb', ('red', 'green', 'blue'), reflectance=True),
    'nir': Modality('nir', ('nir',), reflectance=True),
    'ndvi': Modality(
        'ndvi', ('nir', 'red'), 'normalized_difference', 'ndvi', reflectance=True
    ),
    'slope': Modality('slope', ('slope',)),
    'dem': Modality('dem', ('dem',)),
}


#: Built-in sensor presets (band order in the file, band 1 first).
#:
#: Sentinel-2 exports come in several orders. ``sentinel2`` is the four 10 m bands
#: B2, B3, B4, B8 (blue, green, red, nir). ``sentinel2_10band`` is the ten 10 m
#: and 20 m bands and ``sentinel2_12band`` all twelve L2A bands (L2A has no
#: B10), both in band-number order with B8A after B8: the order of the L2A
#: product's band list and of Google Earth Engine's ``COPERNICUS/S2_SR_HARMONIZED``
#: (TorchGeo's ``Sentinel2.all_bands`` too, less B10), which a plain band
#: selection keeps. Stacks that put the 10 m bands first (B2, B3, B4, B8, B5, ...)
#: have no preset: set their band descriptions instead (``B08``, ``B05``, ...).
SENSORS: dict[str, SensorPreset] = {
    preset.name: preset
    for preset in (
        SensorPreset(
            'planetscope',
            ('blue', 'green', 'red', 'nir'),
            'PlanetScope 4-band analytic (B, G, R, NIR)',
        ),
        SensorPreset(
            'planetscope_8band',
            ('coastal', 'blue', 'green_i', 'green', 'yellow', 'red', 'rededge', 'nir'),
            'PlanetScope SuperDove 8-band analytic',
        ),
        SensorPreset(
            'sentinel2',
            ('blue', 'green', 'red', 'nir'),
            'Sentinel-2 L2A 10 m bands B2, B3, B4, B8',
        ),
        SensorPreset(
            'sentinel2_scl',
            ('blue', 'green', 'red', 'nir', 'scl'),
            'Sentinel-2 L2A B2, B3, B4, B8 and the scene classification (SCL) '
            'as quality mask',
            quality='scl',
        ),
        SensorPreset(
            'sentinel2_10band',
            (
                'blue',
                'green',
                'red',
                'rededge1',
                'rededge2',
                'rededge3',
                'nir',
                'nir08',
                'swir16',
                'swir22',
            ),
            'Sentinel-2 L2A 10 m and 20 m bands B2-B8, B8A, B11, B12',
        ),
        SensorPreset(
            'sentinel2_12band',
            (
                'coastal',
                'blue',
                'green',
                'red',
                'rededge1',
                'rededge2',
                'rededge3',
                'nir',
                'nir08',
                'nir09',
                'swir16',
                'swir22',
            ),
            'Sentinel-2 L2A bands B1-B8, B8A, B9, B11, B12',
        ),
        SensorPreset(
            'landsat_oli',
            ('coastal', 'blue', 'green', 'red', 'nir', 'swir16', 'swir22'),
            'Landsat 8/9 OLI Collection 2 surface reflectance SR_B1-SR_B7',
        ),
        SensorPreset(
            'landsat_oli_qa',
            ('coastal', 'blue', 'green', 'red', 'nir', 'swir16', 'swir22', 'qa_pixel'),
            'Landsat 8/9 OLI Collection 2 SR_B1-SR_B7 and QA_PIXEL as quality mask',
            quality='qa_pixel',
        ),
        SensorPreset(
            'worldview_8band',
            ('coastal', 'blue', 'green', 'yellow', 'red', 'rededge', 'nir', 'nir2'),
            'Maxar WorldView-2/3 8-band multispectral (NIR1 is nir)',
        ),
        SensorPreset(
            'worldview_4band',
            ('blue', 'green', 'red', 'nir'),
            'Maxar WorldView-2/3 4-band multispectral (B, G, R, NIR1)',
        ),
        SensorPreset(
            'naip', ('red', 'green', 'blue', 'nir'), 'NAIP 4-band (R, G, B, NIR)'
        ),
        SensorPreset(
            'paper_sample',
            ('red', 'green', 'blue', 'ndvi', 'nir'),
            "the paper's 5-band samples, NDVI stored as a band",
        ),
        SensorPreset('rgbn', ('red', 'green', 'blue', 'nir'), 'any R, G, B, NIR file'),
        SensorPreset('rgb', ('red', 'green', 'blue'), 'any R, G, B file'),
    )
}

# Band descriptions seen in the wild, mapped to canonical names: single letters,
# Sentinel-2 band numbers (B2, B02, B8A), Landsat Collection 2 names (SR_B4),
# and product names such as 'Coastal Blue' or 'NIR1'. Bare B5, B6 and B7 are
# left alone: they are red edge on Sentinel-2 but NIR and SWIR on Landsat 8/9.
_BAND_ALIASES: dict[str, str] = {
    'b': 'blue',
    'b2': 'blue',
    'b02': 'blue',
    'g': 'green',
    'b3': 'green',
    'b03': 'green',
    'r': 'red',
    'b4': 'red',
    'b04': 'red',
    'n': 'nir',
    'b8': 'nir',
    'b08': 'nir',
    'nir1': 'nir',
    'near-infrared': 'nir',
    'near_infrared': 'nir',
    'nearinfrared': 'nir',
    'b1': 'coastal',
    'b01': 'coastal',
    'coastal blue': 'coastal',
    'coastal_blue': 'coastal',
    'coastal aerosol': 'coastal',
    'coastal_aerosol': 'coastal',
    'green i': 'green_i',
    'red edge': 'rededge',
    'red_edge': 'rededge',
    'b05': 'rededge1',
    'b06': 'rededge2',
    'b07': 'rededge3',
    'b8a': 'nir08',
    'b09': 'nir09',
    'b9': 'nir09',
    'b11': 'swir16',
    'b12': 'swir22',
    'swir1': 'swir16',
    'swir2': 'swir22',
    'sr_b1': 'coastal',
    'sr_b2': 'blue',
    'sr_b3': 'green',
    'sr_b4': 'red',
    'sr_b5': 'nir',
    'sr_b6': 'swir16',
    'sr_b7': 'swir22',
    'elevation': 'dem',
}


def get_modality(name: str | Modality) -> Modality:
    """Look up a modality by name.

    Args:
        name: a key of :data:`MODALITIES`, or a :class:`Modality` (returned as is).

    Returns:
        The modality.

    Raises:
        ConfigError: If the name is unknown.
    """
    if isinstance(name, Modality):
        return name
    try:
        return MODALITIES[name.lower()]
    except KeyError:
        known = ', '.join(sorted(MODALITIES))
        msg = f'unknown modality {name!r}: choose one of {known}'
        raise ConfigError(msg) from None


def get_sensor(name: str | SensorPreset) -> SensorPreset:
    """Look up a sensor preset by name.

    Args:
        name: a key of :data:`SENSORS`, or a :class:`SensorPreset`.

    Returns:
        The preset.

    Raises:
        ConfigError: If the name is unknown.
    """
    if isinstance(name, SensorPreset):
        return name
    try:
        return SENSORS[name.lower()]
    except KeyError:
        known = ', '.join(sorted(SENSORS))
        msg = f'unknown sensor preset {name!r}: choose one of {known}'
        raise ConfigError(msg) from None


def channel_layout(modalities: Sequence[str | Modality]) -> dict[str, slice]:
    """Channel slice of each modality in the stacked image tensor.

    Modalities are stacked in the order given; within a modality, channels follow
    :attr:`Modality.bands` (RGB is red, green, blue).

    Args:
        modalities: modality names in stacking order.

    Returns:
        Ordered mapping from modality name to its slice of the channel axis.

    Raises:
        ConfigError: If a name is unknown or repeated, or the list is empty.
    """
    if not modalities:
        raise ConfigError('at least one modality is needed, for example ["rgb"]')
    layout: dict[str, slice] = {}
    start = 0
    for item in modalities:
        modality = get_modality(item)
        if modality.name in layout:
            msg = f'modality {modality.name!r} is listed twice in {list(modalities)}'
            raise ConfigError(msg)
        layout[modality.name] = slice(start, start + modality.channels)
        start += modality.channels
    return layout


def required_bands(
    modalities: Sequence[str | Modality], available: Collection[str] | None = None
) -> tuple[str, ...]:
    """Canonical band names the modalities read, each once, in first-use order.

    Args:
        modalities: modality names.
        available: the file's band names, when known: a derived modality whose
            stored band the file carries reads that band instead (see
            :meth:`Modality.source_bands`).

    Returns:
        Band names.
    """
    bands: list[str] = []
    for item in modalities:
        for band in get_modality(item).source_bands(available):
            if band not in bands:
                bands.append(band)
    return tuple(bands)


def reflectance_bands(modalities: Sequence[str | Modality]) -> tuple[str, ...]:
    """The reflectance bands the modalities are made of, each once, in order.

    These are the bands a per-scene normalisation stretches (see
    :attr:`Modality.reflectance`): NDVI counts by the red and NIR bands it is
    derived from; a stored ``ndvi`` band, slope and elevation are not among them.
    """
    bands: list[str] = []
    for item in modalities:
        modality = get_modality(item)
        if modality.reflectance:
            bands += [band for band in modality.bands if band not in bands]
    return tuple(bands)


def canonical_band_name(description: str) -> str:
    """Canonical name of a band description (``'B04'`` -> ``'red'``)."""
    key = description.strip().lower()
    return _BAND_ALIASES.get(key, key)


def resolve_band_names(
    descriptions: Sequence[str | None],
    path: str,
    sensor: str | SensorPreset | None = None,
    default_single: str | None = None,
) -> tuple[str, ...]:
    """Band names of a file, from its descriptions or else from a sensor preset.

    Descriptions win when every band has one. Otherwise the sensor preset's order
    is used; a single-band file without a description takes *default_single*.

    Args:
        descriptions: the file's band descriptions (``rasterio``'s
            ``DatasetReader.descriptions``).
        path: the file, named in error messages.
        sensor: preset for files without descriptions.
        default_single: name for an undescribed single-band file (usually the
            name of the source folder, such as ``'slope'``).

    Returns:
        Canonical band names in file order.

    Raises:
        BandNotFoundError: If the names cannot be determined.
    """
    if descriptions and all(descriptions):
        return tuple(canonical_band_name(d) for d in descriptions if d)
    count = len(descriptions)
    if sensor is not None:
        preset = get_sensor(sensor)
        if len(preset.bands) == count:
            return preset.bands
        msg = (
            f'{path} has {count} bands but sensor preset {preset.name!r} '
            f'expects {len(preset.bands)} ({", ".join(preset.bands)}): '
            'choose the preset that matches the file or set band descriptions'
        )
        raise BandNotFoundError(msg)
    if count == 1 and default_single:
        return (canonical_band_name(default_single),)
    known = ', '.join(sorted(SENSORS))
    msg = (
        f'{path} has {count} bands without descriptions: pass sensor= one of '
        f'{known}, or set band descriptions (gdal_edit.py -mo or rasterio)'
    )
    raise BandNotFoundError(msg)


#: Band sums smaller than this make a normalised difference 0 (no inf or NaN).
ND_EPS = 1e-6


def normalized_difference(a: Tensor, b: Tensor, eps: float = ND_EPS) -> Tensor:
    """``(a - b) / (a + b)`` with a safe denominator, clamped to [-1, 1].

    Where ``|a + b| < eps`` (both bands dark, or nodata) the result is 0, never
    inf or NaN.
    """
    a = a.float()
    b = b.float()
    total = a + b
    safe = total.abs() >= eps
    ratio = (a - b) / torch.where(safe, total, torch.ones_like(total))
    return torch.where(safe, ratio, torch.zeros_like(ratio)).clamp(-1.0, 1.0)


def compute_modalities(
    bands: Mapping[str, Tensor],
    modalities: Sequence[str | Modality],
    valid: Tensor | None = None,
) -> Tensor:
    """Stack modalities from named single-band tensors.

    A modality with a stored band (NDVI) takes that band as it is when *bands*
    holds it and derives the modality otherwise.

    Args:
        bands: canonical band name -> ``(H, W)`` tensor of raw values.
        modalities: modalities in stacking order (see :func:`channel_layout`).
        valid: optional ``(H, W)`` bool tensor; pixels outside it are set to 0 in
            every channel so nodata never carries signal.

    Returns:
        ``(C, H, W)`` float32 tensor.

    Raises:
        BandNotFoundError: If a band a modality needs is missing.
    """
    channels: list[Tensor] = []
    for item in modalities:
        modality = get_modality(item)
        sources = modality.source_bands(bands.keys())
        missing = [band for band in sources if band not in bands]
        if missing:
            msg = (
                f'modality {modality.name!r} needs band(s) {missing}; '
                f'available: {sorted(bands)}'
            )
            raise BandNotFoundError(msg)
        if sources != modality.bands:
            channels.extend(bands[band].float() for band in sources)
        elif modality.derive == 'normalized_difference':
            first, second = modality.bands
            channels.append(normalized_difference(bands[first], bands[second]))
        else:
            channels.extend(bands[band].float() for band in modality.bands)
    image = torch.stack(channels)
    if valid is not None:
        image = image * valid.to(image.dtype)
    return image


def modality_channel_names(modalities: Sequence[str | Modality]) -> list[str]:
    """Human-readable name of every channel, e.g. ``['rgb:red', ..., 'ndvi']``."""
    names: list[str] = []
    for item in modalities:
        modality = get_modality(item)
        if modality.channels == 1:
            names.append(modality.name)
        else:
            names.extend(f'{modality.name}:{band}' for band in modality.bands)
    return names
