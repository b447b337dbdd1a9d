"""Tests of the tile grid."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rtsgeo.errors import ConfigError
from rtsgeo.predict import default_overlap, tile_rows, tile_windows


@pytest.mark.parametrize(
    ('width', 'height', 'tile', 'overlap', 'offset'),
    [
        (200, 130, 64, 16, (0, 0)),
        (64, 64, 64, 16, (0, 0)),
        (30, 10, 64, 16, (0, 0)),
        (257, 300, 64, 15, (21, 7)),
        (100, 100, 32, 0, (0, 0)),
    ],
)
def test_tiles_cover_scene_and_cells_partition_it(
    width: int, height: int, tile: int, overlap: int, offset: tuple[int, int]
) -> None:
    tiles = tile_windows(width, height, tile, overlap, offset)
    covered = np.zeros((height, width), dtype=int)
    owned = np.zeros((height, width), dtype=int)
    for t in tiles:
        r0, r1, c0, c1 = t.bounds
        assert (r1 - r0, c1 - c0) == (tile, tile)  # edge tiles padded, not shrunk
        covered[max(r0, 0) : r1, max(c0, 0) : c1] += 1
        cr0, cr1, cc0, cc1 = t.cell
        assert r0 <= cr0 < cr1 <= r1 and c0 <= cc0 < cc1 <= c1
        owned[cr0:cr1, cc0:cc1] += 1
    assert covered.min() >= 1
    np.testing.assert_array_equal(owned, 1)
    stride = tile - overlap
    rows = sorted({t.row_off for t in tiles})
    assert rows[0] == -offset[0]
    assert all(b - a == stride for a, b in itertools.pairwise(rows))
    assert rows[-1] + tile >= height and rows[-1] < height


def test_edge_tiles_reach_past_the_scene() -> None:
    tiles = tile_windows(100, 100, 64, 16)
    assert [t.col_off for t in tiles if t.row == 0] == [0, 48]
    assert max(t.bounds[3] for t in tiles) == 112  # 12 px of padding


def test_cells_sit_in_the_middle_of_overlaps() -> None:
    tiles = tile_windows(200, 64, 64, 16)
    # Boundaries at the centre of each 16 px overlap: 48 + 8, 96 + 8, 144 + 8.
    assert [t.cell[2:] for t in tiles] == [(0, 56), (56, 104), (104, 152), (152, 200)]


def test_tile_rows_groups_row_major() -> None:
    tiles = tile_windows(150, 150, 64, 16)
    rows = list(tile_rows(tiles))
    assert [len(r) for r in rows] == [3, 3, 3]
    assert [r[0].row for r in rows] == [0, 1, 2]


def test_default_overlap() -> None:
    assert default_overlap(512) == 128


@pytest.mark.parametrize(
    ('kwargs', 'match'),
    [
        ({'width': 0, 'height': 5, 'tile': 8, 'overlap': 0}, 'scene size'),
        ({'width': 5, 'height': 5, 'tile': 8, 'overlap': 8}, 'overlap'),
        (
            {'width': 5, 'height': 5, 'tile': 8, 'overlap': 2, 'offset': (6, 0)},
            'offset',
        ),
    ],
)
def test_bad_values_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        tile_windows(**kwargs)
