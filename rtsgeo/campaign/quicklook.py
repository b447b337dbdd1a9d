"""Quick-look PNG of a mapped scene: the imagery in RGB with the slumps drawn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ['write_quicklook']


def _rgb_indexes(src: Any, sensor: str | None) -> list[int]:
    from ..errors import BandNotFoundError
    from ..modalities import resolve_band_names

    try:
        names = resolve_band_names(src.descriptions, src.name, sensor=sensor)
    except BandNotFoundError:
        names = ()
    if all(band in names for band in ('red', 'green', 'blue')):
        return [names.index(band) + 1 for band in ('red', 'green', 'blue')]
    return [1, 2, 3] if src.count >= 3 else [1, 1, 1]


def write_quicklook(
    scene: str | Path,
    slumps: Any,
    out: str | Path,
    sensor: str | None = None,
    max_size: int = 1024,
) -> Path:
    """Write a PNG of *scene* with the outlines of *slumps*.

    The imagery is read as a decimated overview (at most *max_size* pixels a
    side, averaged), so memory stays bounded whatever the scene size.

    Args:
        scene: the scene file.
        slumps: a GeoDataFrame of polygons in any CRS (reprojected here).
        out: PNG path (folders are created).
        sensor: sensor preset for files without band descriptions.
        max_size: longest side of the overview in pixels.

    Returns:
        The PNG written.
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import rasterio
    from rasterio.enums import Resampling

    from ..plotting import rgb_quicklook

    with rasterio.open(scene) as src:
        scale = max(src.width, src.height) / max_size
        shape = (
            max(1, round(src.height / max(scale, 1))),
            max(1, round(src.width / max(scale, 1))),
        )
        data = src.read(
            _rgb_indexes(src, sensor),
            out_shape=(3, *shape),
            masked=True,
            resampling=Resampling.average,
        )
        left, bottom, right, top = src.bounds
        crs = src.crs
    valid = ~np.ma.getmaskarray(data).all(axis=0)
    image = rgb_quicklook(np.ma.filled(data.astype(np.float32), 0.0), valid)
    figure, ax = plt.subplots(figsize=(8, 8 * shape[0] / shape[1]))
    ax.imshow(image, extent=(left, right, bottom, top))
    if len(slumps) and crs is not None:
        for geom in slumps.to_crs(crs).geometry:
            for polygon in getattr(geom, 'geoms', [geom]):
                x, y = polygon.exterior.xy
                ax.plot(x, y, color='red', linewidth=1.0)
    ax.set_title(f'{Path(scene).stem}: {len(slumps)} slump(s)')
    ax.set_axis_off()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100, bbox_inches='tight')
    plt.close(figure)
    return out
