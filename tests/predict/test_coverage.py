"""The footprint accumulator: full tiles take a shortcut with the same result."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine

from rtsgeo.predict import tile_windows
from rtsgeo.predict.coverage import CoverageAccumulator
from rtsgeo.predict.tiling import Tile
from rtsgeo.predict.vectorize import vectorize_mask

TRANSFORMS = [
    Affine(3.0, 0.0, 400000.0, 0.0, -3.0, 7500000.0),
    Affine.rotation(20) * Affine(2.0, 0.0, 0.0, 0.0, -2.0, 0.0),
]


def _add_tiles(
    accumulator: CoverageAccumulator, valid: np.ndarray
) -> tuple[Tile, np.ndarray]:
    """Add *valid* (100 x 90) in 48 px tiles overlapping 12; the last tile back."""
    for tile in tile_windows(90, 100, 48, 12):
        r0, r1, c0, c1 = tile.bounds
        window = np.zeros((tile.size, tile.size), dtype=bool)
        rs, cs, re, ce = max(r0, 0), max(c0, 0), min(r1, 100), min(c1, 90)
        window[rs - r0 : re - r0, cs - c0 : ce - c0] = valid[rs:re, cs:ce]
        accumulator.add(tile, window)
    return tile, window


@pytest.mark.parametrize('transform', TRANSFORMS)
def test_footprint_equals_the_polygonised_valid_pixels(transform: Affine) -> None:
    valid = np.ones((100, 90), dtype=bool)
    valid[:30, :40] = False  # partly valid tiles and one fully valid
    valid[70:, 60:] = False
    accumulator = CoverageAccumulator(transform)
    _add_tiles(accumulator, valid)
    footprint = accumulator.result()
    expected = vectorize_mask(valid, transform, 0, 0)
    assert footprint.is_valid
    assert footprint.symmetric_difference(expected).area < 1e-6 * expected.area
    assert accumulator.valid_pixels == int(valid.sum())


def test_footprint_drawn_after_finish_is_the_same() -> None:
    transform = TRANSFORMS[0]
    valid = np.ones((100, 90), dtype=bool)
    valid[20:50, 10:70] = False
    drawn = []
    for finish in (False, True):
        accumulator = CoverageAccumulator(transform, shape=valid.shape, block=4)
        tile, window = _add_tiles(accumulator, valid)
        if finish:
            accumulator.finish()  # drawn in a thread of its own
            with pytest.raises(RuntimeError, match='after finish'):
                accumulator.add(tile, window)
        drawn.append(accumulator.result())
    assert drawn[0].equals(drawn[1]) and drawn[0].area > 0
