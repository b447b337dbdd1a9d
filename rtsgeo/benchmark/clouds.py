"""Generated quality masks for the benchmarks: clouds and their shadows.

:func:`write_cloud_mask` writes a quality raster beside a benchmark scene, in
the real layout of its format, with soft-edged clouds over about a quarter of
the scene and shadows along their edges, so that mapping with
``--quality-mask`` pays for what a cloudy campaign pays: reading and decoding
the mask per window, warping it (Sentinel-2's SCL is written at twice the
scene's pixel size, as its 20 m product beside 10 m bands), and footprints
and rims with holes. Clouds are blobs of about 100 px: few tiles are all
cloud, so the tiles mapped are about those of the scene without a mask.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ['CLOUD_SHARE', 'write_cloud_mask']

#: Share of the scene under cloud (shadows add about a tenth more).
CLOUD_SHARE = 0.25
# Pixels between the control points of the smooth cloud field.
_CELL = 64
_STRIP = 512


def _classes(fmt: str, cloud: np.ndarray, shadow: np.ndarray) -> np.ndarray:
    """``(bands, h, w)`` values of *fmt* for cloud, shadow and clear pixels."""
    if fmt == 'scl':
        out = np.full(cloud.shape, 4, np.uint8)  # vegetation
        out[shadow] = 3
        out[cloud] = 9
        return out[None]
    if fmt == 'udm2':
        bands = np.zeros((8, *cloud.shape), np.uint8)
        bands[0] = ~cloud & ~shadow
        bands[2] = shadow
        bands[5] = cloud
        bands[6] = 100  # confidence
        return bands
    if fmt == 'qa_pixel':
        out = np.full(cloud.shape, 21824, np.uint16)  # clear land
        out[shadow] = 23888
        out[cloud] = 22280
        return out[None]
    return (cloud | shadow).astype(np.uint8)[None]


def write_cloud_mask(scene: Path, fmt: str, seed: int = 0) -> Path:
    """Write ``<scene stem>_<fmt>.tif`` beside *scene*: its clouds in *fmt*.

    Args:
        scene: the benchmark scene (its grid is the mask's, or twice as
            coarse for ``scl``).
        fmt: ``scl``, ``udm2``, ``qa_pixel`` or ``nonzero``.
        seed: seed of the cloud field.

    Returns:
        The mask's path.
    """
    import rasterio
    from affine import Affine
    from rasterio.windows import Window
    from scipy import ndimage

    with rasterio.open(scene) as src:
        width, height, transform, crs = src.width, src.height, src.transform, src.crs
    step = 2 if fmt == 'scl' else 1
    width, height = -(-width // step), -(-height // step)
    cell = _CELL / step
    rng = np.random.default_rng(seed)
    field = rng.random((int(height / cell) + 2, int(width / cell) + 2))
    field = ndimage.gaussian_filter(field, 1.0)
    # The thresholds from the field as the scene samples it, every 8 px.
    sample = np.meshgrid(
        (np.arange(0, height, 8) + 0.5) / cell,
        (np.arange(0, width, 8) + 0.5) / cell,
        indexing='ij',
    )
    seen = ndimage.map_coordinates(field, sample, order=1)
    cloudy = float(np.quantile(seen, 1 - CLOUD_SHARE))
    shaded = float(np.quantile(seen, 1 - 1.1 * CLOUD_SHARE))
    count = 8 if fmt == 'udm2' else 1
    path = scene.with_name(f'{scene.stem}_{fmt}.tif')
    profile = {
        'driver': 'GTiff',
        'width': width,
        'height': height,
        'count': count,
        'dtype': 'uint16' if fmt == 'qa_pixel' else 'uint8',
        'crs': crs,
        'transform': transform @ Affine.scale(step),
        'tiled': True,
        'blockxsize': 256,
        'blockysize': 256,
        'compress': 'deflate',
    }
    cols = (np.arange(width) + 0.5) / cell
    with rasterio.open(path, 'w', **profile) as dst:
        for r0 in range(0, height, _STRIP):
            rows = (np.arange(r0, min(r0 + _STRIP, height)) + 0.5) / cell
            grid = np.meshgrid(rows, cols, indexing='ij')
            values = ndimage.map_coordinates(field, grid, order=1)
            cloud = values > cloudy
            shadow = (values > shaded) & ~cloud
            window = Window(0, r0, width, len(rows))
            dst.write(_classes(fmt, cloud, shadow), window=window)
    return path
