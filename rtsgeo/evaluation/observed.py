"""Leave the unobserved ground (cloud, shadow, snow) out of an evaluation.

Neither a prediction nor a reference slump can be judged where the scene
did not see the ground: :func:`remove_unobserved` cuts the unobserved area
out of both before they are matched, and :func:`keep_observed` keeps only
what lies on the observed ground (the ``coverage`` layer of ``rtsgeo map``).
A polygon wholly outside the ground seen is dropped; one partly outside keeps
its observed part, so a slump cut by a cloud is compared with the part of
the reference that was seen.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from ..errors import CRSMismatchError

__all__ = ['keep_observed', 'remove_unobserved', 'unobserved_geometry']


def unobserved_geometry(unobserved: Any, crs: Any) -> BaseGeometry:
    """The union of *unobserved* polygons in *crs*.

    Args:
        unobserved: a GeoDataFrame or GeoSeries (any CRS), or a shapely
            geometry taken to be in *crs*.
        crs: the CRS wanted.

    Raises:
        CRSMismatchError: If *unobserved* has no CRS but *crs* is given, so
            that they cannot be brought together.
    """
    if isinstance(unobserved, BaseGeometry):
        return unobserved
    series = unobserved.geometry if hasattr(unobserved, 'geometry') else unobserved
    if series.crs is None and crs is not None:
        msg = (
            'the unobserved polygons have no CRS: set one '
            "(GeoDataFrame.set_crs('EPSG:...')) or pass a shapely geometry in the "
            "predictions' CRS"
        )
        raise CRSMismatchError(msg)
    if crs is not None:
        series = series.to_crs(crs)
    return shapely.union_all(shapely.make_valid(np.asarray(series.array)))


def remove_unobserved(
    frame: gpd.GeoDataFrame, unobserved: Any
) -> tuple[gpd.GeoDataFrame, int]:
    """*frame* with the unobserved area cut out of its polygons.

    Args:
        frame: polygons (with any other columns).
        unobserved: the unobserved area (see :func:`unobserved_geometry`).

    Returns:
        The rows left, their geometries cut, and how many were dropped
        because nothing of them was observed.
    """
    return _cut(frame, unobserved, shapely.difference)


def keep_observed(
    frame: gpd.GeoDataFrame, observed: Any
) -> tuple[gpd.GeoDataFrame, int]:
    """*frame* cut to the observed ground.

    Args:
        frame: polygons (with any other columns).
        observed: the observed ground, such as the ``coverage`` layer of
            ``rtsgeo map`` (same forms as :func:`unobserved_geometry` takes).

    Returns:
        The rows left, their geometries cut, and how many were dropped
        because nothing of them lies on the observed ground.
    """
    return _cut(frame, observed, shapely.intersection)


def _cut(
    frame: gpd.GeoDataFrame, area: Any, operation: Any
) -> tuple[gpd.GeoDataFrame, int]:
    """*frame* with ``operation(geometry, area)`` for the rows *area* touches."""
    if len(frame) == 0:
        return frame, 0
    shape = unobserved_geometry(area, frame.crs)
    geoms = np.asarray(frame.geometry.array, dtype=object)
    inside = operation is shapely.intersection
    if shape.is_empty:
        if not inside:
            return frame, 0
        return frame.iloc[:0], len(frame)
    shapely.prepare(shape)
    touched = shapely.intersects(shape, geoms)
    cut = geoms.copy()
    cut[touched] = operation(geoms[touched], shape)
    if inside:
        cut[~touched] = None
    keep = ~shapely.is_missing(cut) & ~shapely.is_empty(cut) & (shapely.area(cut) > 0)
    out = frame[keep].copy()
    out = out.set_geometry(gpd.GeoSeries(cut[keep], index=out.index, crs=frame.crs))
    return out, int((~keep).sum())
