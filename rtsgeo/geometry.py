"""Geometry cleaning shared by the scene predictor and the campaign store."""

from __future__ import annotations

import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

__all__ = ['polygonal']


def polygonal(
    geometry: BaseGeometry | None, multi: bool = False
) -> Polygon | MultiPolygon:
    """A valid Polygon or MultiPolygon from any geometry (other parts dropped).

    Invalid input is repaired with :func:`shapely.make_valid`; points and
    lines that the repair (or a collection) holds are dropped, and the
    polygons left are unioned.

    Args:
        geometry: any geometry; None counts as empty.
        multi: always return a MultiPolygon (as the output layers store).

    Returns:
        The polygonal part, an empty MultiPolygon if there is none.
    """
    if geometry is None or geometry.is_empty:
        return MultiPolygon()
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    if not isinstance(geometry, Polygon | MultiPolygon):
        parts: list[Polygon] = []
        pending = [geometry]
        while pending:  # collections may nest
            item = pending.pop()
            if isinstance(item, Polygon):
                parts.append(item)
            else:
                pending.extend(getattr(item, 'geoms', []))
        merged = shapely.union_all(parts)
        if merged.is_empty or not isinstance(merged, Polygon | MultiPolygon):
            return MultiPolygon()
        geometry = merged
    if multi and isinstance(geometry, Polygon):
        return MultiPolygon([geometry])
    return geometry
