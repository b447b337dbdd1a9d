"""Terrain, slump shapes and painting of the synthetic scenes (see ``synthetic``).

Everything works in pixel coordinates of a square ``size`` x ``size`` grid and
draws from one :class:`numpy.random.Generator`, in a fixed order, so a seed
gives the same scene on every run.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import rasterio.features
import shapely
from affine import Affine
from scipy import ndimage
from shapely.affinity import affine_transform

from ..errors import ConfigError

__all__ = ['draw_nodata_hole', 'draw_water', 'paint', 'place_slumps', 'rasterize']

_SHAPES = ('horseshoe', 'teardrop', 'lobate')
# Reflectance x 1e4 (blue, green, red, nir): vegetated tundra at full and no
# vegetation, open water, and the bare wet soil of a slump floor.
_VEG_HIGH = np.array([300.0, 560.0, 330.0, 3100.0])
_VEG_LOW = np.array([520.0, 720.0, 700.0, 1900.0])
_WATER = np.array([480.0, 420.0, 260.0, 140.0])
_SOIL = np.array([900.0, 1050.0, 1150.0, 1250.0])


def _smooth_noise(
    rng: np.random.Generator, size: int, sigmas: tuple[float, ...]
) -> np.ndarray:
    """Zero-mean, unit-variance sum of Gaussian-filtered white noise."""
    field = np.zeros((size, size))
    for sigma in sigmas:
        layer = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma)
        field += layer / (layer.std() + 1e-12)
    return (field - field.mean()) / (field.std() + 1e-12)


def _slump_outline(rng: np.random.Generator, radius: float) -> tuple[str, np.ndarray]:
    """Shape name and vertices ``(64, 2)`` of one slump, centred on 0, in pixels."""
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
    return kind, np.stack([x * cos - y * sin, x * sin + y * cos], axis=1)


def rasterize(
    geoms: list[shapely.Geometry], size: int, transform: Affine
) -> np.ndarray:
    """Instance-id raster (uint16) of *geoms*, id ``i + 1`` for ``geoms[i]``."""
    if not geoms:
        return np.zeros((size, size), dtype=np.uint16)
    shapes = [(geom, i + 1) for i, geom in enumerate(geoms)]
    return rasterio.features.rasterize(
        shapes, out_shape=(size, size), transform=transform, dtype='uint16'
    )


def place_slumps(
    rng: np.random.Generator,
    n_slumps: int,
    size: int,
    transform: Affine,
    forbidden: np.ndarray,
    edge_slumps: bool,
) -> tuple[list[shapely.Polygon], list[str]]:
    """Non-overlapping slump polygons (CRS coordinates) and their shape names."""
    polygons: list[shapely.Polygon] = []
    kinds: list[str] = []
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
        kind, outline = _slump_outline(rng, radius)
        pixel_poly = shapely.Polygon(outline + centre)
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
        kinds.append(kind)
    return polygons, kinds


def draw_water(rng: np.random.Generator, size: int) -> np.ndarray:
    """Boolean water mask: a few thermokarst lakes and one meandering stream."""
    lakes = _smooth_noise(rng, size, (size / 16,)) > 1.7
    t = np.linspace(-0.1, 1.1, 200)
    phase, amp = rng.uniform(0, 2 * np.pi), rng.uniform(0.03, 0.08) * size
    col = rng.uniform(0.2, 0.8) * size + amp * np.sin(6 * t + phase)
    stream = shapely.LineString(np.stack([col, t * size], axis=1)).buffer(1.2)
    return lakes | (rasterize([stream], size, Affine.identity()) > 0)


def paint(
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


def draw_nodata_hole(rng: np.random.Generator, size: int) -> np.ndarray:
    """Boolean blob of missing data touching one edge, like a mosaic gap."""
    centre = rng.uniform(0.15, 0.85) * size
    edge_blob = shapely.Point(centre, -size * 0.05).buffer(
        size * rng.uniform(0.15, 0.25)
    )
    return rasterize([edge_blob], size, Affine.identity()) > 0
