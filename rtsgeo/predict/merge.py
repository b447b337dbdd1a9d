"""Cross-tile merge: one object cut by seams comes out once, whole.

Each tile's instances are kept as boolean masks cropped to their boxes, in
scene pixel coordinates, never as full-scene arrays. Two instances of
different tiles are pieces of the same object when their masks share a pixel
or a pixel edge, however much they disagree; by default so are two instances
of the same tile, so that in the map each pixel belongs to at most one object
and no two objects share a boundary (``keep_overlaps=True`` keeps a tile's
overlapping detections apart, for instance-level evaluation). Joins chain, so
an object larger than a tile or spanning four tiles is one group. A group's
mask is drawn pixel by pixel from the member tile in which that pixel is most
interior (overlap ownership), so seams and tile edges, where a model sees
least context, never decide the outline. Where several members of that tile
cover a pixel, the highest-scoring one keeps it: the group's score is the
mean of its members' scores weighted by the pixels each keeps.

Tiles arrive row by row; a group that cannot reach the rows of later tiles is
final and leaves memory, so memory follows the width of the scene, not its area.
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


def touch_or_overlap(a: TileInstance, b: TileInstance) -> bool:
    """Whether two instances share a pixel or a pixel edge (not only a corner)."""
    region = _intersect(_grow(a.box), b.box)
    if region is None:
        return False
    padded = np.pad(a.mask, 1)
    grown = padded.copy()  # the mask and its 4-neighbours
    grown[1:, :] |= padded[:-1, :]
    grown[:-1, :] |= padded[1:, :]
    grown[:, 1:] |= padded[:, :-1]
    grown[:, :-1] |= padded[:, 1:]
    near = _crop(grown, (a.row - 1, a.col - 1), region)
    return bool((near & _crop(b.mask, (b.row, b.col), region)).any())


def _interiority(tile: Tile, box: Box) -> np.ndarray:
    """Distance of each pixel of *box* to the tile's nearest edge (< 0 outside)."""
    r0, r1, c0, c1 = tile.bounds
    rows = np.arange(box[0], box[1])[:, None]
    cols = np.arange(box[2], box[3])[None, :]
    vertical = np.minimum(rows - r0, r1 - 1 - rows)
    horizontal = np.minimum(cols - c0, c1 - 1 - cols)
    return np.minimum(vertical, horizontal)


def compose_group(members: Sequence[TileInstance]) -> MergedInstance | None:
    """One instance from joined tile instances, each pixel from its most interior tile.

    Among the members of the tile that owns a pixel, the highest-scoring one
    keeps it: each pixel counts once towards the pixel-weighted score.

    Returns:
        The merged instance, or None when no pixel survives.
    """
    boxes = np.array([m.box for m in members])
    box: Box = (
        int(boxes[:, 0].min()),
        int(boxes[:, 1].max()),
        int(boxes[:, 2].min()),
        int(boxes[:, 3].max()),
    )
    tiles = sorted({m.tile for m in members}, key=lambda t: (t.row, t.col))
    shape = (box[1] - box[0], box[3] - box[2])
    # Later tiles win ties (>=): the same rule as Tile.cell for odd overlaps.
    best = np.full(shape, np.iinfo(np.int64).min, dtype=np.int64)
    owner = np.zeros(shape, dtype=np.int64)
    for index, tile in enumerate(tiles):
        depth = _interiority(tile, box)
        wins = depth >= best
        best[wins] = depth[wins]
        owner[wins] = index
    mask = np.zeros(shape, dtype=bool)
    weighted = 0.0
    for member in sorted(members, key=lambda m: -m.score):
        r, c = member.row - box[0], member.col - box[2]
        h, w = member.mask.shape
        owned = member.mask & (owner[r : r + h, c : c + w] == tiles.index(member.tile))
        kept = owned & ~mask[r : r + h, c : c + w]
        mask[r : r + h, c : c + w] |= kept
        weighted += member.score * int(kept.sum())
    pixels = int(mask.sum())
    if pixels == 0:
        return None
    rows, cols = np.nonzero(mask)
    r0, c0 = int(rows.min()), int(cols.min())
    crop = mask[r0 : int(rows.max()) + 1, c0 : int(cols.max()) + 1]
    return MergedInstance(
        crop, box[0] + r0, box[2] + c0, weighted / pixels, len(members)
    )


@dataclass
class InstanceMerger:
    """Streaming cross-tile merge; feed tiles in row-major order.

    Attributes:
        keep_overlaps: join only instances of different tiles, so that
            detections of one tile that overlap stay separate objects (for
            instance-level evaluation). By default they are joined too, and
            no two objects overlap or share a boundary.
    """

    keep_overlaps: bool = False
    _open: dict[int, TileInstance] = field(default_factory=dict)
    _parent: dict[int, int] = field(default_factory=dict)
    _next_id: int = 0

    def _find(self, key: int) -> int:
        while self._parent[key] != key:
            self._parent[key] = self._parent[self._parent[key]]
            key = self._parent[key]
        return key

    def add(self, tile: Tile, instances: Iterable[TileInstance]) -> None:
        """Add one tile's instances, joining those they touch or overlap."""
        for instance in instances:
            key = self._next_id
            self._next_id += 1
            self._parent[key] = key
            for other_key, other in self._open.items():
                if self.keep_overlaps and other.tile == tile:
                    continue
                if touch_or_overlap(instance, other):
                    self._parent[self._find(key)] = self._find(other_key)
            self._open[key] = instance

    def _groups(self) -> dict[int, list[int]]:
        groups: dict[int, list[int]] = {}
        for key in self._open:
            groups.setdefault(self._find(key), []).append(key)
        return groups

    def pop_finished(self, next_row: int | None = None) -> list[MergedInstance]:
        """Merge and remove the groups that no tile starting at *next_row* can touch.

        Args:
            next_row: top row of the next tile row; None when no tile follows.

        Returns:
            The finished objects.
        """
        done: list[MergedInstance] = []
        for keys in self._groups().values():
            members = [self._open[k] for k in keys]
            # A member whose last row is next_row - 1 can still share an edge
            # with an instance of the next tile row.
            if next_row is not None and max(m.box[1] for m in members) >= next_row:
                continue
            for k in keys:
                del self._open[k]
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
        keep_overlaps: keep overlapping detections of one tile apart (see
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
