"""Cross-tile merge: one object cut by seams comes out once, whole.

Each tile's instances are kept as boolean masks cropped to their boxes, in
scene pixel coordinates, never as full-scene arrays. The scene is a map, each
pixel in at most one object:

* **In a tile**, detections are resolved by score, as panoptic outputs are:
  the higher score keeps a pixel, and a detection also gives up the pixels
  next to one it lost to (so two objects never share a boundary); one left
  with less than half of its pixels is a duplicate and is dropped.
  ``keep_overlaps=True`` skips this, for instance-level evaluation.
* **Ownership.** A tile then keeps only the pixels of its cell, the part of
  the scene where it is the most interior tile: seams and tile edges, where a
  model sees least context, never decide an outline.
* **Across tiles**, pieces that touch across a cell boundary (an edge or a
  corner) are one object, however much the two tiles' masks disagree; so is
  a piece that the other tile's detection covers (a tile that saw an object
  2 px larger leaves no sliver of its own). Joins chain, so an object larger
  than a tile or spanning four tiles is one group.

A group's score is the mean of its members' scores weighted by the pixels
each keeps. Tiles arrive row by row; a group that cannot touch the rows of
later tiles is final and leaves memory, so memory follows the width of the
scene, not its area.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .tiling import Tile

__all__ = [
    'InstanceMerger',
    'MergedInstance',
    'TileInstance',
    'compose_group',
    'merge_tile_instances',
    'resolve_overlaps',
    'touch_or_overlap',
]

Box = tuple[int, int, int, int]  # row_start, row_stop, col_start, col_stop


@dataclass
class TileInstance:
    """One instance found in one tile, cropped to its box.

    Attributes:
        mask: ``(h, w)`` bool mask.
        row: scene row of ``mask[0, 0]``.
        col: scene column of ``mask[0, 0]``.
        score: detection score.
        tile: the tile it was found in.
    """

    mask: np.ndarray
    row: int
    col: int
    score: float
    tile: Tile

    @property
    def box(self) -> Box:
        """``(row_start, row_stop, col_start, col_stop)`` in scene pixels."""
        h, w = self.mask.shape
        return (self.row, self.row + h, self.col, self.col + w)


@dataclass
class MergedInstance:
    """One object after the merge, cropped to its box.

    Attributes:
        mask: ``(h, w)`` bool mask.
        row: scene row of ``mask[0, 0]``.
        col: scene column of ``mask[0, 0]``.
        score: combined score.
        parts: number of tile instances merged into it.
    """

    mask: np.ndarray
    row: int
    col: int
    score: float
    parts: int = 1


def _intersect(a: Box, b: Box) -> Box | None:
    box = (max(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), min(a[3], b[3]))
    return box if box[0] < box[1] and box[2] < box[3] else None


def _grow(box: Box) -> Box:
    return (box[0] - 1, box[1] + 1, box[2] - 1, box[3] + 1)


def _crop(mask: np.ndarray, origin: tuple[int, int], box: Box) -> np.ndarray:
    r, c = origin
    return mask[box[0] - r : box[1] - r, box[2] - c : box[3] - c]


def _grown(mask: np.ndarray) -> np.ndarray:
    """*mask* and its 8-neighbours, one pixel larger on every side."""
    h, w = mask.shape
    grown = np.zeros((h + 2, w + 2), dtype=bool)
    for dr in range(3):
        for dc in range(3):
            grown[dr : dr + h, dc : dc + w] |= mask
    return grown


def _trimmed(
    mask: np.ndarray, row: int, col: int, score: float, tile: Tile
) -> TileInstance | None:
    """An instance cropped to the box of its pixels (None if it has none)."""
    rows = np.flatnonzero(mask.any(1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(0))
    crop = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return TileInstance(crop, row + int(rows[0]), col + int(cols[0]), score, tile)


def touch_or_overlap(a: TileInstance, b: TileInstance) -> bool:
    """Whether two instances share a pixel, a pixel edge or a pixel corner."""
    region = _intersect(_grow(a.box), b.box)
    if region is None:
        return False
    near = _crop(_grown(a.mask), (a.row - 1, a.col - 1), region)
    return bool((near & _crop(b.mask, (b.row, b.col), region)).any())


def _overlap(a: TileInstance, b: TileInstance) -> bool:
    region = _intersect(a.box, b.box)
    if region is None:
        return False
    crop_a = _crop(a.mask, (a.row, a.col), region)
    return bool((crop_a & _crop(b.mask, (b.row, b.col), region)).any())


def resolve_overlaps(
    instances: Sequence[TileInstance], min_kept: float = 0.5
) -> list[TileInstance]:
    """One tile's detections as a map: each pixel in at most one, none touching.

    By decreasing score, each detection keeps the pixels that no higher one
    has kept and that touch none of them (edge or corner). A detection that
    keeps less than *min_kept* of its pixels is dropped as a duplicate.

    Args:
        instances: detections of one tile.
        min_kept: share of its pixels a detection must keep.

    Returns:
        The kept detections, cropped to what they keep, by decreasing score.
    """
    if not instances:
        return []
    tile = instances[0].tile
    # Pixels kept so far and their neighbours, in tile coordinates plus a margin.
    blocked = np.zeros((tile.size + 2, tile.size + 2), dtype=bool)
    kept: list[TileInstance] = []
    for instance in sorted(instances, key=lambda i: -i.score):
        r = instance.row - tile.row_off + 1
        c = instance.col - tile.col_off + 1
        h, w = instance.mask.shape
        free = instance.mask & ~blocked[r : r + h, c : c + w]
        count = int(free.sum())
        if count == 0 or count < min_kept * int(instance.mask.sum()):
            continue
        blocked[r - 1 : r + h + 1, c - 1 : c + w + 1] |= _grown(free)
        trimmed = _trimmed(free, instance.row, instance.col, instance.score, tile)
        if trimmed is not None:
            kept.append(trimmed)
    return kept


def _in_cell(instance: TileInstance) -> TileInstance | None:
    """The part of an instance inside its tile's cell (None if nothing)."""
    cell = _intersect(instance.box, instance.tile.cell)
    if cell is None:
        return None
    mask = _crop(instance.mask, (instance.row, instance.col), cell)
    return _trimmed(mask, cell[0], cell[2], instance.score, instance.tile)


def compose_group(members: Sequence[TileInstance]) -> MergedInstance | None:
    """One instance from joined tile instances, each pixel from the tile owning it.

    A member keeps only the pixels of its tile's cell; where several members
    of that tile cover a pixel, the highest-scoring one keeps it, so each
    pixel counts once towards the pixel-weighted score.

    Returns:
        The merged instance, or None when no pixel survives.
    """
    owned = [p for p in map(_in_cell, members) if p is not None]
    if not owned:
        return None
    boxes = np.array([m.box for m in owned])
    box: Box = (
        int(boxes[:, 0].min()),
        int(boxes[:, 1].max()),
        int(boxes[:, 2].min()),
        int(boxes[:, 3].max()),
    )
    mask = np.zeros((box[1] - box[0], box[3] - box[2]), dtype=bool)
    weighted = 0.0
    for member in sorted(owned, key=lambda m: -m.score):
        r, c = member.row - box[0], member.col - box[2]
        h, w = member.mask.shape
        kept = member.mask & ~mask[r : r + h, c : c + w]
        mask[r : r + h, c : c + w] |= kept
        weighted += member.score * int(kept.sum())
    return MergedInstance(
        mask, box[0], box[2], weighted / int(mask.sum()), len(members)
    )


@dataclass
class InstanceMerger:
    """Streaming cross-tile merge; feed tiles in row-major order.

    Attributes:
        keep_overlaps: keep a tile's detections as they are, overlapping or
            not (for instance-level evaluation). By default they are resolved
            first (see :func:`resolve_overlaps`), and no two objects of the
            scene overlap or share a boundary.
    """

    keep_overlaps: bool = False
    _open: dict[int, TileInstance] = field(default_factory=dict)
    _seen: dict[int, TileInstance] = field(default_factory=dict)
    _parent: dict[int, int] = field(default_factory=dict)
    _next_id: int = 0

    def _find(self, key: int) -> int:
        while self._parent[key] != key:
            self._parent[key] = self._parent[self._parent[key]]
            key = self._parent[key]
        return key

    def add(self, tile: Tile, instances: Iterable[TileInstance]) -> None:
        """Add one tile's instances: keep their cell's pixels, join what they touch."""
        found = list(instances)
        if not self.keep_overlaps:
            found = resolve_overlaps(found)
        open_before = [
            (key, piece, self._seen[key]) for key, piece in self._open.items()
        ]
        for seen in found:
            piece = _in_cell(seen)
            if piece is None:
                continue
            key = self._next_id
            self._next_id += 1
            self._parent[key] = key
            for other_key, other, other_seen in open_before:
                if other.tile != tile and (
                    touch_or_overlap(piece, other)
                    or _overlap(seen, other)
                    or _overlap(other_seen, piece)
                ):
                    self._parent[self._find(key)] = self._find(other_key)
            self._open[key] = piece
            self._seen[key] = seen

    def _groups(self) -> dict[int, list[int]]:
        groups: dict[int, list[int]] = {}
        for key in self._open:
            groups.setdefault(self._find(key), []).append(key)
        return groups

    def _stop(self, keys: list[int], side: int) -> int:
        """The group's furthest box edge (1: bottom, 3: right), seen parts too."""
        return max(max(self._open[k].box[side], self._seen[k].box[side]) for k in keys)

    def pop_finished(
        self, next_row: int | None = None, next_col: int | None = None
    ) -> list[MergedInstance]:
        """Merge and remove the groups that no tile still to come can touch.

        Args:
            next_row: top row of the next tile row; None when no tile row
                follows.
            next_col: in the last tile row (*next_row* None), the left column
                of the next tile of that row; None when no tile follows.

        Returns:
            The finished objects.
        """
        done: list[MergedInstance] = []
        for keys in self._groups().values():
            members = [self._open[k] for k in keys]
            # A member whose last row is next_row - 1 (last column next_col - 1)
            # can still touch an instance of the tiles to come.
            if next_row is not None:
                if self._stop(keys, 1) >= next_row:
                    continue
            elif next_col is not None and self._stop(keys, 3) >= next_col:
                continue
            for k in keys:
                del self._open[k], self._seen[k]
            merged = compose_group(members)
            if merged is not None:
                done.append(merged)
        self._parent = {k: self._find(k) for k in self._open}
        return done

    @property
    def open_instances(self) -> int:
        """Tile instances held in memory, waiting for later tiles."""
        return len(self._open)


def merge_tile_instances(
    tiles: Iterable[tuple[Tile, Sequence[TileInstance]]],
    keep_overlaps: bool = False,
) -> list[MergedInstance]:
    """Merge the instances of a grid's tiles into whole objects.

    Args:
        tiles: ``(tile, instances)`` pairs in row-major order.
        keep_overlaps: keep each tile's detections as they are (see
            :class:`InstanceMerger`).

    Returns:
        The merged objects.
    """
    merger = InstanceMerger(keep_overlaps)
    merged: list[MergedInstance] = []
    current_row: int | None = None
    for tile, instances in tiles:
        if current_row is not None and tile.row != current_row:
            merged += merger.pop_finished(tile.row_off)
        current_row = tile.row
        merger.add(tile, instances)
    return merged + merger.pop_finished(None)
