"""Modalities and sensor presets: the one source of truth for band and channel order.

A *modality* is one input branch of the model (RGB, NIR, NDVI, slope, ...). It
names the scene bands it is made from and how: stacked as they are, or derived
as a normalised difference (NDVI). A *sensor preset* names the band order of
files that carry no band descriptions. The model, the datasets and the
predictor all take the channel layout from :func:`channel_layout`, so the order
is defined here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from .errors import BandNotFoundError, ConfigError

__all__ = [
    'MODALITIES',
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
    """

    name: str
    bands: tuple[str, ...]
    derive: Literal['stack', 'normalized_difference'] = 'stack'

    @property
    def channels(self) -> int:
        """Number of channels this modality contributes to the image tensor."""
        return 1 if self.derive == 'normalized_difference' else len(self.bands)


@dataclass(frozen=True)
class SensorPreset:
    """Band order of a sensor's files, used when a file has no band descriptions.

    Attributes:
        name: preset name used in configs.
        bands: canonical band names in file order (band 1 first).
    """

    name: str
    bands: tuple[str, ...]


#: Built-in modalities. NDVI is derived on the fly from red and nir.
MODALITIES: dict[str, Modality] = {
    'rgb': Modality('rgb', ('red', 'green', 'blue')),
    'nir': Modality('nir', ('nir',)),
    'ndvi': Modality('ndvi', ('nir', 'red'), 'normalized_difference'),
    'slope': Modality('slope', ('slope',)),
    'dem': Modality('dem', ('dem',)),
}

#: Built-in sensor presets (band order in the file, band 1 first).
SENSORS: dict[str, SensorPreset] = {
    'planetscope': SensorPreset('planetscope', ('blue', 'green', 'red', 'nir')),
    'sentinel2': SensorPreset('sentinel2', ('blue', 'green', 'red', 'nir')),
    'rgbn': SensorPreset('rgbn', ('red', 'green', 'blue', 'nir')),
    'rgb': SensorPreset('rgb', ('red', 'green', 'blue')),
}

# Band descriptions seen in the wild, mapped to canonical names. Sentinel-2 band
# numbers (B2, B02, ...) and Landsat-style single letters are both common.
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
    'near-infrared': 'nir',
    'near_infrared': 'nir',
    'nearinfrared': 'nir',
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


def required_bands(modalities: Sequence[str | Modality]) -> tuple[str, ...]:
    """Canonical band names the modalities read, each once, in first-use order."""
    bands: list[str] = []
    for item in modalities:
        for band in get_modality(item).bands:
            if band not in bands:
                bands.append(band)
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


def normalized_difference(a: Tensor, b: Tensor, eps: float = 1e-6) -> Tensor:
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
        missing = [band for band in modality.bands if band not in bands]
        if missing:
            msg = (
                f'modality {modality.name!r} needs band(s) {missing}; '
                f'available: {sorted(bands)}'
            )
            raise BandNotFoundError(msg)
        if modality.derive == 'normalized_difference':
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
