"""Instance targets: from masks to per-instance masks, boxes and labels.

Every label source (raster masks, polygons, COCO) ends here, so all of them
produce the same sample keys, TorchGeo's instance-segmentation keys:

* ``mask``: ``(N, H, W)`` uint8, one binary mask per instance;
* ``bbox_xyxy``: ``(N, 4)`` float32 pixel boxes ``(x0, y0, x1, y1)`` that
  enclose the mask (x1, y1 exclusive: a one-pixel object at column 3 spans 3-4);
* ``label``: ``(N,)`` int64 class ids; RTS is class 1 (0 is background, as in
  torchvision's detection models).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor

__all__ = [
    'RTS_CLASS',
    'boxes_from_masks',
    'empty_instances',
    'instances_from_mask',
    'pack_instances',
]

#: Class id of a thaw slump in every target.
RTS_CLASS = 1

# 8-connectivity: diagonal neighbours belong to the same object, as with
# OpenCV's findContours on external contours (the paper's conversion).
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def boxes_from_masks(masks: Tensor) -> Tensor:
    """Tight ``(N, 4)`` xyxy boxes of ``(N, H, W)`` masks (exclusive max edges)."""
    if masks.shape[0] == 0:
        return torch.zeros((0, 4), dtype=torch.float32)
    boxes = torch.zeros((masks.shape[0], 4), dtype=torch.float32)
    for i, mask in enumerate(masks.bool()):
        rows = torch.nonzero(mask.any(dim=1)).flatten()
        cols = torch.nonzero(mask.any(dim=0)).flatten()
        if rows.numel() == 0:
            continue
        boxes[i] = torch.tensor(
            [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=torch.float32
        )
    return boxes


def empty_instances(height: int, width: int) -> dict[str, Tensor]:
    """Targets of a window with no instance."""
    return {
        'mask': torch.zeros((0, height, width), dtype=torch.uint8),
        'bbox_xyxy': torch.zeros((0, 4), dtype=torch.float32),
        'label': torch.zeros((0,), dtype=torch.int64),
    }


def pack_instances(
    masks: np.ndarray | Tensor, min_area: int = 1, class_id: int = RTS_CLASS
) -> dict[str, Tensor]:
    """Instance targets from a stack of binary masks.

    Args:
        masks: ``(N, H, W)`` binary masks, one per instance.
        min_area: instances with fewer pixels are dropped.
        class_id: label given to every instance.

    Returns:
        ``mask``, ``bbox_xyxy`` and ``label`` tensors.
    """
    stack = torch.as_tensor(np.asarray(masks)).to(torch.uint8)
    if stack.ndim != 3:
        msg = f'masks must be (N, H, W), got shape {tuple(stack.shape)}'
        raise ValueError(msg)
    areas = stack.flatten(1).sum(dim=1) if stack.shape[0] else torch.zeros(0)
    keep = areas >= max(min_area, 1)
    stack = stack[keep]
    if stack.shape[0] == 0:
        return empty_instances(*stack.shape[1:])
    return {
        'mask': stack,
        'bbox_xyxy': boxes_from_masks(stack),
        'label': torch.full((stack.shape[0],), class_id, dtype=torch.int64),
    }


def instances_from_mask(
    mask: np.ndarray | Tensor,
    min_area: int = 1,
    instance_ids: bool = False,
    class_id: int = RTS_CLASS,
) -> dict[str, Tensor]:
    """Split a label mask into instances.

    Args:
        mask: ``(H, W)`` label raster.
        min_area: instances with fewer pixels are dropped.
        instance_ids: if True, every distinct non-zero value is one instance
            (an instance mask); otherwise all non-zero pixels are foreground
            and instances are their 8-connected components (a binary mask).
        class_id: label given to every instance.

    Returns:
        ``mask``, ``bbox_xyxy`` and ``label`` tensors, instances ordered by id
        (binary masks: by first pixel in row-major order).
    """
    array = np.asarray(mask)
    if array.ndim != 2:
        msg = f'a label mask must be (H, W), got shape {array.shape}'
        raise ValueError(msg)
    if instance_ids:
        ids = np.unique(array)
        ids = ids[ids != 0]
        labelled = array
    else:
        labelled, count = ndimage.label(array != 0, structure=_EIGHT_CONNECTED)
        ids = np.arange(1, count + 1)
    if ids.size == 0:
        return empty_instances(*array.shape)
    stack = labelled[None, :, :] == ids[:, None, None]
    return pack_instances(stack, min_area=min_area, class_id=class_id)
