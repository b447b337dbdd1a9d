"""Masks to polygons through the scene's affine transform.

Outlines are exact, on pixel edges: minimum area and simplification belong to
the campaign, which measures areas geodesically in m^2.
"""

from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import rasterio.features
from affine import Affine
from rasterio.crs import CRS
from shapely.geometry import MultiPolygon, Polygon, shape

from ..geometry import polygonal
from .merge import MergedInstance

__all__ = ['vectorize_mask', 'vectorize_masks']


def vectorize_mask(
    mask: np.ndarray,
    transform: Affine,
    row: int = 0,
    col: int = 0,
) -> Polygon | MultiPolygon:
    """The pixels of a boolean mask as one valid (Multi)Polygon, on pixel edges.

    Pixels join by their edges (4-connectivity); holes are kept. The pieces
    GDAL traces are disjoint (they meet at most at a corner), so they form
    the (Multi)Polygon as they are, repaired only when that is not valid (a
    ring touching itself at a corner): unioning them would cost as much as
    tracing them on a ragged mask.

    Args:
        mask: ``(h, w)`` bool mask.
        transform: the scene's affine transform.
        row: scene row of ``mask[0, 0]``.
        col: scene column of ``mask[0, 0]``.

    Returns:
        The geometry in the scene's CRS (empty when the mask is).
    """
    if not mask.any():
        return MultiPolygon()
    where = transform * Affine.translation(col, row)
    pieces = [
        shape(geom)
        for geom, _ in rasterio.features.shapes(
            mask.astype(np.uint8), mask=mask, connectivity=4, transform=where
        )
    ]
    return polygonal(pieces[0] if len(pieces) == 1 else MultiPolygon(pieces))


def vectorize_masks(
    instances: Iterable[MergedInstance],
    transform: Affine,
    crs: CRS | str | None,
) -> gpd.GeoDataFrame:
    """Merged instances as a GeoDataFrame of polygons in the scene's CRS.

    Args:
        instances: objects from :func:`~rtsgeo.predict.merge_tile_instances`.
        transform: the scene's affine transform.
        crs: the scene's CRS.

    Returns:
        One row per object with ``geometry`` (valid Polygon or MultiPolygon,
        holes kept) and ``score``.
    """
    geometries: list[Polygon | MultiPolygon] = []
    scores: list[float] = []
    # One GDAL environment for all masks instead of one per mask.
    with rasterio.Env():
        for instance in instances:
            geometry = vectorize_mask(
                instance.mask, transform, instance.row, instance.col
            )
            if geometry.is_empty or geometry.area == 0:
                continue
            geometries.append(geometry)
            scores.append(instance.score)
    return gpd.GeoDataFrame(
        {'score': np.asarray(scores, dtype=float)},
        geometry=gpd.GeoSeries(geometries, crs=crs),
        crs=crs,
    )
