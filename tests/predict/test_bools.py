"""Boolean rasters at k x k blocks, against numpy's repeat and reduction."""

from __future__ import annotations

import numpy as np
import pytest

from rtsgeo.predict._bools import enlarged, whole_blocks


@pytest.mark.parametrize('k', [1, 2, 3, 4, 8])
def test_enlarged_repeats_each_pixel(k: int) -> None:
    mask = np.random.default_rng(k).random((7, 9)) < 0.5
    want = mask.repeat(k, axis=0).repeat(k, axis=1)
    np.testing.assert_array_equal(enlarged(mask, k), want)


@pytest.mark.parametrize('k', [2, 3, 4, 8])
def test_whole_blocks_at_every_offset(k: int) -> None:
    rng = np.random.default_rng(k)
    for top in range(k):
        for left in range(k):
            cell = rng.random((13, 11)) < 0.9
            height, width = -(-(top + 13) // k) * k, -(-(left + 11) // k) * k
            padded = np.ones((height, width), bool)
            padded[top : top + 13, left : left + 11] = cell
            blocks = padded.reshape(height // k, k, width // k, k)
            got = whole_blocks(cell, top, left, k)
            np.testing.assert_array_equal(got, blocks.all(axis=(1, 3)))
