"""Leave the unobserved ground (cloud, shadow, snow) out of an evaluation.

Neither a prediction nor a reference slump can be judged where the scene
did not see the ground: :func:`remove_unobserved` cuts the unobserved area
out of both before they are matched. A polygon wholly inside it is dropped;
one partly inside keeps its observed part, so a slump cut by a cloud is
compared with the part of the reference that was seen.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from ..errors import CRSMismatchError

__all__ = ['remove_unobserved', 'unobserved_geometry']


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
    if len(frame) == 0:
        return frame, 0
    area = unobserved_geometry(unobserved, frame.crs)
    if area.is_empty:
        return frame, 0
    shapely.prepare(area)
    geoms = np.asarray(frame.geometry.array, dtype=object)
    touched = shapely.intersects(area, geoms)
    cut = geoms.copy()
    cut[touched] = shapely.difference(geoms[touched], area)
    keep = ~shapely.is_empty(cut) & (shapely.area(cut) > 0)
    out = frame[keep].copy()
    out = out.set_geometry(gpd.GeoSeries(cut[keep], index=out.index, crs=frame.crs))
    return out, int((~keep).sum())
