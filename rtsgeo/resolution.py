"""Ground sampling distance (GSD): the size of a pixel on the ground, in metres.

A model learns the size of slumps in pixels, so it maps best at the GSD it was
trained at. The trained-model file records that GSD (see
:mod:`rtsgeo.models.trained`); the scene predictor resamples scenes taken at
another GSD on the fly (see :class:`rtsgeo.predict.SceneReader`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable

from affine import Affine
from rasterio.crs import CRS

from .errors import InvalidImageryError

__all__ = [
    'GSD_WARN_RATIO',
    'describe_resampling',
    'gsd_differs',
    'imagery_gsd_m',
    'pixel_gsd_m',
    'resampled_grid',
]

#: ``--resample off`` warns when the scene's and the model's GSDs differ by more.
GSD_WARN_RATIO = 0.25
#: GSDs closer than this (relative) are the same: no resampling.
_SAME = 0.01


def pixel_gsd_m(crs: CRS, res: tuple[float, float]) -> float:
    """The GSD of pixels of size *res* (CRS units) in a projected *crs*.

    Non-square pixels count as the square of the same area.

    Raises:
        InvalidImageryError: If *crs* is geographic (pixels in degrees).
    """
    if crs.is_geographic:
        msg = (
            f'pixels in {crs.to_string()} are in degrees: the ground sampling '
            'distance needs a projected CRS (reproject to the UTM zone first)'
        )
        raise InvalidImageryError(msg)
    metres = float(crs.linear_units_factor[1])
    return math.sqrt(abs(res[0] * res[1])) * metres


def imagery_gsd_m(rasters: Iterable[tuple[CRS, tuple[float, float]]]) -> float | None:
    """The median GSD of ``(crs, res)`` pairs, None when there are none."""
    values = [pixel_gsd_m(crs, res) for crs, res in rasters]
    return float(statistics.median(values)) if values else None


def gsd_differs(scene_gsd: float, model_gsd: float, ratio: float = _SAME) -> bool:
    """True when two GSDs differ by more than *ratio* of the model's."""
    return abs(scene_gsd - model_gsd) > ratio * model_gsd


def resampled_grid(
    transform: Affine,
    width: int,
    height: int,
    crs: CRS,
    gsd_m: float,
) -> tuple[Affine, int, int]:
    """The grid over the same extent with square pixels of *gsd_m* metres.

    The origin stays; the size is rounded to whole pixels, so the far edges
    move by at most half a new pixel.

    Returns:
        The new transform, width and height.
    """
    metres = float(crs.linear_units_factor[1])
    x_res = math.hypot(transform.a, transform.d) * metres
    y_res = math.hypot(transform.b, transform.e) * metres
    fx, fy = gsd_m / x_res, gsd_m / y_res
    new_width = max(1, round(width / fx))
    new_height = max(1, round(height / fy))
    return transform @ Affine.scale(fx, fy), new_width, new_height


def describe_resampling(
    scene_gsd: float | None, model_gsd: float | None, resample: bool = True
) -> str:
    """How a scene is mapped, in words: ``'2.5 m -> 5 m (model's GSD)'``.

    Args:
        scene_gsd: the scene's own GSD (None: unknown, e.g. it failed to open).
        model_gsd: the model's training GSD (None: not recorded).
        resample: whether resampling to the model's GSD is on.
    """
    if scene_gsd is None:
        return 'GSD unknown (not read)'
    native = f'{scene_gsd:.4g} m'
    if model_gsd is None:
        return f'{native}, native (the model records no GSD)'
    if not gsd_differs(scene_gsd, model_gsd):
        return f"{native} (the model's GSD), native"
    if resample:
        return f"{native} -> {model_gsd:.4g} m (model's GSD)"
    return f'{native}, native (model {model_gsd:.4g} m; resampling off)'
