"""Batching instance samples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ['collate_instances']

# Keys stacked into one tensor; every other key becomes a list per batch.
_STACKED = ('image', 'valid')


def collate_instances(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Batch instance samples, dropping windows that are entirely nodata.

    ``image`` and ``valid`` are stacked (all windows share a size); instance
    targets (``mask``, ``bbox_xyxy``, ``label``) and metadata stay lists, since
    every window holds a different number of objects. A window whose ``valid``
    mask is all False carries no signal and is dropped, so a batch may be
    smaller than the loader's batch size, or empty (``image`` of length 0).

    Args:
        samples: samples of an rtsgeo dataset.

    Returns:
        The batch.
    """
    kept = [s for s in samples if 'valid' not in s or bool(s['valid'].any())]
    if not kept:
        first = samples[0]
        return {
            key: first[key][:0].unsqueeze(0)[:0] if key in _STACKED else []
            for key in first
        }
    batch: dict[str, Any] = {}
    for key in kept[0]:
        values = [s[key] for s in kept]
        batch[key] = torch.stack(values) if key in _STACKED else values
    return batch
