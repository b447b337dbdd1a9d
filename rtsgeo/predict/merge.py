"""Cross-tile merge: one object cut by seams comes out once, whole.

Each tile's instances are kept as boolean masks cropped to their boxes, in
scene pixel coordinates, never as full-scene arrays. Two instances of
overlapping tiles are the same object when their masks agree inside the two
tiles' shared window (mask IoU, or intersection over the smaller mask for a
fragment of a larger object); matches chain, so an object larger than a tile
or spanning four tiles is joined into one group. A group's mask is then drawn
pixel by pixel from the tile in which that pixel is most interior (overlap
ownership), so seams and tile edges, where a model sees least context, never
decide the outline. Its score is the mean of its members' scores weighted by
the pixels each contributes.

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
    'match_scores',
    'merge_tile_instances',
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


def _crop(instance: TileInstance, box: Box) -> np.ndarray:
    r, c = instance.row, instance.col
    return instance.mask[box[0] - r : box[1] - r, box[2] - c : box[3] - c]


def _count_in(instance: TileInstance, region: Box) -> int:
    box = _intersect(instance.box, region)
    return int(_crop(instance, box).sum()) if box else 0


def match_scores(a: TileInstance, b: TileInstance) -> tuple[float, float]:
    """Mask IoU and intersection over the smaller, inside the tiles' shared window."""
    shared = _intersect(a.tile.bounds, b.tile.bounds)
    both = _intersect(a.box, b.box)
    region = _intersect(shared, both) if shared and both else None
    if region is None:
        return 0.0, 0.0
    inter = int((_crop(a, region) & _crop(b, region)).sum())
    if inter == 0:
        return 0.0, 0.0
    area_a, area_b = _count_in(a, shared), _count_in(b, shared)  # type: ignore[arg-type]
    return inter / (area_a + area_b - inter), inter / min(area_a, area_b)


def _interiority(tile: Tile, box: Box) -> np.ndarray:
    """Distance of each pixel of *box* to the tile's nearest edge (< 0 outside)."""
    r0, r1, c0, c1 = tile.bounds
    rows = np.arange(box[0], box[1])[:, None]
    cols = np.arange(box[2], box[3])[None, :]
    vertical = np.minimum(rows - r0, r1 - 1 - rows)
    horizontal = np.minimum(cols - c0, c1 - 1 - cols)
    return np.minimum(vertical, horizontal)


def compose_group(members: Sequence[TileInstance]) -> MergedInstance | None:
    """One instance from matched tile instances, each pixel from its most interior tile.

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
    weighted = pixels = 0.0
    for member in members:
        r, c = member.row - box[0], member.col - box[2]
        h, w = member.mask.shape
        owned = member.mask & (owner[r : r + h, c : c + w] == tiles.index(member.tile))
        count = int(owned.sum())
        mask[r : r + h, c : c + w] |= owned
        weighted += member.score * count
        pixels += count
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
        match_iou: mask IoU in the shared window at which two instances match.
        match_ios: intersection over the smaller mask at which they match.
    """

    match_iou: float = 0.5
    match_ios: float = 0.8
    _open: dict[int, TileInstance] = field(default_factory=dict)
    _parent: dict[int, int] = field(default_factory=dict)
    _next_id: int = 0

    def _find(self, key: int) -> int:
        while self._parent[key] != key:
            self._parent[key] = self._parent[self._parent[key]]
            key = self._parent[key]
        return key

    def add(self, tile: Tile, instances: Iterable[TileInstance]) -> None:
        """Add one tile's instances, matching them with open ones of other tiles."""
        candidates = [
            (key, other)
            for key, other in self._open.items()
            if other.tile != tile and _intersect(other.tile.bounds, tile.bounds)
        ]
        for instance in instances:
            key = self._next_id
            self._next_id += 1
            self._open[key] = instance
            self._parent[key] = key
            for other_key, other in candidates:
                if not _intersect(other.box, instance.box):
                    continue
                iou, ios = match_scores(instance, other)
                if iou >= self.match_iou or ios >= self.match_ios:
                    self._parent[self._find(key)] = self._find(other_key)

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
            if next_row is not None and max(m.box[1] for m in members) > next_row:
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
    match_iou: float = 0.5,
    match_ios: float = 0.8,
) -> list[MergedInstance]:
    """Merge the instances of a grid's tiles into whole objects.

    Args:
        tiles: ``(tile, instances)`` pairs in row-major order.
        match_iou: mask IoU (in the shared window) for a match.
        match_ios: intersection over the smaller mask for a match.

    Returns:
        The merged objects.
    """
    merger = InstanceMerger(match_iou, match_ios)
    merged: list[MergedInstance] = []
    current_row: int | None = None
    for tile, instances in tiles:
        if current_row is not None and tile.row != current_row:
            merged += merger.pop_finished(tile.row_off)
        current_row = tile.row
        merger.add(tile, instances)
    return merged + merger.pop_finished(None)
