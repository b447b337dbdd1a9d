"""Box helpers for small objects: jittered training proposals."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ['jitter_boxes']


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
