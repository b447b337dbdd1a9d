"""Joining and batching instance samples."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

from ._instances import boxes_from_masks

__all__ = ['clear_unobserved_instances', 'collate_instances', 'join_samples']

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


def join_samples(samples: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Join the samples that several datasets give for one window.

    The ``collate_fn`` of an image/label
    :class:`~torchgeo.datasets.IntersectionDataset`: each key is taken from the
    first sample that has it, so ``crs`` and ``bounds`` come from the image and
    the instance targets from the labels. TorchGeo's default concatenates every
    value, which instance targets and rtsgeo's metadata do not allow.

    Args:
        samples: samples of one window, in dataset order.

    A sample read with a quality mask carries ``unobserved``: label pixels
    there are cleared (an instance keeps its observed part, one left empty
    is dropped) and the key is removed, so no positive label lies where the
    image is blank.

    Returns:
        The joined sample.
    """
    joined: dict[str, Any] = {}
    for sample in samples:
        for key, value in sample.items():
            joined.setdefault(key, value)
    hidden = joined.pop('unobserved', None)
    if hidden is not None and 'mask' in joined:
        joined.update(clear_unobserved_instances(joined, hidden))
    return joined


def clear_unobserved_instances(
    sample: dict[str, Any], unobserved: Tensor
) -> dict[str, Tensor]:
    """A sample's instance targets without their unobserved pixels.

    Args:
        sample: with ``mask`` ``(N, H, W)``, ``bbox_xyxy`` and ``label``.
        unobserved: ``(H, W)`` bool, True where the ground was not seen.

    Returns:
        ``mask``, ``bbox_xyxy`` and ``label`` of the instances with an
        observed pixel left, boxes fitted to what is left.
    """
    masks = sample['mask']
    if len(masks) == 0 or not bool(unobserved.any()):
        return {k: sample[k] for k in ('mask', 'bbox_xyxy', 'label')}
    masks = masks * (~unobserved).to(masks.dtype)
    keep = (masks.flatten(1) != 0).any(1)
    masks = masks[keep]
    return {
        'mask': masks,
        'bbox_xyxy': boxes_from_masks(masks).to(sample['bbox_xyxy'].dtype),
        'label': sample['label'][keep],
    }
