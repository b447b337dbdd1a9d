"""The window grid over a scene: square tiles with overlap, edge tiles padded."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

__all__ = ['Tile', 'default_overlap', 'tile_rows', 'tile_windows']


@dataclass(frozen=True)
class Tile:
    """One window of the grid, in scene pixel coordinates.

    A tile may reach past the scene's edges (its offsets may be negative, its
    far edges beyond the scene): those pixels are padding, read as nodata.

    Attributes:
        row: index of the tile's row in the grid.
        col: index of the tile's column in the grid.
        row_off: scene row of the tile's top edge.
        col_off: scene column of the tile's left edge.
        size: tile side in pixels.
        cell: ``(row_start, row_stop, col_start, col_stop)``: the part of the
            scene this tile owns. The cells of a grid partition the scene;
            each lies inside its tile, away from the overlap's outer half.
    """

    row: int
    col: int
    row_off: int
    col_off: int
    size: int
    cell: tuple[int, int, int, int]

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        """``(row_start, row_stop, col_start, col_stop)`` of the whole tile."""
        return (
            self.row_off,
            self.row_off + self.size,
            self.col_off,
            self.col_off + self.size,
        )


def default_overlap(tile_size: int) -> int:
    """Overlap used when none is given: a quarter of the tile."""
    return tile_size // 4


def _starts(extent: int, tile: int, stride: int, offset: int) -> list[int]:
    start = -offset
    starts = [start]
    while starts[-1] + tile < extent:
        starts.append(starts[-1] + stride)
    return starts


def _cells(starts: list[int], extent: int, overlap: int) -> list[tuple[int, int]]:
    # Boundaries sit in the middle of each overlap, so a pixel belongs to the
    # tile in which it is furthest from an edge (the most interior one).
    inner = [s + overlap // 2 for s in starts[1:]]
    bounds = [0, *(min(max(b, 0), extent) for b in inner), extent]
    return list(itertools.pairwise(bounds))


def tile_windows(
    width: int,
    height: int,
    tile: int,
    overlap: int,
    offset: tuple[int, int] = (0, 0),
) -> list[Tile]:
    """A grid of square tiles covering a ``width`` x ``height`` scene.

    Tiles step by ``tile - overlap``. The grid starts ``offset`` pixels before
    the scene's top-left corner (``(row, col)``; padding, for seam tests) and
    reaches at least to its far edges; the last row and column are padded
    rather than shifted, so every tile has the same size and the same stride.

    Args:
        width: scene width in pixels.
        height: scene height in pixels.
        tile: tile side in pixels.
        overlap: pixels shared by neighbouring tiles, ``0 <= overlap < tile``.
        offset: ``(row, col)`` shift of the grid origin, each in
            ``[0, tile - overlap)``.

    Returns:
        Tiles in row-major order.

    Raises:
        ConfigError: If a size, the overlap or the offset is out of range.
    """
    if width < 1 or height < 1:
        raise ConfigError(f'scene size {width}x{height} px: need at least 1x1')
    if tile < 1 or not 0 <= overlap < tile:
        msg = f'tile={tile}, overlap={overlap}: need tile >= 1 and 0 <= overlap < tile'
        raise ConfigError(msg)
    stride = tile - overlap
    if not all(0 <= o < stride for o in offset):
        msg = f'offset={offset}: each value must be in [0, {stride}) (the stride)'
        raise ConfigError(msg)
    rows = _starts(height, tile, stride, offset[0])
    cols = _starts(width, tile, stride, offset[1])
    row_cells = _cells(rows, height, overlap)
    col_cells = _cells(cols, width, overlap)
    return [
        Tile(i, j, r, c, tile, (*row_cells[i], *col_cells[j]))
        for i, r in enumerate(rows)
        for j, c in enumerate(cols)
    ]


def tile_rows(tiles: list[Tile]) -> Iterator[list[Tile]]:
    """The grid's tiles one row at a time, top to bottom."""
    order = np.argsort([t.row for t in tiles], kind='stable')
    current: list[Tile] = []
    for index in order:
        tile = tiles[int(index)]
        if current and tile.row != current[0].row:
            yield current
            current = []
        current.append(tile)
    if current:
        yield current
