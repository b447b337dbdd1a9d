"""Tests of the cross-tile merge."""

from __future__ import annotations

import numpy as np
import pytest

from rtsgeo.predict import (
    InstanceMerger,
    Tile,
    TileInstance,
    compose_group,
    merge_tile_instances,
    tile_windows,
)

from .oracle import oracle_tile_instances, paint_instances


def _disk(
    shape: tuple[int, int], centre: tuple[float, float], radius: float
) -> np.ndarray:
    rows, cols = np.ogrid[: shape[0], : shape[1]]
    return (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius**2


def _merge(labels: np.ndarray, tile: int = 64, overlap: int = 16, offset=(0, 0)):
    height, width = labels.shape
    tiles = tile_windows(width, height, tile, overlap, offset)
    return merge_tile_instances(oracle_tile_instances(labels, tiles))


def test_object_spanning_four_tiles_comes_out_once() -> None:
    # Tiles start at 0 and 48: a disk around (56, 56) lies in all four of
    # the first 2 x 2 tiles, cut by every one of their edges.
    truth = _disk((120, 120), (56, 56), 30)
    merged = _merge(truth.astype(int))
    assert len(merged) == 1
    assert merged[0].parts >= 4
    np.testing.assert_array_equal(paint_instances(merged, truth.shape) > 0, truth)


def test_object_larger_than_a_tile_is_joined_not_truncated() -> None:
    truth = np.zeros((100, 300), dtype=int)
    truth[40:60, 10:290] = 1  # 280 px long: five tiles of 64 px
    truth[20:80, 150:160] = 1
    merged = _merge(truth)
    assert len(merged) == 1
    np.testing.assert_array_equal(paint_instances(merged, truth.shape), truth)


def test_pieces_of_one_object_inside_a_tile_are_rejoined() -> None:
    # A U whose bottom lies outside the first tile: inside it, two pieces.
    truth = np.zeros((120, 60), dtype=int)
    truth[20:100, 10:20] = 1
    truth[20:100, 40:50] = 1
    truth[90:100, 10:50] = 1
    merged = _merge(truth, tile=64, overlap=16)
    assert len(merged) == 1
    np.testing.assert_array_equal(paint_instances(merged, truth.shape), truth)


def test_neighbours_stay_apart_and_shapes_are_exact() -> None:
    rng = np.random.default_rng(0)
    truth = np.zeros((250, 250), dtype=int)
    for i in range(12):
        r, c = rng.integers(10, 240, size=2)
        disk = _disk(truth.shape, (r, c), rng.uniform(3, 25))
        truth[disk & (truth == 0)] = i + 1
    # Separate objects by a clear gap so each stays one connected component.
    from scipy import ndimage

    edges = ndimage.morphological_gradient(truth, size=3) > 0
    truth[edges] = 0
    components, count = ndimage.label(truth > 0, np.ones((3, 3)))
    for offset in [(0, 0), (21, 5)]:
        merged = _merge(components, offset=offset)
        assert len(merged) == count
        painted = paint_instances(merged, truth.shape)
        np.testing.assert_array_equal(painted > 0, components > 0)
        # One merged instance per true component, none shared.
        pairs = {
            (int(a), int(b))
            for a, b in zip(painted[painted > 0], components[painted > 0], strict=True)
        }
        assert len(pairs) == count


def test_most_interior_tile_owns_disputed_pixels() -> None:
    tiles = tile_windows(112, 64, 64, 16)  # columns 0-63 and 48-111
    left, right = tiles
    # The left tile sees the object to its edge (col 63); the right tile sees
    # it only up to col 51. In the shared window 48-63, pixels up to col 55
    # are the left tile's (more interior there), from 56 on the right's.
    a = TileInstance(np.ones((10, 24), bool), 20, 40, 0.9, left)  # cols 40-63
    b = TileInstance(np.ones((10, 4), bool), 20, 48, 0.5, right)  # cols 48-51
    merged = compose_group([a, b])
    assert merged is not None
    assert (merged.row, merged.col, merged.mask.shape) == (20, 40, (10, 16))
    assert merged.score == pytest.approx(0.9)  # the right tile contributed no pixel


def test_score_is_weighted_by_contributed_pixels() -> None:
    tiles = tile_windows(112, 64, 64, 16)
    left, right = tiles
    a = TileInstance(np.ones((10, 34), bool), 20, 30, 0.9, left)  # cols 30-63
    b = TileInstance(np.ones((10, 32), bool), 20, 48, 0.5, right)  # cols 48-79
    merged = compose_group([a, b])
    assert merged is not None and merged.mask.shape == (10, 50)
    # Left owns cols 30-55 (26 columns), right cols 56-79 (24 columns).
    assert merged.score == pytest.approx((0.9 * 26 + 0.5 * 24) / 50)


def test_memory_follows_width_not_height() -> None:
    def peak_open(height: int) -> int:
        labels = np.zeros((height, 200), dtype=int)
        for r in range(10, height - 10, 30):
            for c in range(10, 190, 30):
                labels[r : r + 8, c : c + 8] = 1
        tiles = tile_windows(200, height, 64, 16)
        merger = InstanceMerger()
        peak, done, row = 0, 0, None
        for tile, instances in oracle_tile_instances(labels, tiles):
            if row is not None and tile.row != row:
                done += len(merger.pop_finished(tile.row_off))
            row = tile.row
            merger.add(tile, instances)
            peak = max(peak, merger.open_instances)
        done += len(merger.pop_finished(None))
        assert done == len(range(10, height - 10, 30)) * 6
        return peak

    # The grid and the objects' pattern repeat every 240 rows: past that,
    # a taller scene holds no more instances open at once.
    assert peak_open(1920) == peak_open(480) < 60


def _box(tile: Tile, rows: range, cols: range, score: float = 0.9) -> TileInstance:
    mask = np.ones((len(rows), len(cols)), bool)
    return TileInstance(mask, rows.start, cols.start, score, tile)


@pytest.mark.parametrize('left_stop', [56, 58])
def test_disagreeing_pieces_across_a_seam_become_one_object(left_stop: int) -> None:
    # Columns 0-63 and 48-111, seam between 55 and 56. The left tile ends the
    # object at left_stop - 1, the right one starts it at 55: in the shared
    # window they disagree (IoU and intersection over the smaller well below
    # any matching threshold), and with left_stop=56 they only share an edge.
    left, right = tile_windows(112, 64, 64, 16)
    start = 56 if left_stop == 56 else 55
    a = _box(left, range(20, 30), range(30, left_stop), 0.9)
    b = _box(right, range(20, 30), range(start, 81), 0.6)
    merged = merge_tile_instances([(left, [a]), (right, [b])])
    assert len(merged) == 1
    (whole,) = merged
    assert (whole.row, whole.col, whole.mask.shape) == (20, 30, (10, 51))
    assert whole.mask.all()
    # Left owns columns 30-55 (26), right 56-80 (25).
    assert whole.score == pytest.approx((0.9 * 26 + 0.6 * 25) / 51)


def test_higher_score_keeps_shared_pixels_and_a_gap() -> None:
    (tile,) = tile_windows(64, 64, 64, 16)
    a = _box(tile, range(10, 20), range(10, 30), 0.9)
    b = _box(tile, range(10, 20), range(25, 40), 0.6)
    merged = merge_tile_instances([(tile, [b, a])])
    # b gives up columns 25-29 (a's) and 30 (next to a's): it keeps 9 of 15.
    assert sorted((m.col, m.mask.shape, m.score) for m in merged) == [
        (10, (10, 20), 0.9),
        (31, (10, 9), 0.6),
    ]


def test_duplicate_detection_is_dropped() -> None:
    (tile,) = tile_windows(64, 64, 64, 16)
    a = _box(tile, range(10, 20), range(10, 30), 0.9)
    duplicate = _box(tile, range(9, 21), range(12, 32), 0.7)  # keeps 12 of 240
    merged = merge_tile_instances([(tile, [duplicate, a])])
    assert [(m.row, m.col, m.mask.shape, m.score) for m in merged] == [
        (10, 10, (10, 20), 0.9)
    ]


def test_close_neighbours_across_a_seam_stay_two_objects() -> None:
    # Rows 0-63 and 48-111, seam between rows 55 and 56. Slump A ends at row
    # 56, slump B starts at row 58. The upper tile's mask of A bleeds into
    # row 57, next to B: only the lower tile, which owns rows 56 on, decides.
    upper, lower = tile_windows(64, 112, 64, 16)
    seen_by_upper = [
        _box(upper, range(30, 58), range(10, 40), 0.9),
        _box(upper, range(58, 64), range(10, 40), 0.8),
    ]
    seen_by_lower = [
        _box(lower, range(48, 57), range(10, 40), 0.9),
        _box(lower, range(58, 81), range(10, 40), 0.8),
    ]
    merged = merge_tile_instances([(upper, seen_by_upper), (lower, seen_by_lower)])
    assert sorted((m.row, m.mask.shape) for m in merged) == [
        (30, (27, 30)),
        (58, (23, 30)),
    ]


def test_keep_overlaps_keeps_overlapping_detections_of_a_tile() -> None:
    (tile,) = tile_windows(64, 64, 64, 16)
    a = _box(tile, range(10, 20), range(10, 30), 0.9)
    b = _box(tile, range(10, 20), range(25, 40), 0.6)
    merged = merge_tile_instances([(tile, [a, b])], keep_overlaps=True)
    assert sorted((m.col, m.mask.shape[1], m.score) for m in merged) == [
        (10, 20, 0.9),
        (25, 15, 0.6),
    ]


def test_keep_overlaps_still_joins_pieces_across_a_seam() -> None:
    left, right = tile_windows(112, 64, 64, 16)
    a = _box(left, range(20, 30), range(30, 56))
    b = _box(right, range(20, 30), range(56, 81))
    merged = merge_tile_instances([(left, [a]), (right, [b])], keep_overlaps=True)
    assert len(merged) == 1 and merged[0].mask.shape == (10, 51)


def test_detections_touching_in_a_tile_are_kept_apart() -> None:
    (tile,) = tile_windows(64, 64, 64, 16)
    a = _box(tile, range(10, 20), range(10, 20), 0.9)
    edge = _box(tile, range(20, 25), range(12, 18), 0.8)  # below a, sharing an edge
    corner = _box(tile, range(25, 30), range(18, 30), 0.7)  # meets edge at a corner
    merged = merge_tile_instances([(tile, [a, edge, corner])])
    assert sorted(int(m.mask.sum()) for m in merged) == [24, 59, 100]
    _assert_apart(paint_instances(merged, (64, 64)))


def _assert_apart(painted: np.ndarray) -> None:
    """No two objects share a pixel edge or corner (8-neighbours of two ids)."""
    shifts = [
        (painted[1:], painted[:-1]),
        (painted[:, 1:], painted[:, :-1]),
        (painted[1:, 1:], painted[:-1, :-1]),
        (painted[1:, :-1], painted[:-1, 1:]),
    ]
    for a, b in shifts:
        assert not ((a > 0) & (b > 0) & (a != b)).any(), 'two objects touch'


class _Disagreeing:
    """Per tile, each true component twice, as a poorly trained detector might.

    The first detection is the component dilated or eroded by a tile-dependent
    amount (so neighbouring tiles disagree at their seam); the second, with a
    lower score, is the component shifted by two pixels.
    """

    def __call__(
        self, labels: np.ndarray, tiles: list[Tile]
    ) -> list[tuple[Tile, list[TileInstance]]]:
        from scipy import ndimage

        out = []
        for tile, instances in oracle_tile_instances(labels, tiles):
            found = []
            for inst in instances:
                pad = np.pad(inst.mask, 3)
                if (tile.row + tile.col) % 2:
                    grown = ndimage.binary_dilation(pad, iterations=2)
                else:
                    grown = ndimage.binary_erosion(pad, iterations=1)
                origin = (inst.row - 3, inst.col - 3)
                for mask, score, shift in ((grown, 0.9, 0), (pad, 0.6, 2)):
                    found += _clip(mask, origin[0] + shift, origin[1], score, tile)
            out.append((tile, found))
        return out


def _clip(
    mask: np.ndarray, row: int, col: int, score: float, tile: Tile
) -> list[TileInstance]:
    r0, r1, c0, c1 = tile.bounds
    full = np.zeros((tile.size, tile.size), bool)
    rows = slice(max(row, r0), min(row + mask.shape[0], r1))
    cols = slice(max(col, c0), min(col + mask.shape[1], c1))
    full[rows.start - r0 : rows.stop - r0, cols.start - c0 : cols.stop - c0] = mask[
        rows.start - row : rows.stop - row, cols.start - col : cols.stop - col
    ]
    if not full.any():
        return []
    return [TileInstance(full, r0, c0, score, tile)]


def test_map_has_no_overlap_nor_shared_edge_whatever_the_grid() -> None:
    from scipy import ndimage

    rng = np.random.default_rng(1)
    truth = np.zeros((240, 240), dtype=int)
    for _ in range(14):
        r, c = rng.integers(15, 225, size=2)
        truth |= _disk(truth.shape, (r, c), rng.uniform(4, 14))
    # Objects at least 8 px apart, so that the detector's blur cannot join them.
    components, count = ndimage.label(truth)
    grown, _ = ndimage.label(ndimage.binary_dilation(truth, iterations=4))
    assert grown.max() == count
    for offset in [(0, 0), (21, 5), (40, 33)]:
        tiles = tile_windows(240, 240, 64, 16, offset)
        merged = merge_tile_instances(_Disagreeing()(components, tiles))
        assert len(merged) == count
        painted = np.zeros(truth.shape, np.int32)
        for i, inst in enumerate(merged, start=1):
            h, w = inst.mask.shape
            view = painted[inst.row : inst.row + h, inst.col : inst.col + w]
            assert not (view[inst.mask] > 0).any(), 'two objects overlap'
            view[inst.mask] = i
        _assert_apart(painted)


def test_last_row_objects_pop_as_its_tiles_pass() -> None:
    # One tile row: objects, some across seams, are popped as soon as the
    # tiles still to come cannot touch them, and come out as in one final pop.
    labels = np.zeros((60, 400), dtype=int)
    for k, c in enumerate(range(5, 390, 23)):
        labels[10 + k % 3 : 40, c : c + 14 + 6 * (k % 2)] = k + 1
    tiles = tile_windows(400, 60, 64, 16)
    early, at_end = InstanceMerger(), InstanceMerger()
    popped: list[list] = []
    for tile, instances in oracle_tile_instances(labels, tiles):
        popped.append(early.pop_finished(None, tile.col_off))
        early.add(tile, instances)
        at_end.add(tile, instances)
    popped.append(early.pop_finished(None))
    assert sum(len(p) for p in popped[:-1]) > len(popped[-1]) > 0
    mine = sorted((m.row, m.col, m.score, m.mask.tobytes()) for p in popped for m in p)
    theirs = sorted(
        (m.row, m.col, m.score, m.mask.tobytes()) for m in at_end.pop_finished()
    )
    assert mine == theirs
    np.testing.assert_array_equal(
        paint_instances([m for p in popped for m in p], labels.shape) > 0, labels > 0
    )
