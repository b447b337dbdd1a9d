"""Tests of the cross-tile merge."""

from __future__ import annotations

import numpy as np
import pytest

from rtsgeo.predict import (
    InstanceMerger,
    TileInstance,
    compose_group,
    match_scores,
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
    iou, ios = match_scores(a, b)
    assert iou == pytest.approx(40 / 160) and ios == 1.0
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
