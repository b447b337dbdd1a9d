"""Masks to polygons through the scene's affine transform."""

from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import rasterio.features
import shapely
from affine import Affine
from rasterio.crs import CRS
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from .merge import MergedInstance

__all__ = ['polygonal', 'vectorize_mask', 'vectorize_masks']


def polygonal(geometry: BaseGeometry) -> Polygon | MultiPolygon:
    """A valid Polygon or MultiPolygon from any geometry (others parts dropped).

    Invalid input is repaired with :func:`shapely.make_valid`; points and
    lines that repair may leave are dropped.
    """
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    if isinstance(geometry, Polygon | MultiPolygon):
        return geometry
    parts: list[Polygon] = []
    for part in getattr(geometry, 'geoms', []):
        if isinstance(part, Polygon):
            parts.append(part)
        elif isinstance(part, MultiPolygon):
            parts.extend(part.geoms)
    if not parts:
        return MultiPolygon()
    merged = shapely.union_all(parts)
    return merged if isinstance(merged, Polygon | MultiPolygon) else MultiPolygon()


def vectorize_mask(
    mask: np.ndarray,
    transform: Affine,
    row: int = 0,
    col: int = 0,
    simplify_tolerance: float = 0.0,
) -> Polygon | MultiPolygon:
    """The pixels of a boolean mask as one valid (Multi)Polygon, on pixel edges.

    Pixels join by their edges (4-connectivity); holes are kept. The outline
    follows pixel edges exactly unless *simplify_tolerance* > 0 (CRS units),
    which simplifies it while keeping its topology.

    Args:
        mask: ``(h, w)`` bool mask.
        transform: the scene's affine transform.
        row: scene row of ``mask[0, 0]``.
        col: scene column of ``mask[0, 0]``.
        simplify_tolerance: simplification tolerance in CRS units.

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
    geometry = polygonal(shapely.union_all(pieces))
    if simplify_tolerance > 0:
        geometry = polygonal(geometry.simplify(simplify_tolerance))
    return geometry


def vectorize_masks(
    instances: Iterable[MergedInstance],
    transform: Affine,
    crs: CRS | str | None,
    simplify_tolerance: float = 0.0,
    min_area: float = 0.0,
) -> gpd.GeoDataFrame:
    """Merged instances as a GeoDataFrame of polygons in the scene's CRS.

    Args:
        instances: objects from :func:`~rtsgeo.predict.merge_tile_instances`.
        transform: the scene's affine transform.
        crs: the scene's CRS.
        simplify_tolerance: simplification tolerance in CRS units (0: exact
            pixel edges).
        min_area: polygons smaller than this (CRS units squared) are dropped.

    Returns:
        One row per object with ``geometry`` (valid Polygon or MultiPolygon,
        holes kept) and ``score``.
    """
    geometries: list[Polygon | MultiPolygon] = []
    scores: list[float] = []
    for instance in instances:
        geometry = vectorize_mask(
            instance.mask, transform, instance.row, instance.col, simplify_tolerance
        )
        if geometry.is_empty or geometry.area < min_area or geometry.area == 0:
            continue
        geometries.append(geometry)
        scores.append(instance.score)
    return gpd.GeoDataFrame(
        {'score': np.asarray(scores, dtype=float)},
        geometry=gpd.GeoSeries(geometries, crs=crs),
        crs=crs,
    )
