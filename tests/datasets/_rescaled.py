"""A scene and the same scene with other radiometry: gain and offset per band."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio

from rtsgeo.transforms import SceneStretch

#: A reference for the synthetic scenes' bands (none of them is the identity).
STRETCH = SceneStretch.from_ranges(
    {
        'blue': (150.0, 900.0),
        'green': (200.0, 1000.0),
        'red': (250.0, 1100.0),
        'nir': (300.0, 2500.0),
    }
)
#: Per band (blue, green, red, nir): brighter or darker, with or without haze.
GAINS = (1.7, 0.6, 1.3, 2.1)
OFFSETS = (250.0, 40.0, 0.0, 120.0)


def rescaled_scene(
    source: Path,
    path: Path,
    gains: Sequence[float] = GAINS,
    offsets: Sequence[float] = OFFSETS,
) -> Path:
    """*source* as float32 with band ``i`` ``gains[i] * value + offsets[i]``.

    Nodata pixels stay nodata; grid, band descriptions and nodata value are kept.
    """
    with rasterio.open(source) as src:
        data = src.read().astype(np.float64)
        profile = src.profile
        descriptions = src.descriptions
        nodata = src.nodata
    valid = np.ones(data.shape[1:], bool) if nodata is None else (data != nodata).all(0)
    out = data * np.asarray(gains)[:, None, None] + np.asarray(offsets)[:, None, None]
    if nodata is not None:
        out[:, ~valid] = nodata
    profile.update(dtype='float32')
    with rasterio.open(path, 'w', **profile) as dst:
        dst.write(out.astype(np.float32))
        for band, description in enumerate(descriptions, start=1):
            dst.set_band_description(band, description)
    return path
