"""Pixel-aligned RoI operations: pooling, mask targets and mask pasting.

rtsgeo's boxes have exclusive far edges: an object on pixels 10..17 has the box
``[10, 18]``, and a pixel's centre is at ``i + 0.5`` (detectron2 and COCO do the
same). torchvision's Mask R-CNN helpers assume the older convention where a
pixel's centre is at ``i``: its RoIAlign (``aligned=False``) samples half a
cell off (2 px on the stride-4 level), stretches every RoI to at least one
cell, projects mask targets half a pixel off, and pastes each mask one pixel
wider and taller than its box. On a slump of 2 x 2 px a perfect mask then
pastes as 3 x 3 (IoU 0.44), so it can never be matched at IoU 0.5. The
functions here sample at pixel centres everywhere (RoIAlign ``aligned=True``,
as detectron2's ``ROIAlignV2``): a perfect mask pastes back onto its pixels.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import roi_align
from torchvision.ops.poolers import LevelMapper

__all__ = ['PyramidRoIAlign', 'aligned_mask_targets', 'paste_masks_aligned']


def _rois(boxes: Sequence[Tensor]) -> Tensor:
    """``(K, 5)`` RoIs (image index, x1, y1, x2, y2) of per-image boxes."""
    return torch.cat(
        [torch.cat([b.new_full((len(b), 1), i), b], 1) for i, b in enumerate(boxes)]
    )


class PyramidRoIAlign(nn.Module):
    """RoIAlign over P2..P5 at pixel centres, each box on the level of its size.

    The level of a box of side ``s = sqrt(area)`` is ``floor(4 + log2(s / 224))``
    clamped to the pooled levels (the FPN paper's rule, as torchvision's and
    detectron2's poolers).
    """

    def __init__(
        self,
        names: Sequence[str],
        strides: Sequence[int],
        output_size: int,
        sampling_ratio: int = 2,
    ) -> None:
        """Set the levels and the output size.

        Args:
            names: feature names of the pooled levels, finest first.
            strides: their strides in input pixels.
            output_size: side of the pooled features.
            sampling_ratio: sampling points per bin along each axis.
        """
        super().__init__()
        self.names = list(names)
        self.scales = [1.0 / s for s in strides]
        first = int(math.log2(strides[0]))
        self.mapper = LevelMapper(first, first + len(self.names) - 1)
        self.output_size = (output_size, output_size)
        self.sampling_ratio = sampling_ratio

    def levels(self, boxes: Tensor) -> Tensor:
        """Index into the pooled levels of each ``(K, 4)`` box."""
        return self.mapper([boxes])

    def forward(
        self,
        features: OrderedDict[str, Tensor],
        boxes: list[Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> Tensor:
        """``(K, C, S, S)`` features of every image's boxes, in order."""
        del image_shapes  # the strides are fixed: no need to infer the scales
        rois = _rois(boxes)
        first = features[self.names[0]]
        out = first.new_zeros((len(rois), first.shape[1], *self.output_size))
        if len(rois) == 0:
            return out
        levels = self.levels(rois[:, 1:])
        pairs = zip(self.names, self.scales, strict=True)
        for index, (name, scale) in enumerate(pairs):
            chosen = torch.where(levels == index)[0]
            if len(chosen) == 0:
                continue
            pooled = roi_align(
                features[name],
                rois[chosen],
                self.output_size,
                spatial_scale=scale,
                sampling_ratio=self.sampling_ratio,
                aligned=True,
            )
            out[chosen] = pooled.to(out.dtype)
        return out


def aligned_mask_targets(
    masks: Tensor, boxes: Tensor, matched: Tensor, size: int
) -> Tensor:
    """``(K, size, size)`` mask targets: each box's window of its object's mask.

    Args:
        masks: ``(N, H, W)`` instance masks of one image.
        boxes: ``(K, 4)`` RoIs of that image.
        matched: ``(K,)`` index of each RoI's instance in ``masks``.
        size: side of the mask head's output.

    Returns:
        Fractions in [0, 1] (bilinear samples of the binary mask).
    """
    rois = torch.cat([matched[:, None].to(boxes.dtype), boxes], 1)
    return roi_align(
        masks[:, None].to(boxes.dtype), rois, (size, size), 1.0, aligned=True
    )[:, 0]


def paste_masks_aligned(masks: Tensor, boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """Paste ``(N, 1, M, M)`` box-relative masks into ``(N, 1, H, W)`` images.

    Each image pixel takes the bilinear sample of its box's mask at the
    pixel's centre; pixels beyond the box fade to zero within one pixel.

    Args:
        masks: mask probabilities over their boxes.
        boxes: ``(N, 4)`` boxes in the image's pixels (exclusive far edges).
        size: ``(H, W)`` of the image.

    Returns:
        The pasted probabilities.
    """
    height, width = size
    out = masks.new_zeros((len(masks), 1, height, width))
    for i, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
        if x2 <= x1 or y2 <= y1:
            continue
        c0, c1 = max(math.floor(x1) - 1, 0), min(math.ceil(x2) + 1, width)
        r0, r1 = max(math.floor(y1) - 1, 0), min(math.ceil(y2) + 1, height)
        if c1 <= c0 or r1 <= r0:
            continue
        xs = torch.arange(c0, c1, device=masks.device, dtype=masks.dtype) + 0.5
        ys = torch.arange(r0, r1, device=masks.device, dtype=masks.dtype) + 0.5
        gx = (xs - x1) / (x2 - x1) * 2 - 1
        gy = (ys - y1) / (y2 - y1) * 2 - 1
        grid = torch.stack(
            [gx[None, :].expand(len(gy), -1), gy[:, None].expand(-1, len(gx))], -1
        )
        out[i, 0, r0:r1, c0:c1] = F.grid_sample(
            masks[i : i + 1], grid[None], align_corners=False
        )[0, 0]
    return out
