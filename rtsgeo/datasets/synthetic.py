"""Seeded synthetic scenes: tundra-like imagery with thaw-slump polygons.

The built-in default data of rtsgeo (the demo trains on it and maps it) and the
test fixture of the whole project. A scene is three files on one grid:

* ``image/{name}.tif``: 4-band uint16 GeoTIFF, bands blue, green, red, nir
  (described as such), reflectance x 1e4 like Sentinel-2 L2A, nodata 0;
* ``labels/{name}.gpkg``: the slumps as polygons (layer ``slumps``, columns
  ``id``, ``shape``, ``area_m2``) in the scene's CRS;
* ``mask/{name}.tif``: uint16 instance mask, 0 background, ``i`` slump ``id == i``.

The polygons are made first; the mask is their rasterisation (pixel-centre
rule) and the imagery is painted from the mask, so the three agree exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import rasterio
import rasterio.features
from affine import Affine
from scipy import ndimage

from ..errors import ConfigError
from ._synthetic_terrain import (
    draw_nodata_hole,
    draw_water,
    paint,
    place_slumps,
    rasterize,
)

__all__ = [
    'SyntheticScene',
    'make_synthetic_dataset',
    'make_synthetic_scene',
    'make_synthetic_splits',
]

BAND_NAMES = ('blue', 'green', 'red', 'nir')


@dataclass(frozen=True)
class SyntheticScene:
    """Paths and grid of a written synthetic scene.

    Attributes:
        image_path: the 4-band GeoTIFF.
        labels_path: the GeoPackage of slump polygons (layer ``slumps``).
        mask_path: the instance-id mask GeoTIFF.
        crs: the scene's CRS as a string (``'EPSG:32608'``).
        bounds: ``(left, bottom, right, top)`` in CRS units.
        transform: the north-up affine transform of the three rasters.
        res: pixel size in CRS units.
        n_slumps: number of slump polygons (and ids in the mask).
        seed: the seed the scene was made with.
    """

    image_path: Path
    labels_path: Path
    mask_path: Path
    crs: str
    bounds: tuple[float, float, float, float]
    transform: Affine
    res: float
    n_slumps: int
    seed: int


def make_synthetic_scene(
    directory: str | Path,
    *,
    seed: int = 0,
    size: int = 384,
    res: float = 5.0,
    crs: str = 'EPSG:32608',
    origin: tuple[float, float] = (500000.0, 7600000.0),
    n_slumps: int = 8,
    visibility: Literal['all', 'nir_only'] = 'all',
    nodata_hole: bool = False,
    edge_slumps: bool = False,
    name: str = 'scene',
) -> SyntheticScene:
    """Write one seeded synthetic scene (image, polygons, instance mask).

    Args:
        directory: output folder; ``image/``, ``labels/`` and ``mask/`` are
            made inside it.
        seed: random seed; the same seed writes the same pixels and polygons.
        size: width and height in pixels.
        res: pixel size in CRS units (metres).
        crs: a projected CRS, such as a UTM zone.
        origin: ``(x, y)`` of the top-left corner in CRS units.
        n_slumps: number of slumps (0 makes a negative scene).
        visibility: ``'all'``: slumps are brighter and greyer in RGB and dark
            in NIR; ``'nir_only'``: RGB is left as the surroundings, the slumps
            show only in NIR (and NDVI).
        nodata_hole: punch an area of nodata (all bands 0) touching the top
            edge, with no slump in it.
        edge_slumps: let slumps be cut by the scene edge (their polygons
            extend beyond the scene); by default every slump is inside.
        name: file stem of the three files.

    Returns:
        The paths and grid of the scene.

    Raises:
        ConfigError: If a parameter is out of range or the slumps do not fit.
    """
    if visibility not in ('all', 'nir_only'):
        msg = f"visibility={visibility!r} is unknown: use 'all' or 'nir_only'"
        raise ConfigError(msg)
    if size < 32 or res <= 0 or n_slumps < 0:
        msg = f'need size >= 32, res > 0, n_slumps >= 0; got {size}, {res}, {n_slumps}'
        raise ConfigError(msg)
    rng = np.random.default_rng(seed)
    transform = Affine(res, 0.0, origin[0], 0.0, -res, origin[1])
    water = draw_water(rng, size)
    hole = draw_nodata_hole(rng, size) if nodata_hole else np.zeros_like(water)
    # Slumps keep clear of water and nodata so their surroundings are land.
    forbidden = ndimage.binary_dilation(water | hole, iterations=12)
    polygons, kinds = place_slumps(
        rng, n_slumps, size, transform, forbidden, edge_slumps
    )
    mask = rasterize(polygons, size, transform)
    image = np.round(paint(rng, mask, water, visibility)).astype(np.uint16)
    image[:, hole] = 0

    root = Path(directory)
    paths = {
        sub: root / sub / f'{name}.{ext}'
        for sub, ext in (('image', 'tif'), ('mask', 'tif'), ('labels', 'gpkg'))
    }
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    _write_tif(paths['image'], image, transform, crs, nodata=0, names=BAND_NAMES)
    _write_tif(
        paths['mask'], mask[None], transform, crs, nodata=None, names=('slump_id',)
    )
    frame = gpd.GeoDataFrame(
        {
            'id': np.arange(1, len(polygons) + 1, dtype=np.int64),
            'shape': kinds,
            'area_m2': np.array([p.area for p in polygons], dtype=float),
        },
        geometry=gpd.GeoSeries(polygons, crs=crs),
        crs=crs,
    )
    frame.to_file(paths['labels'], layer='slumps', driver='GPKG', engine='pyogrio')
    left, top = origin
    return SyntheticScene(
        image_path=paths['image'],
        labels_path=paths['labels'],
        mask_path=paths['mask'],
        crs=crs,
        bounds=(left, top - size * res, left + size * res, top),
        transform=transform,
        res=res,
        n_slumps=len(polygons),
        seed=seed,
    )


def _write_tif(
    path: Path,
    array: np.ndarray,
    transform: Affine,
    crs: str,
    nodata: float | None,
    names: tuple[str, ...],
) -> None:
    """Write a deflate-compressed GeoTIFF, tiled 256 when the raster is that big."""
    count, height, width = array.shape
    profile: dict[str, object] = {
        'driver': 'GTiff',
        'width': width,
        'height': height,
        'count': count,
        'dtype': array.dtype.name,
        'crs': crs,
        'transform': transform,
        'nodata': nodata,
        'compress': 'deflate',
    }
    if min(height, width) >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, 'w', **profile) as dst:
        dst.write(array)
        for band, description in enumerate(names, start=1):
            dst.set_band_description(band, description)


def make_synthetic_dataset(
    directory: str | Path, *, n_scenes: int, seed: int = 0, **scene_kwargs: object
) -> list[SyntheticScene]:
    """Write *n_scenes* synthetic scenes ``scene_000``, ``scene_001``, ...

    Each scene has its own seed (drawn from *seed*) and its own origin: scenes
    are laid out on a grid, ten per row, 1 km apart, so none overlaps another.

    Args:
        directory: output folder (see :func:`make_synthetic_scene`).
        n_scenes: number of scenes.
        seed: seed of the whole dataset.
        **scene_kwargs: passed on to :func:`make_synthetic_scene` (not
            ``seed`` or ``name``; ``origin`` is the first scene's).

    Returns:
        The scenes, in name order.

    Raises:
        ConfigError: If *n_scenes* < 1 or *scene_kwargs* sets seed or name.
    """
    if n_scenes < 1:
        raise ConfigError(f'n_scenes must be >= 1, got {n_scenes}')
    clash = {'seed', 'name'} & set(scene_kwargs)
    if clash:
        msg = f'make_synthetic_dataset sets {sorted(clash)} per scene: remove them'
        raise ConfigError(msg)
    kwargs: dict = dict(scene_kwargs)
    x0, y0 = kwargs.pop('origin', (500000.0, 7600000.0))
    step = kwargs.get('size', 384) * kwargs.get('res', 5.0) + 1000.0
    seeds = np.random.SeedSequence(seed).generate_state(n_scenes)
    scenes = []
    for i in range(n_scenes):
        origin = (x0 + (i % 10) * step, y0 - (i // 10) * step)
        scenes.append(
            make_synthetic_scene(
                directory,
                seed=int(seeds[i]),
                origin=origin,
                name=f'scene_{i:03d}',
                **kwargs,
            )
        )
    return scenes


def make_synthetic_splits(
    root: str | Path,
    *,
    seed: int = 0,
    counts: tuple[int, int, int] = (4, 1, 1),
    size: int = 192,
    **scene_kwargs: object,
) -> Path:
    """Write ``train``, ``val`` and ``test`` synthetic datasets under *root*.

    This is the layout :class:`~rtsgeo.datamodules.RTSDataModule` reads with
    ``root=ROOT``, and the data of ``rtsgeo demo``, ``rtsgeo synthetic`` and
    the tiny configs. Split ``i`` (train 0, val 1, test 2) is
    :func:`make_synthetic_dataset` with seed ``10 * seed + i``.

    Args:
        root: output folder.
        seed: seed of the three splits.
        counts: scenes in the train, val and test splits.
        size: scene side in pixels.
        **scene_kwargs: passed on to :func:`make_synthetic_scene` (for example
            ``visibility='nir_only'``).

    Returns:
        *root*, as a path.

    Raises:
        ConfigError: If *counts* is not three numbers of at least 1.
    """
    if len(counts) != 3 or min(counts) < 1:
        msg = f'counts needs three numbers >= 1 (train, val, test), got {counts}'
        raise ConfigError(msg)
    root = Path(root)
    for offset, (split, count) in enumerate(
        zip(('train', 'val', 'test'), counts, strict=True)
    ):
        make_synthetic_dataset(
            root / split,
            n_scenes=count,
            seed=10 * seed + offset,
            size=size,
            **scene_kwargs,
        )
    return root
