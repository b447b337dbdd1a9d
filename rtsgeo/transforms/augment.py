"""Geometric augmentation applied identically to imagery and instance targets."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..datasets._instances import boxes_from_masks

__all__ = ['RandomFlipRotate']


class RandomFlipRotate(nn.Module):
    """Random horizontal/vertical flips and quarter turns of a batch.

    Every window draws its own transform, applied to every channel of
    ``image`` (so all modalities move together), to ``valid``, and to its
    instance ``mask``; boxes are recomputed from the moved masks, so they stay
    tight. Quarter turns need square windows. These are the symmetries of an
    overhead view: a slump has no preferred orientation.
    """

    def __init__(
        self,
        p_flip: float = 0.5,
        rotate: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        """Initialise a new RandomFlipRotate.

        Args:
            p_flip: probability of each flip.
            rotate: also apply a random number of quarter turns.
            generator: random generator.
        """
        super().__init__()
        self.p_flip = p_flip
        self.rotate = rotate
        self.generator = generator

    def _draw(self) -> tuple[bool, bool, int]:
        u = torch.rand(3, generator=self.generator)
        turns = int(u[2] * 4) if self.rotate else 0
        return bool(u[0] < self.p_flip), bool(u[1] < self.p_flip), turns

    @staticmethod
    def _transform(x: Tensor, flip_x: bool, flip_y: bool, turns: int) -> Tensor:
        if flip_x:
            x = x.flip(-1)
        if flip_y:
            x = x.flip(-2)
        return torch.rot90(x, turns, dims=(-2, -1)) if turns else x

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Augment a batch from :func:`~rtsgeo.datasets.collate_instances`."""
        images = list(batch['image'].unbind(0))
        valids = list(batch['valid'].unbind(0)) if 'valid' in batch else None
        for i in range(len(images)):
            op = self._draw()
            if op[2] % 2 and images[i].shape[-1] != images[i].shape[-2]:
                op = (op[0], op[1], 0)
            images[i] = self._transform(images[i], *op)
            if valids is not None:
                valids[i] = self._transform(valids[i], *op)
            if 'mask' in batch:
                batch['mask'][i] = self._transform(batch['mask'][i], *op)
                batch['bbox_xyxy'][i] = boxes_from_masks(batch['mask'][i])
        batch['image'] = torch.stack(images) if images else batch['image']
        if valids is not None and valids:
            batch['valid'] = torch.stack(valids)
        return batch
