"""Augmentation of training batches.

* :class:`RandomFlipRotate`: the symmetries of an overhead view, applied
  identically to imagery and instance targets;
* :class:`RandomRadiometry`: the radiometric differences between scenes
  (illumination, calibration, haze), on the raw bands before normalisation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..modalities import channel_layout, normalized_difference

__all__ = ['RandomFlipRotate', 'RandomRadiometry']

#: Haze adds most to short wavelengths: its weight on red, green, blue and NIR.
HAZE_WEIGHTS = {'red': 0.5, 'green': 0.75, 'blue': 1.0, 'nir': 0.25}


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
        # Imported here: rtsgeo.datasets loads TorchGeo's dataset catalogue
        # (seconds), which mapping (rtsgeo.predict imports this package) never
        # needs; training has it loaded already.
        from ..datasets._instances import boxes_from_masks

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


class RandomRadiometry(nn.Module):
    """Random gain, band balance and haze of each window's raw bands.

    Scenes of one place differ in brightness and colour by sensor, processing
    level, sun angle and atmosphere; a model trained on the radiometry of a
    few places sees another place's scenes as unfamiliar. Each window draws

    * a gain common to its reflectance bands (log-uniform in ``gain``),
    * a per-band balance (log-uniform within ``± balance``), and
    * a haze offset: ``haze`` times a uniform draw in [0, 1], times the
      window's median visible brightness, weighted by band (blue 1, green
      0.75, red 0.5, NIR 0.25), as scattering adds most to short wavelengths;

    and its reflectance bands (``rgb``, ``nir``) become ``gain * band + haze``.
    NDVI, when present, is recomputed from the changed red and NIR bands (it
    is left as it is when either is missing). Nodata pixels (``valid`` False)
    stay as they are. Runs before normalisation, on the bands as read.
    """

    def __init__(
        self,
        modalities: Sequence[str],
        gain: tuple[float, float] = (0.67, 1.5),
        balance: float = 0.1,
        haze: float = 0.1,
        generator: torch.Generator | None = None,
    ) -> None:
        """Initialise a new RandomRadiometry.

        Args:
            modalities: modalities of the image, in stacking order.
            gain: range of the common gain (drawn log-uniformly).
            balance: per-band gains are the common one times
                ``exp(u)``, ``u`` uniform in ``[-balance, balance]``.
            haze: largest haze offset, as a fraction of the window's median
                visible brightness.
            generator: random generator.

        Raises:
            ValueError: If a range is empty or negative.
        """
        super().__init__()
        if not 0 < gain[0] <= gain[1] or balance < 0 or haze < 0:
            msg = f'gain={gain}, balance={balance}, haze={haze}: need 0 < low <= high'
            raise ValueError(msg)
        layout = channel_layout(modalities)
        # channel index of each reflectance band present
        self.bands: dict[str, int] = {}
        if 'rgb' in layout:
            start = layout['rgb'].start
            self.bands.update(red=start, green=start + 1, blue=start + 2)
        if 'nir' in layout:
            self.bands['nir'] = layout['nir'].start
        self.ndvi = layout['ndvi'].start if 'ndvi' in layout else None
        self.log_gain = (math.log(gain[0]), math.log(gain[1]))
        self.balance = balance
        self.haze = haze
        self.generator = generator

    def _uniform(self, n: int, low: float, high: float) -> Tensor:
        return low + (high - low) * torch.rand(n, generator=self.generator)

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Change the radiometry of every window of a batch."""
        image: Tensor = batch['image']
        if not self.bands or len(image) == 0:
            return batch
        n = len(image)
        valid = batch.get('valid')
        ok = (
            torch.ones(n, *image.shape[-2:], dtype=torch.bool, device=image.device)
            if valid is None
            else valid.bool()
        )
        image = image.clone()
        common = self._uniform(n, *self.log_gain)
        haze = self._uniform(n, 0.0, self.haze)
        visible = [self.bands[b] for b in ('red', 'green', 'blue') if b in self.bands]
        for i in range(n):
            pixels = image[i, visible or list(self.bands.values())][:, ok[i]]
            brightness = float(pixels.median()) if pixels.numel() else 0.0
            for name, c in self.bands.items():
                factor = math.exp(float(common[i]) + float(
                    self._uniform(1, -self.balance, self.balance)[0]))  # fmt: skip
                offset = float(haze[i]) * brightness * HAZE_WEIGHTS[name]
                changed = image[i, c] * factor + offset
                image[i, c] = torch.where(ok[i], changed, image[i, c])
        if self.ndvi is not None and 'red' in self.bands and 'nir' in self.bands:
            red, nir = image[:, self.bands['red']], image[:, self.bands['nir']]
            ndvi = normalized_difference(nir, red)
            image[:, self.ndvi] = torch.where(ok, ndvi, image[:, self.ndvi])
        batch['image'] = image
        return batch
