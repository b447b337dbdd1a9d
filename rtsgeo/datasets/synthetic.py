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
import shapely
from affine import Affine
from scipy import ndimage
from shapely.affinity import affine_transform

from ..errors import ConfigError

__all__ = ['SyntheticScene', 'make_synthetic_dataset', 'make_synthetic_scene']

BAND_NAMES = ('blue', 'green', 'red', 'nir')
_SHAPES = ('horseshoe', 'teardrop', 'lobate')
# Reflectance x 1e4 (blue, green, red, nir): vegetated tundra at full and no
# vegetation, open water, and the bare wet soil of a slump floor.
_VEG_HIGH = np.array([300.0, 560.0, 330.0, 3100.0])
_VEG_LOW = np.array([520.0, 720.0, 700.0, 1900.0])
_WATER = np.array([480.0, 420.0, 260.0, 140.0])
_SOIL = np.array([900.0, 1050.0, 1150.0, 1250.0])


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


def _smooth_noise(
    rng: np.random.Generator, size: int, sigmas: tuple[float, ...]
) -> np.ndarray:
    """Zero-mean, unit-variance sum of Gaussian-filtered white noise."""
    field = np.zeros((size, size))
    for sigma in sigmas:
        layer = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma)
        field += layer / (layer.std() + 1e-12)
    return (field - field.mean()) / (field.std() + 1e-12)


def _slump_outline(rng: np.random.Generator, radius: float) -> np.ndarray:
    """Vertices ``(64, 2)`` of one slump, centred on 0, in pixel units."""
    theta = np.linspace(0.0, 2.0 * np.pi, 64, endpoint=False)
    kind = _SHAPES[rng.integers(len(_SHAPES))]
    if kind == 'horseshoe':
        # The headwall bends in on the upslope side: a notch around theta = pi.
        notch = 0.35 + 0.2 * rng.random()
        r = 1.0 - notch * np.exp(-((theta - np.pi) ** 2) / (2 * 0.4**2))
    elif kind == 'teardrop':
        # Wide scar, narrowing into the downslope mud tongue.
        r = 0.45 + 0.55 * np.abs(np.cos(theta / 2.0)) ** 0.8
    else:
        r = np.ones_like(theta)
    for k in range(2, 7):
        amplitude = rng.uniform(0.0, 0.12) / np.sqrt(k)
        r = r + amplitude * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    r = radius * np.clip(r, 0.3, None)
    stretch = rng.uniform(1.0, 1.7)
    x, y = r * np.cos(theta) * stretch, r * np.sin(theta) / stretch
    angle = rng.uniform(0, 2 * np.pi)
    cos, sin = np.cos(angle), np.sin(angle)
    return np.stack([x * cos - y * sin, x * sin + y * cos], axis=1)


def _rasterize(
    geoms: list[shapely.Geometry], size: int, transform: Affine
) -> np.ndarray:
    """Instance-id raster (uint16) of *geoms*, id ``i + 1`` for ``geoms[i]``."""
    if not geoms:
        return np.zeros((size, size), dtype=np.uint16)
    shapes = [(geom, i + 1) for i, geom in enumerate(geoms)]
    return rasterio.features.rasterize(
        shapes, out_shape=(size, size), transform=transform, dtype='uint16'
    )


def _place_slumps(
    rng: np.random.Generator,
    n_slumps: int,
    size: int,
    transform: Affine,
    forbidden: np.ndarray,
    edge_slumps: bool,
) -> list[shapely.Polygon]:
    """Non-overlapping slump polygons in CRS coordinates avoiding *forbidden*."""
    polygons: list[shapely.Polygon] = []
    occupied = forbidden.copy()
    scene = shapely.box(0, 0, size, size)
    attempts = 0
    # The smallest slump and its halo cover about 60 px: fail fast when they
    # cannot fit in half of the scene.
    too_many = n_slumps * 60 > 0.5 * size * size
    while len(polygons) < n_slumps:
        attempts += 1
        if too_many or attempts > 100 * n_slumps + 100:
            msg = (
                f'could not place n_slumps={n_slumps} non-overlapping slumps in a '
                f'{size} px scene: lower n_slumps or raise size'
            )
            raise ConfigError(msg)
        # Log-uniform radius: 10-60 px across once stretched.
        radius = float(np.exp(rng.uniform(np.log(5.0), np.log(24.0))))
        margin = -radius if edge_slumps else radius * 1.8 + 2
        if size - 2 * margin <= 0:
            continue
        centre = rng.uniform(margin, size - margin, size=2)
        pixel_poly = shapely.Polygon(_slump_outline(rng, radius) + centre)
        if not pixel_poly.is_valid or not pixel_poly.intersects(scene):
            continue
        if not edge_slumps and not scene.contains(pixel_poly):
            continue
        # Keep two pixels between slumps so masks never touch. Only the
        # polygon's window is rasterised: placement retries are cheap.
        halo = pixel_poly.buffer(2.0)
        c0, r0, c1, r1 = np.clip(np.round(halo.bounds).astype(int), 0, size)
        footprint = rasterio.features.rasterize(
            [halo], out_shape=(r1 - r0, c1 - c0), transform=Affine.translation(c0, r0)
        ).astype(bool)
        window = occupied[r0:r1, c0:c1]
        if (window & footprint).any():
            continue
        window |= footprint
        polygons.append(affine_transform(pixel_poly, transform.to_shapely()))
    return polygons


def _water(rng: np.random.Generator, size: int) -> np.ndarray:
    """Boolean water mask: a few thermokarst lakes and one meandering stream."""
    lakes = _smooth_noise(rng, size, (size / 16,)) > 1.7
    t = np.linspace(-0.1, 1.1, 200)
    phase, amp = rng.uniform(0, 2 * np.pi), rng.uniform(0.03, 0.08) * size
    col = rng.uniform(0.2, 0.8) * size + amp * np.sin(6 * t + phase)
    stream = shapely.LineString(np.stack([col, t * size], axis=1)).buffer(1.2)
    return lakes | (_rasterize([stream], size, Affine.identity()) > 0)


def _paint(
    rng: np.random.Generator,
    mask: np.ndarray,
    water: np.ndarray,
    visibility: Literal['all', 'nir_only'],
) -> np.ndarray:
    """``(4, H, W)`` float reflectance painted from the water and slump masks."""
    size = mask.shape[0]
    vegetation = 1.0 / (1.0 + np.exp(-1.3 * _smooth_noise(rng, size, (3, 10, 40))))
    weights = vegetation[None]
    image = weights * _VEG_HIGH[:, None, None] + (1 - weights) * _VEG_LOW[:, None, None]
    image *= 1.0 + 0.04 * _smooth_noise(rng, size, (1.0,))[None]
    wet = ndimage.gaussian_filter(water.astype(float), 1.0)[None]
    image = (1 - wet) * image + wet * _WATER[:, None, None]
    slump = mask > 0
    if slump.any():
        # Soil cover: strongest on the slump floor, a little weaker at the rim,
        # with the texture of gullies and mud flows.
        rim = ndimage.gaussian_filter(slump.astype(float), 1.5)
        texture = 1.0 + 0.12 * _smooth_noise(rng, size, (1.0, 3.0))
        soil = np.clip(slump * (0.55 + 0.45 * rim) * texture, 0.0, 1.0)
        bands = [3] if visibility == 'nir_only' else [0, 1, 2, 3]
        for band in bands:
            image[band] = (1 - soil) * image[band] + soil * _SOIL[band] * texture
    noise = 1.0 + 0.015 * rng.standard_normal(image.shape)
    return np.clip(image * noise, 1.0, 10000.0)


def _nodata_hole(rng: np.random.Generator, size: int) -> np.ndarray:
    """Boolean blob of missing data touching one edge, like a mosaic gap."""
    centre = rng.uniform(0.15, 0.85) * size
    edge_blob = shapely.Point(centre, -size * 0.05).buffer(
        size * rng.uniform(0.15, 0.25)
    )
    return _rasterize([edge_blob], size, Affine.identity()) > 0


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
    water = _water(rng, size)
    hole = _nodata_hole(rng, size) if nodata_hole else np.zeros_like(water)
    # Slumps keep clear of water and nodata so their surroundings are land.
    forbidden = ndimage.binary_dilation(water | hole, iterations=12)
    polygons = _place_slumps(rng, n_slumps, size, transform, forbidden, edge_slumps)
    mask = _rasterize(polygons, size, transform)
    image = np.round(_paint(rng, mask, water, visibility)).astype(np.uint16)
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
