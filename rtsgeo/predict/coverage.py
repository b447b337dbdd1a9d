"""The valid-data footprint of a scene, gathered tile by tile."""

from __future__ import annotations

import numpy as np
import shapely
from affine import Affine
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from torch import Tensor

from ..geometry import polygonal
from .tiling import Tile
from .vectorize import vectorize_mask

__all__ = ['CoverageAccumulator']


class CoverageAccumulator:
    """Vectorises each tile's valid pixels inside the cell the tile owns.

    Also counts the valid pixels and the tiles without any.

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
        self.tiles_empty = 0
        self._rows: list[BaseGeometry] = []
        self._pieces: list[BaseGeometry] = []
        self._row: int | None = None

    def add(self, tile: Tile, valid: Tensor | np.ndarray) -> None:
        """Add a tile's ``(size, size)`` validity mask."""
        if self._row is not None and tile.row != self._row:
            self._flush()
        self._row = tile.row
        valid = np.asarray(valid, dtype=bool)
        if not valid.any():
            self.tiles_empty += 1
            return
        r0, r1, c0, c1 = tile.cell
        cell = valid[
            r0 - tile.row_off : r1 - tile.row_off, c0 - tile.col_off : c1 - tile.col_off
        ]
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
