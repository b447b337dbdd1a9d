"""Box helpers for small objects: jittered training proposals, degenerate boxes."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ['drop_degenerate_boxes', 'jitter_boxes']


def jitter_boxes(
    boxes: Tensor,
    copies: int,
    amount: float,
    image_size: tuple[int, int],
    generator: torch.Generator | None = None,
) -> Tensor:
    """Randomly shifted and rescaled copies of ground-truth boxes.

    Added to the RPN's proposals while training, they give the RoI heads
    positives around every object whatever the RPN proposes, which is what
    keeps the box classifier learning when objects are a few pixels across
    and almost no proposal overlaps them (few positive RoIs per object). It
    extends the usual trick of adding the ground-truth boxes themselves to
    the proposals (torchvision's ``add_gt_proposals``) in the spirit of
    DN-DETR's noised ground-truth boxes (Li et al. 2022). Each copy moves
    the centre by ``u * width`` and ``v * height`` and multiplies the sides by
    ``exp(s)`` and ``exp(t)``, with ``u, v, s, t`` uniform in
    ``[-amount, amount]``; copies are clipped to the image.

    Args:
        boxes: ``(N, 4)`` xyxy ground-truth boxes.
        copies: copies per box.
        amount: largest relative shift and log-scale change.
        image_size: ``(height, width)`` to clip to.
        generator: random generator (default: torch's global one).

    Returns:
        ``(N * copies, 4)`` boxes, the copies of box 0 first; copies that
        clipping left without area are dropped.
    """
    if copies <= 0 or boxes.numel() == 0:
        return boxes.new_zeros(0, 4)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    sides = (boxes[:, 2:] - boxes[:, :2]).clamp(min=1e-3)
    noise = torch.rand(len(boxes), copies, 4, generator=generator)
    noise = (noise.to(boxes) * 2 - 1) * amount
    centre = centre[:, None] + noise[..., :2] * sides[:, None]
    sides = sides[:, None] * noise[..., 2:].exp()
    out = torch.cat([centre - sides / 2, centre + sides / 2], dim=-1).reshape(-1, 4)
    height, width = image_size
    out[:, 0::2] = out[:, 0::2].clamp(0, width)
    out[:, 1::2] = out[:, 1::2].clamp(0, height)
    return out[(out[:, 2] > out[:, 0]) & (out[:, 3] > out[:, 1])]


def drop_degenerate_boxes(boxes: Tensor, min_size: float) -> Tensor:
    """Indices of the boxes at least ``min_size`` pixels wide and high.

    A detection thinner than a pixel holds no pixel of an object: such
    slivers (seen scoring 0.45 along tile edges after short trainings) are
    dropped before non-maximum suppression.

    Args:
        boxes: ``(N, 4)`` xyxy boxes.
        min_size: smallest width and height kept, in pixels.

    Returns:
        ``(K,)`` indices of the kept boxes, in order.
    """
    sides = boxes[:, 2:] - boxes[:, :2]
    return torch.where((sides >= min_size).all(dim=1))[0]
