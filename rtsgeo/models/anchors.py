"""Anchors for small objects: several scales per level and sub-stride offsets.

torchvision's :class:`~torchvision.models.detection.anchor_utils.AnchorGenerator`
puts one set of anchors at every feature cell's corner, spaced one stride apart,
and rounds their half-sides to whole pixels. That is fine for objects many
strides wide, but a slump of 5-30 px on the stride-4 level can be off-centre by
up to 2 px from every anchor, which alone caps its best IoU well under 0.7 (the
RPN's foreground threshold). :class:`DenseAnchorGenerator` adds two remedies,
both documented detector techniques:

* **several scales per level** (RetinaNet's octave scales ``2^(k/3)``), so an
  object between two levels' sizes still has an anchor of its size;
* **anchor densification** (FaceBoxes, Zhang et al. 2017): ``density`` x
  ``density`` copies of each anchor shifted by fractions of the stride, so
  anchor centres are ``stride / density`` apart.

Anchors keep fractional sides (no rounding), so a 4 px anchor at ratio 2 is
2.8 x 5.7 px rather than 2 x 6 px.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchvision.models.detection.anchor_utils import AnchorGenerator

__all__ = ['DenseAnchorGenerator', 'level_anchors']


def level_anchors(
    size: float,
    scales: Sequence[float],
    aspect_ratios: Sequence[float],
    stride: int,
    density: int = 1,
) -> Tensor:
    """The anchors of one pyramid cell, relative to the cell's anchor point.

    Args:
        size: the level's anchor side in pixels (at scale 1, ratio 1).
        scales: multipliers of ``size``.
        aspect_ratios: height / width ratios.
        stride: the level's stride in pixels.
        density: anchor centres per stride along each axis.

    Returns:
        ``(density**2 * len(scales) * len(aspect_ratios), 4)`` xyxy boxes,
        the offsets slowest and the ratios fastest.
    """
    sides = torch.tensor([size * s for s in scales], dtype=torch.float64)
    ratios = torch.tensor(list(aspect_ratios), dtype=torch.float64)
    heights = (ratios.sqrt()[None, :] * sides[:, None]).reshape(-1)
    widths = (sides[:, None] / ratios.sqrt()[None, :]).reshape(-1)
    base = torch.stack([-widths, -heights, widths, heights], dim=1) / 2
    # Centres evenly spread over one stride, their mean on the anchor point.
    steps = (torch.arange(density, dtype=torch.float64) + 0.5) / density - 0.5
    dy, dx = torch.meshgrid(steps * stride, steps * stride, indexing='ij')
    offsets = torch.stack([dx, dy, dx, dy], dim=-1).reshape(-1, 1, 4)
    return (offsets + base[None]).reshape(-1, 4).float()


class DenseAnchorGenerator(AnchorGenerator):
    """torchvision's anchor generator with several scales and offsets per cell.

    With ``scales=(1.0,)`` and ``density=1`` the anchors are torchvision's,
    without its rounding of half-sides to whole pixels.
    """

    def __init__(
        self,
        sizes: Sequence[float],
        aspect_ratios: Sequence[float],
        strides: Sequence[int],
        scales: Sequence[float] = (1.0,),
        density: int = 1,
    ) -> None:
        """Build the per-level cell anchors.

        Args:
            sizes: anchor side in pixels of each pyramid level.
            aspect_ratios: height / width ratios (the same at every level).
            strides: stride in pixels of each level (4, 8, ... for P2, P3, ...).
            scales: multipliers of each level's size.
            density: anchor centres per stride along each axis.

        Raises:
            ValueError: If the lengths disagree or a value is not positive.
        """
        if len(sizes) != len(strides):
            msg = f'one stride per anchor size: got {len(sizes)} sizes, {len(strides)}'
            raise ValueError(msg + ' strides')
        if density < 1 or not scales or min(scales) <= 0 or min(sizes) <= 0:
            msg = f'density={density}, scales={tuple(scales)} and sizes={tuple(sizes)}'
            raise ValueError(msg + ' must be positive (density an integer >= 1)')
        super().__init__(
            tuple((float(s),) for s in sizes), (tuple(aspect_ratios),) * len(sizes)
        )
        self.scales = tuple(scales)
        self.density = density
        self.cell_anchors = [
            level_anchors(size, scales, aspect_ratios, stride, density)
            for size, stride in zip(sizes, strides, strict=True)
        ]

    def num_anchors_per_location(self) -> list[int]:
        """Anchors per feature cell at each level."""
        return [len(a) for a in self.cell_anchors]
