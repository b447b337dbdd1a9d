"""The observed footprint of a scene, gathered tile by tile, and polygons' rims."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from affine import Affine
from shapely import affinity
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from torch import Tensor

from ..geometry import polygonal
from .tiling import Tile
from .vectorize import vectorize_mask

__all__ = ['CoverageAccumulator', 'rim_unobserved_fractions']


class CoverageAccumulator:
    """Vectorises each tile's valid pixels inside the cell the tile owns.

    Also counts the valid pixels, the tiles without any and, given each
    tile's unobserved pixels (data a quality mask hides), those too.

    The cells of a grid partition the scene, so every valid pixel is counted
    once, and pieces are unioned row by row to keep few vertices in memory.
    """

    def __init__(self, transform: Affine, simplify_tolerance: float = 0.0) -> None:
        """Initialise a new CoverageAccumulator.

        Args:
            transform: the scene's affine transform.
            simplify_tolerance: simplification of the footprint (CRS units).
        """
        self.transform = transform
        self.simplify_tolerance = simplify_tolerance
        self.valid_pixels = 0
        self.unobserved_pixels = 0
        self.tiles_empty = 0
        self._rows: list[BaseGeometry] = []
        self._pieces: list[BaseGeometry] = []
        self._row: int | None = None

    def add(
        self,
        tile: Tile,
        valid: Tensor | np.ndarray,
        unobserved: np.ndarray | None = None,
    ) -> None:
        """Add a tile's ``(size, size)`` validity (and unobserved) masks."""
        if self._row is not None and tile.row != self._row:
            self._flush()
        self._row = tile.row
        valid = np.asarray(valid, dtype=bool)
        r0, r1, c0, c1 = tile.cell
        inside = (
            slice(r0 - tile.row_off, r1 - tile.row_off),
            slice(c0 - tile.col_off, c1 - tile.col_off),
        )
        if unobserved is not None:
            self.unobserved_pixels += int(np.count_nonzero(unobserved[inside]))
        if not valid.any():
            self.tiles_empty += 1
            return
        cell = valid[inside]
        count = int(cell.sum())
        if count == cell.size:
            # Entirely valid (most tiles): the cell itself, without polygonising.
            self.valid_pixels += count
            self._pieces.append(self._cell(r0, r1, c0, c1))
        elif count:
            self.valid_pixels += count
            self._pieces.append(vectorize_mask(cell, self.transform, r0, c0))

    def _cell(self, r0: int, r1: int, c0: int, c1: int) -> Polygon:
        corners = [(c0, r0), (c0, r1), (c1, r1), (c1, r0)]
        return Polygon([self.transform * corner for corner in corners])

    def _flush(self) -> None:
        if self._pieces:
            self._rows.append(shapely.union_all(self._pieces))
            self._pieces = []

    def result(self) -> Polygon | MultiPolygon:
        """The footprint: a valid (Multi)Polygon, empty if no pixel was valid."""
        self._flush()
        if not self._rows:
            return MultiPolygon()
        footprint = polygonal(shapely.union_all(self._rows))
        if self.simplify_tolerance > 0:
            footprint = polygonal(footprint.simplify(self.simplify_tolerance))
        return footprint


def rim_unobserved_fractions(
    geometries: Sequence[BaseGeometry], observed: BaseGeometry, transform: Affine
) -> np.ndarray:
    """Share of each polygon's one-pixel outer rim outside the observed footprint.

    The rim is the ring of pixels that touch the polygon by an edge or a
    corner without being in it (holes included), on the grid of *transform*.
    Its pixels outside *observed* (nodata, padding past the scene's edges, or
    unobserved by a quality mask) count: an object cut by a cloud or by the
    scene's edge has a fraction above 0.

    Args:
        geometries: polygons on pixel edges of the grid, in its CRS.
        observed: the observed footprint (:meth:`CoverageAccumulator.result`).
        transform: the grid's affine transform.

    Returns:
        One fraction in [0, 1] per geometry (0 for an empty one).
    """
    out = np.zeros(len(geometries))
    if not len(geometries):
        return out
    forward = _shapely_matrix(~transform)
    back = _shapely_matrix(transform)
    shapely.prepare(observed)
    for index, geometry in enumerate(geometries):
        if geometry is None or geometry.is_empty:
            continue
        pixels = affinity.affine_transform(geometry, forward)
        # Snap to pixel edges so that the rim is made of whole pixels.
        pixels = shapely.set_precision(pixels, 1.0)
        grown = pixels.buffer(1.0, join_style='mitre', mitre_limit=2.0)
        rim = affinity.affine_transform(grown.difference(pixels), back)
        area = rim.area
        if area <= 0:
            continue
        if observed.contains(rim):
            continue
        seen = shapely.intersection(shapely.clip_by_rect(observed, *rim.bounds), rim)
        out[index] = min(max(1.0 - seen.area / area, 0.0), 1.0)
    return out


def _shapely_matrix(t: Affine) -> list[float]:
    """*t* as :func:`shapely.affinity.affine_transform` takes it."""
    return [t.a, t.b, t.d, t.e, t.c, t.f]
