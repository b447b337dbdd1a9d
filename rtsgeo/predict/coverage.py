"""The observed footprint of a scene, gathered tile by tile, and polygons' rims."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from affine import Affine
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
        self._all_pieces: list[BaseGeometry] = []
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
        if count:
            self._all_pieces.append(self._pieces[-1])

    def _cell(self, r0: int, r1: int, c0: int, c1: int) -> Polygon:
        corners = [(c0, r0), (c0, r1), (c1, r1), (c1, r0)]
        return Polygon([self.transform * corner for corner in corners])

    def _flush(self) -> None:
        if self._pieces:
            self._rows.append(shapely.union_all(self._pieces))
            self._pieces = []

    def pieces(self) -> list[BaseGeometry]:
        """The footprint cell by cell: disjoint pieces, one per tile with data."""
        return list(self._all_pieces)

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
    geometries: Sequence[BaseGeometry | None],
    observed: Sequence[BaseGeometry],
    transform: Affine,
) -> np.ndarray:
    """Share of each polygon's one-pixel outer rim outside the observed footprint.

    The rim is the ring of pixels that touch the polygon by an edge or a
    corner without being in it (holes included), on the grid of *transform*.
    Its pixels outside *observed* (nodata, padding past the scene's edges, or
    unobserved by a quality mask) count: an object cut by a cloud or by the
    scene's edge has a fraction above 0.

    Args:
        geometries: polygons on pixel edges of the grid, in its CRS.
        observed: disjoint pieces whose union is the observed footprint
            (:meth:`CoverageAccumulator.pieces`): each rim is intersected
            with the few pieces near it only, however large the scene.
        transform: the grid's affine transform.

    Returns:
        One fraction in [0, 1] per geometry (0 for an empty one).
    """
    out = np.zeros(len(geometries))
    geoms = _objects(geometries)
    present = np.flatnonzero(~shapely.is_missing(geoms) & ~shapely.is_empty(geoms))
    if not len(present):
        return out
    to_pixels, to_crs = ~transform, transform
    # Snapped to pixel edges, so that the rim is made of whole pixels.
    pixels = shapely.set_precision(_affine(geoms[present], to_pixels), 1.0)
    grown = shapely.buffer(pixels, 1.0, join_style='mitre', mitre_limit=2.0)
    rims = _affine(shapely.difference(grown, pixels), to_crs)
    areas = shapely.area(rims)
    pieces = _objects(observed)
    tree = shapely.STRtree(pieces)
    rim_at, piece_at = tree.query(rims, predicate='intersects')
    seen = shapely.area(shapely.intersection(rims[rim_at], pieces[piece_at]))
    seen_by_rim = np.bincount(rim_at, weights=seen, minlength=len(rims))
    with np.errstate(invalid='ignore', divide='ignore'):
        fractions = np.where(areas > 0, 1.0 - seen_by_rim / areas, 0.0)
    out[present] = np.clip(fractions, 0.0, 1.0)
    return out


def _objects(items: Sequence[BaseGeometry | None]) -> np.ndarray:
    """A 1-D object array of *items* (numpy would unpack multi-part geometries)."""
    out = np.empty(len(items), dtype=object)
    for index, item in enumerate(items):
        out[index] = item
    return out


def _affine(geoms: np.ndarray, t: Affine) -> np.ndarray:
    """*geoms* with every coordinate mapped through *t*."""

    def apply(coords: np.ndarray) -> np.ndarray:
        x, y = coords[:, 0], coords[:, 1]
        return np.column_stack([t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f])

    return shapely.transform(geoms, apply)
