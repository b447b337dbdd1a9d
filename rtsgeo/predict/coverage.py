"""The observed footprint of a scene, gathered tile by tile, and polygons' rims."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import shapely
from affine import Affine
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from torch import Tensor

from ..geometry import polygonal
from ._bools import whole_blocks
from .tiling import Tile
from .vectorize import vectorize_mask

__all__ = ['CoverageAccumulator']


class CoverageAccumulator:
    """Vectorises each tile's valid pixels inside the cell the tile owns.

    Also counts the valid pixels, the tiles without any and, given each
    tile's unobserved pixels (data a quality mask hides), those too; and
    keeps which pixels were valid, for the rims of the objects found
    (:meth:`rim_unobserved_fractions`).

    The cells of a grid partition the scene, so every valid pixel is counted
    once. Pixel-exact (``block=1``), pieces are unioned row by row to keep
    few vertices in memory. With ``block > 1`` the footprint is drawn on
    blocks of ``block x block`` pixels, each kept only when all its pixels
    are valid: it never holds an invalid pixel, leaves out fewer than
    *block* pixels of valid ground along each edge, and costs little however
    ragged the edges (a cloud mask's), since nothing is vectorised per tile
    and a cell's blocks are found with a few whole-array operations.
    """

    def __init__(
        self,
        transform: Affine,
        simplify_tolerance: float = 0.0,
        *,
        shape: tuple[int, int] | None = None,
        block: int = 1,
    ) -> None:
        """Initialise a new CoverageAccumulator.

        Args:
            transform: the scene's affine transform.
            simplify_tolerance: simplification of the footprint (CRS units).
            shape: the scene's ``(height, width)`` in pixels (needed with
                ``block > 1``).
            block: side of the footprint's blocks in pixels (1: exact).

        Raises:
            ValueError: If *block* is below 1, or above 1 without *shape*.
        """
        if block < 1 or (block > 1 and shape is None):
            raise ValueError(f'block={block} needs 1, or a scene shape')
        self.transform = transform
        self.simplify_tolerance = simplify_tolerance
        self.block = block
        self.valid_pixels = 0
        self.unobserved_pixels = 0
        self.tiles_empty = 0
        self._rows: list[BaseGeometry] = []
        self._pieces: list[BaseGeometry] = []
        self._row: int | None = None
        # Each cell: (r1, c1, None) when all valid, (r1, c1, bits) when part.
        self._cells: dict[tuple[int, int], tuple[int, int, np.ndarray | None]] = {}
        self._blocks: np.ndarray | None = None
        self._drawn: Future[Polygon | MultiPolygon] | None = None
        if block > 1 and shape is not None:
            height, width = shape
            self._blocks = np.ones((-(-height // block), -(-width // block)), bool)
            # Blocks reaching past the scene's edge hold pixels without data.
            if height % block:
                self._blocks[-1] = False
            if width % block:
                self._blocks[:, -1] = False

    def add(
        self,
        tile: Tile,
        valid: Tensor | np.ndarray,
        unobserved: np.ndarray | None = None,
    ) -> None:
        """Add a tile's ``(size, size)`` validity (and unobserved) masks."""
        if self._drawn is not None:
            raise RuntimeError('a tile added after finish()')
        if self._blocks is None and self._row is not None and tile.row != self._row:
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
        cell = valid[inside]
        any_valid = bool(valid.any())
        count = int(np.count_nonzero(cell)) if any_valid else 0
        if not count:
            if not any_valid:
                self.tiles_empty += 1
            self._clear(r0, r1, c0, c1, None)
            return
        self.valid_pixels += count
        if count == cell.size:
            # Entirely valid (most tiles): the cell itself, without polygonising.
            self._cells[r0, c0] = (r1, c1, None)
            if self._blocks is None:
                self._pieces.append(self._cell(r0, r1, c0, c1))
            return
        self._cells[r0, c0] = (r1, c1, np.packbits(cell))
        if self._blocks is None:
            self._pieces.append(vectorize_mask(cell, self.transform, r0, c0))
        else:
            self._clear(r0, r1, c0, c1, cell)

    def _clear(
        self, r0: int, r1: int, c0: int, c1: int, cell: np.ndarray | None
    ) -> None:
        """Clear the blocks with an invalid pixel in a cell (cell None: all)."""
        if self._blocks is None:
            return
        k = self.block
        rows, cols = slice(r0 // k, -(-r1 // k)), slice(c0 // k, -(-c1 // k))
        if cell is None:
            self._blocks[rows, cols] = False
        else:
            self._blocks[rows, cols] &= whole_blocks(cell, r0 % k, c0 % k, k)

    def _cell(self, r0: int, r1: int, c0: int, c1: int) -> Polygon:
        corners = [(c0, r0), (c0, r1), (c1, r1), (c1, r0)]
        return Polygon([self.transform * corner for corner in corners])

    def _flush(self) -> None:
        if self._pieces:
            self._rows.append(shapely.union_all(self._pieces))
            self._pieces = []

    def finish(self) -> None:
        """No more tiles: start drawing the footprint in a thread of its own.

        The reader calls this after its last tile, so that the footprint is
        drawn (GDAL, GEOS and numpy let go of the GIL) while the last batches
        are still in the model and the merge, instead of after them.
        :meth:`result` waits for it; without this call it draws the
        footprint itself.
        """
        if self._drawn is None:
            pool = ThreadPoolExecutor(1, thread_name_prefix='rtsgeo-coverage')
            self._drawn = pool.submit(self._draw)
            pool.shutdown(wait=False)

    def result(self) -> Polygon | MultiPolygon:
        """The footprint: a valid (Multi)Polygon, empty if no pixel was valid."""
        return self._draw() if self._drawn is None else self._drawn.result()

    def _draw(self) -> Polygon | MultiPolygon:
        if self._blocks is not None:
            k = self.block
            footprint = vectorize_mask(self._blocks, self.transform * Affine.scale(k))
        else:
            self._flush()
            if not self._rows:
                return MultiPolygon()
            footprint = polygonal(shapely.union_all(self._rows))
        if self.simplify_tolerance > 0 and not footprint.is_empty:
            footprint = polygonal(footprint.simplify(self.simplify_tolerance))
        return footprint

    def valid_at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Whether each pixel ``(rows[i], cols[i])`` was added as valid.

        Pixels in no cell added (past the scene's edges) are not.
        """
        out = np.zeros(len(rows), dtype=bool)
        if not self._cells or not len(rows):
            return out
        starts = np.array(sorted({r for r, _ in self._cells}))
        c_starts = np.array(sorted({c for _, c in self._cells}))
        at_r = np.searchsorted(starts, rows, side='right') - 1
        at_c = np.searchsorted(c_starts, cols, side='right') - 1
        known = (at_r >= 0) & (at_c >= 0)
        keys = at_r * len(c_starts) + at_c
        order = np.flatnonzero(known)
        if not len(order):
            return out
        order = order[np.argsort(keys[order], kind='stable')]
        cuts = np.flatnonzero(np.diff(keys[order])) + 1
        for pick in np.split(order, cuts):
            key = int(keys[pick[0]])
            r0, c0 = (
                int(starts[key // len(c_starts)]),
                int(c_starts[key % len(c_starts)]),
            )
            entry = self._cells.get((r0, c0))
            if entry is None:
                continue
            r1, c1, bits = entry
            rr, cc = rows[pick] - r0, cols[pick] - c0
            within = (rr < r1 - r0) & (cc < c1 - c0)
            pick, rr, cc = pick[within], rr[within], cc[within]
            if bits is None:
                out[pick] = True
            else:
                out[pick] = _unpacked(bits, r1 - r0, c1 - c0)[rr, cc]
        return out

    def rim_unobserved_fractions(
        self, geometries: Sequence[BaseGeometry | None]
    ) -> np.ndarray:
        """Share of each polygon's one-pixel outer rim without valid data.

        The rim is the ring of pixels that touch the polygon by an edge or a
        corner without being in it (holes included), on the grid of
        :attr:`transform`. Its pixels that were not valid (nodata, padding
        past the scene's edges, or unobserved by a quality mask) count: an
        object cut by a cloud or by the scene's edge has a fraction above 0.
        Counted on the pixels kept by :meth:`add`, exactly, whatever
        ``block``.

        Args:
            geometries: polygons on pixel edges of the grid, in its CRS.

        Returns:
            One fraction in [0, 1] per geometry (0 for an empty one).
        """
        out = np.zeros(len(geometries))
        geoms = _objects(geometries)
        present = np.flatnonzero(~shapely.is_missing(geoms) & ~shapely.is_empty(geoms))
        if not len(present):
            return out
        at, rim_rows, rim_cols = _rims(_affine(geoms[present], ~self.transform))
        seen = self.valid_at(rim_rows, rim_cols)
        total = np.bincount(at, minlength=len(present))
        unseen = np.bincount(at, weights=(~seen).astype(float), minlength=len(present))
        with np.errstate(invalid='ignore', divide='ignore'):
            fractions = np.where(total > 0, unseen / total, 0.0)
        out[present] = fractions
        return out


# Unit steps by direction code: +x, +y, -x, -y (x = column, y = row).
_DX = np.array([1, 0, -1, 0])
_DY = np.array([0, 1, 0, -1])
# (row, col) of the pixel left of a unit edge from (x, y), by direction
# (left as the plane of x and y sees it; shapely's orientation is the same).
_LEFT_R = np.array([0, 0, -1, -1])
_LEFT_C = np.array([0, -1, -1, 0])


def _rims(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(owner, row, col)`` of every rim pixel of polygons on pixel edges.

    Works on the outlines alone, so it costs the perimeters, not the areas:
    every unit edge of an outline has a pixel of the polygon on one side and
    a rim pixel on the other; the rest of the rim are the pixels diagonal to
    the polygon's pixel at each convex corner, except where two parts of the
    polygon touch there by that corner.

    Args:
        pixels: polygons in pixel coordinates (x = column, y = row).
    """
    parts, part_owner = shapely.get_parts(pixels, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    exterior = np.r_[True, ring_part[1:] != ring_part[:-1]]
    # The polygon lies left of travel where a ring's orientation says so.
    left_inside = shapely.is_ccw(rings) == exterior
    ring_owner = part_owner[ring_part]
    coords, ring_at = shapely.get_coordinates(rings, return_index=True)
    coords = np.rint(coords).astype(np.int64)
    same = ring_at[1:] == ring_at[:-1]
    start, stop, ring = coords[:-1][same], coords[1:][same], ring_at[:-1][same]
    delta = stop - start
    moving = (delta != 0).any(axis=1)
    start, delta, ring = start[moving], delta[moving], ring[moving]
    code = np.where(
        delta[:, 0] > 0,
        0,
        np.where(delta[:, 1] > 0, 1, np.where(delta[:, 0] < 0, 2, 3)),
    )
    lengths = np.abs(delta).sum(axis=1)
    # Every unit edge: the pixel on the outer side of it.
    edge = np.repeat(np.arange(len(code)), lengths)
    step = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    k = code[edge]
    x = start[edge, 0] + _DX[k] * step
    y = start[edge, 1] + _DY[k] * step
    left = left_inside[ring[edge]]
    # The right pixel is the left one's mirror across the edge.
    out_r = y + _LEFT_R[k] - np.where(left, _DX[k], 0)
    out_c = x + _LEFT_C[k] + np.where(left, _DY[k], 0)
    owners = [ring_owner[ring[edge]]]
    rows, cols = [out_r], [out_c]
    # Convex corners: a turn towards the polygon's side at a vertex.
    following = np.r_[np.arange(1, len(code)), 0]
    wraps = ring[following] != ring
    # The edge after the last one of a ring is the ring's first.
    firsts = np.r_[0, np.flatnonzero(ring[1:] != ring[:-1]) + 1]
    ring_first = np.zeros(len(code), np.int64)
    ring_first[firsts] = firsts
    ring_first = np.maximum.accumulate(ring_first)
    following = np.where(wraps, ring_first, following)
    d1, d2 = delta // lengths[:, None], delta[following] // lengths[following, None]
    cross = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
    convex = np.where(left_inside[ring], cross > 0, cross < 0)
    at = np.flatnonzero(convex)
    vertex = start[following[at]]
    # The pixel diagonal to the corner's own: in the quadrant d1 - d2.
    quad = d1[at] - d2[at]
    diag_c = vertex[:, 0] + np.where(quad[:, 0] > 0, 0, -1)
    diag_r = vertex[:, 1] + np.where(quad[:, 1] > 0, 0, -1)
    corner_owner = ring_owner[ring[at]]
    # Two convex corners of one polygon at one vertex: its parts touch
    # there, and each diagonal pixel is the other part's.
    spot = (
        (corner_owner * (vertex[:, 1].max(initial=0) + 2) + vertex[:, 1] + 1)
        * (vertex[:, 0].max(initial=0) + 2)
        + vertex[:, 0]
        + 1
    )
    order = np.argsort(spot, kind='stable')
    twice = np.zeros(len(spot), bool)
    repeated = spot[order][1:] == spot[order][:-1]
    twice[order[1:][repeated]] = True
    twice[order[:-1][repeated]] = True
    owners.append(corner_owner[~twice])
    rows.append(diag_r[~twice])
    cols.append(diag_c[~twice])
    owner, row, col = (np.concatenate(v) for v in (owners, rows, cols))
    if not len(owner):
        return owner, row, col
    top, left_col = row.min() - 1, col.min() - 1
    span, height = int(col.max() - left_col) + 2, int(row.max() - top) + 2
    keys = _distinct((owner * height + row - top) * span + col - left_col)
    owner, rest = np.divmod(keys, height * span)
    return owner, rest // span + top, rest % span + left_col


def _unpacked(bits: np.ndarray, height: int, width: int) -> np.ndarray:
    """A cell's ``(height, width)`` validity from its :func:`np.packbits`."""
    flat = np.unpackbits(bits, count=height * width).view(bool)
    return flat.reshape(height, width)


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct *values* (by sorting: np.unique is far slower here)."""
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


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
