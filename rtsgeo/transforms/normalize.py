"""Per-modality normalisation and the statistics behind it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..modalities import channel_layout

__all__ = ['ModalityStats', 'NormalizeModalities', 'compute_modality_stats']

#: modality name -> {'mean': [...], 'std': [...]} (one value per channel).
ModalityStats = dict[str, dict[str, list[float]]]


def compute_modality_stats(
    samples: Iterable[Mapping[str, Any]],
    modalities: Sequence[str],
    max_samples: int | None = None,
) -> ModalityStats:
    """Mean and standard deviation of every channel over valid pixels.

    Args:
        samples: samples (or batches) with ``image`` and optionally ``valid``,
            for example ``(dataset[key] for key in sampler)``.
        modalities: modalities of the image, in stacking order.
        max_samples: stop after this many samples.

    Returns:
        Statistics in the form :class:`NormalizeModalities` and YAML configs take.

    Raises:
        ValueError: If no valid pixel was seen.
    """
    total = count = total_sq = None
    for i, sample in enumerate(samples):
        if max_samples is not None and i >= max_samples:
            break
        image = sample['image'].double()
        image = image.unsqueeze(0) if image.ndim == 3 else image
        valid = sample.get('valid')
        valid = (
            torch.ones(image.shape[0], *image.shape[2:], dtype=torch.bool)
            if valid is None
            else valid
        )
        valid = (valid.unsqueeze(0) if valid.ndim == 2 else valid).unsqueeze(1)
        weights = valid.to(image.dtype)
        sums = (image * weights).sum(dim=(0, 2, 3))
        squares = (image.square() * weights).sum(dim=(0, 2, 3))
        n = weights.sum()
        total = sums if total is None else total + sums
        total_sq = squares if total_sq is None else total_sq + squares
        count = n if count is None else count + n
    if total is None or total_sq is None or count is None or count == 0:
        raise ValueError('no valid pixel seen: cannot compute normalisation statistics')
    mean = total / count
    std = (total_sq / count - mean.square()).clamp_min(0).sqrt().clamp_min(1e-6)
    return {
        name: {'mean': mean[s].tolist(), 'std': std[s].tolist()}
        for name, s in channel_layout(modalities).items()
    }


class NormalizeModalities(nn.Module):
    """Standardise each channel with its modality's statistics; nodata stays 0.

    Works on a batch dict in place of ``image`` (``(B, C, H, W)``) and uses
    ``valid`` when present so that nodata pixels are 0 after normalisation too.
    """

    def __init__(
        self,
        stats: Mapping[str, Mapping[str, Sequence[float]]],
        modalities: Sequence[str],
    ) -> None:
        """Initialise a new NormalizeModalities.

        Args:
            stats: modality -> ``{'mean': [...], 'std': [...]}``.
            modalities: modalities of the image, in stacking order.

        Raises:
            ConfigError: If a modality has no statistics or the wrong count.
        """
        super().__init__()
        means: list[float] = []
        stds: list[float] = []
        for name, channels in channel_layout(modalities).items():
            if name not in stats:
                msg = (
                    f'no normalisation statistics for modality {name!r}: '
                    f'have {sorted(stats)}'
                )
                raise ConfigError(msg)
            mean, std = list(stats[name]['mean']), list(stats[name]['std'])
            width = channels.stop - channels.start
            if len(mean) != width or len(std) != width:
                msg = (
                    f'statistics of {name!r} need {width} values each, '
                    f'got {len(mean)} and {len(std)}'
                )
                raise ConfigError(msg)
            means += mean
            stds += std
        self.register_buffer('mean', torch.tensor(means).view(1, -1, 1, 1))
        self.register_buffer('std', torch.tensor(stds).view(1, -1, 1, 1))

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Normalise ``batch['image']``."""
        image: Tensor = (batch['image'] - self.mean) / self.std
        valid = batch.get('valid')
        if valid is not None:
            image = image * valid.unsqueeze(1).to(image.dtype)
        batch['image'] = image
        return batch
