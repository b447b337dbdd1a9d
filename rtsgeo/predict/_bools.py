"""Boolean rasters at k x k blocks: each pixel enlarged, or blocks reduced.

A run of k bools (bytes 0 or 1) read as one unsigned integer k bytes wide is
``0x0101...`` times the bool when all are equal: both directions then cost a
single integer operation per block row instead of numpy's generic repeat or
reduction over a strided view, ten to twenty times slower on a tile.
"""

from __future__ import annotations

import numpy as np

__all__ = ['enlarged', 'whole_blocks']

# Unsigned integers k bytes wide, one per run of k bools.
_RUNS = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def whole_blocks(cell: np.ndarray, top: int, left: int, k: int) -> np.ndarray:
    """Which *k* x *k* blocks under *cell* hold no False pixel of it.

    Args:
        cell: ``(h, w)`` bool.
        top: row of ``cell[0, 0]`` in its block, ``0 <= top < k``.
        left: its column in its block, ``0 <= left < k``.
        k: the blocks' side in pixels.

    Returns:
        ``(ceil((top + h) / k), ceil((left + w) / k))`` bool: the blocks the
        cell reaches, True where none of its pixels there is False (pixels
        of a block outside the cell do not count).
    """
    h, w = cell.shape
    height, width = -(-(top + h) // k) * k, -(-(left + w) // k) * k
    # The cell on whole blocks, padded with True (what AND leaves as it is).
    aligned = np.ones((height, width), bool)
    aligned[top : top + h, left : left + w] = cell
    if k not in _RUNS:
        return aligned.reshape(height // k, k, width // k, k).all(axis=(1, 3))
    # Each block row of k bools is one integer: all True reads as 0x0101...
    kind = _RUNS[k]
    runs = aligned.view(kind).reshape(height // k, k, width // k)
    together = runs[:, 0].copy()
    for row in range(1, k):
        together &= runs[:, row]
    return together == kind(int('01' * k, 16))


def enlarged(mask: np.ndarray, k: int) -> np.ndarray:
    """Each pixel of a ``(h, w)`` bool array as *k* x *k* pixels: ``(h k, w k)``."""
    if k == 1:
        return mask
    kind = _RUNS.get(k)
    if kind is None:
        wide = mask.repeat(k, axis=1)
    else:
        wide = (mask.astype(kind) * kind(int('01' * k, 16))).view(bool)
    return wide.repeat(k, axis=0)
