"""Tiny georeferenced chips with known overlaps, zones and slump counts.

16 x 16 px chips of 10 m in a ``train/val/test`` layout (image/, mask/, and
slope/ for some), laid out so that each way two chips can meet occurs once:

=========================  ==========  =====  ======  ==========================
chip                       CRS         site   slumps  why
=========================  ==========  =====  ======  ==========================
test/a, train/a, val/a2    UTM 8N      0      1+2+0   same place on other dates,
                                                      a2 shifted by half a chip
test/g, train/h            UTM 1N/60N  1      1+3     across the antimeridian
train/b                    UTM 8N      2      4
train/c                    UTM 8N      3      0       touches b (no mask file)
train/d                    UTM 8N      4      1       overlaps c by 1e-6 m
train/e, val/f             UTM 8N/9N   5      2+1     across a zone boundary
train/i                    UTM 1N      6      5
=========================  ==========  =====  ======  ==========================

``train/a`` holds two pixels that touch only diagonally (one slump
8-connected, two 4-connected) and one more slump: 2 (8) or 3 (4) slumps.
The slump column above counts 8-connected components.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin

SIZE = 16
RES = 10.0
UTM8, UTM9, UTM1, UTM60 = 'EPSG:32608', 'EPSG:32609', 'EPSG:32601', 'EPSG:32660'

#: Chip name -> site it belongs to (sites numbered by their first chip name).
SITES = {
    'test/a': 0,
    'train/a': 0,
    'val/a2': 0,
    'test/g': 1,
    'train/h': 1,
    'train/b': 2,
    'train/c': 3,
    'train/d': 4,
    'train/e': 5,
    'val/f': 5,
    'train/i': 6,
}
#: Chip name -> 8-connected slumps.
SLUMPS = {
    'test/a': 1,
    'train/a': 2,
    'val/a2': 0,
    'test/g': 1,
    'train/h': 3,
    'train/b': 4,
    'train/c': 0,
    'train/d': 1,
    'train/e': 2,
    'val/f': 1,
    'train/i': 5,
}


def _project(crs: str, lon: float, lat: float) -> tuple[float, float]:
    return Transformer.from_crs('EPSG:4326', crs, always_xy=True).transform(lon, lat)


def blobs(count: int) -> np.ndarray:
    """A mask with *count* separate single-pixel slumps on the diagonal."""
    mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
    for i in range(count):
        mask[2 * i, 2 * i + 1] = 1
    return mask


def write_chip(
    root: Path,
    chip: str,
    crs: str,
    left: float,
    top: float,
    mask: np.ndarray | None,
    slope: bool = False,
) -> Path:
    """Write image (and mask, slope) of ``<split>/<name>`` under *root*."""
    split, name = chip.split('/')
    profile = {
        'driver': 'GTiff',
        'width': SIZE,
        'height': SIZE,
        'crs': crs,
        'transform': from_origin(left, top, RES, RES),
    }
    layers = [('image', np.full((SIZE, SIZE), 1000, np.uint16))]
    if mask is not None:
        layers.append(('mask', mask))
    if slope:
        layers.append(('slope', np.full((SIZE, SIZE), 3.5, np.float32)))
    for folder, array in layers:
        path = root / split / folder / f'{name}.tif'
        path.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(
            path, 'w', count=1, dtype=array.dtype.name, **profile
        ) as dst:
            dst.write(array, 1)
    return root / split / 'image' / f'{name}.tif'


def write_chips(root: Path) -> Path:
    """The chips of the module docstring under *root*; returns *root*."""
    x, y, half = 500_000.0, 7_600_000.0, SIZE * RES / 2
    a = blobs(1)
    a[5, 5] = a[6, 6] = 1  # diagonal neighbours: one slump if 8-connected
    write_chip(root, 'train/a', UTM8, x, y, a, slope=True)
    write_chip(root, 'test/a', UTM8, x, y, blobs(1), slope=True)
    write_chip(root, 'val/a2', UTM8, x + half, y, blobs(0))
    write_chip(root, 'train/b', UTM8, x + 1000, y, blobs(4))
    write_chip(root, 'train/c', UTM8, x + 1000 + 2 * half, y, None)
    write_chip(root, 'train/d', UTM8, x + 1000 + 4 * half - 1e-6, y, blobs(1))
    # The boundary of UTM zones 8 and 9 (132°W): a chip on each side.
    e = _project(UTM8, -132.0, 68.0)
    write_chip(root, 'train/e', UTM8, e[0] - half, e[1], blobs(2))
    f = _project(UTM9, -132.0, 68.0)
    write_chip(root, 'val/f', UTM9, f[0] - half / 2, f[1] - half / 2, blobs(1))
    # The antimeridian: both chips straddle it, one per zone's CRS.
    g = _project(UTM1, 180.0, 66.0)
    write_chip(root, 'test/g', UTM1, g[0] - half, g[1], blobs(1))
    h = _project(UTM60, 180.0, 66.0)
    write_chip(root, 'train/h', UTM60, h[0] - half / 2, h[1] + half / 2, blobs(3))
    write_chip(root, 'train/i', UTM1, 500_000.0, 7_400_000.0, blobs(5))
    return root


def by_chip(table: pd.DataFrame, column: str) -> dict[str, object]:
    """*column* of a chip table as a ``{chip: value}`` dictionary."""
    return dict(zip(table['chip'], table[column], strict=True))
