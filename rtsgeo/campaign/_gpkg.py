"""GeoPackage plumbing for the campaign store: geometry blobs and SQL functions.

The store adds rows with :mod:`sqlite3` (one transaction per scene) to layers
that GDAL created. GDAL's R-tree triggers call ``ST_IsEmpty`` and ``ST_MinX``
... ``ST_MaxY``, which exist only inside GDAL; :func:`register_functions`
provides them on a plain connection so the spatial index stays in step.
"""

from __future__ import annotations

import sqlite3
import struct
from typing import Any

import numpy as np
import shapely

__all__ = ['blob_bounds', 'encode_geometries', 'encode_geometry', 'register_functions']

_MAGIC = b'GP'
# Envelope indicator -> envelope size in bytes (GeoPackage 1.4, clause 2.1.3).
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


def encode_geometries(geoms: Any, srs_id: int) -> list[bytes | None]:
    """Shapely geometries as GeoPackage geometry blobs (None for no geometry)."""
    array = np.empty(len(geoms), dtype=object)
    array[:] = list(geoms)
    empty = shapely.is_empty(array)
    bounds = shapely.bounds(array)
    wkbs = shapely.to_wkb(array, byte_order=1, include_srid=False)
    srs = struct.pack('<i', srs_id)
    blobs: list[bytes | None] = []
    for geom, is_empty, (minx, miny, maxx, maxy), wkb in zip(
        array, empty, bounds, wkbs, strict=True
    ):
        if geom is None:
            blobs.append(None)
        elif is_empty:
            # Little-endian, no envelope, empty flag set.
            blobs.append(_MAGIC + bytes([0, 0b10001]) + srs + wkb)
        else:
            # Flags 0b011: little-endian header, envelope [minx, maxx, miny, maxy].
            envelope = struct.pack('<4d', minx, maxx, miny, maxy)
            blobs.append(_MAGIC + bytes([0, 0b011]) + srs + envelope + wkb)
    return blobs


def encode_geometry(geom: Any, srs_id: int) -> bytes | None:
    """A shapely geometry as a GeoPackage geometry blob (None for no geometry)."""
    return encode_geometries([geom], srs_id)[0]


def _parse(blob: bytes) -> tuple[bool, tuple[float, float, float, float] | None]:
    """``(is_empty, (minx, maxx, miny, maxy) or None)`` of a geometry blob."""
    if len(blob) < 8 or blob[:2] != _MAGIC:
        raise ValueError('not a GeoPackage geometry blob')
    flags = blob[3]
    empty = bool(flags & 0b10000)
    order = '<' if flags & 1 else '>'
    kind = (flags >> 1) & 0b111
    if empty:
        return True, None
    if kind:
        minx, maxx, miny, maxy = struct.unpack(order + '4d', blob[8:40])
        return False, (minx, maxx, miny, maxy)
    geom = shapely.from_wkb(blob[8 + _ENVELOPE_BYTES[kind] :])
    if geom.is_empty:
        return True, None
    minx, miny, maxx, maxy = geom.bounds
    return False, (minx, maxx, miny, maxy)


def blob_bounds(blob: bytes) -> tuple[float, float, float, float] | None:
    """``(minx, maxx, miny, maxy)`` of a geometry blob, None if empty."""
    return _parse(blob)[1]


def _bound(index: int) -> Any:
    def function(blob: bytes | None) -> float | None:
        if blob is None:
            return None
        bounds = _parse(blob)[1]
        return None if bounds is None else bounds[index]

    return function


def _is_empty(blob: bytes | None) -> int | None:
    return None if blob is None else int(_parse(blob)[0])


def register_functions(connection: sqlite3.Connection) -> None:
    """Give *connection* the ``ST_*`` functions GDAL's GeoPackage triggers call."""
    connection.create_function('ST_IsEmpty', 1, _is_empty, deterministic=True)
    for index, name in enumerate(('ST_MinX', 'ST_MaxX', 'ST_MinY', 'ST_MaxY')):
        connection.create_function(name, 1, _bound(index), deterministic=True)
