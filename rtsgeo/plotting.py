"""Figures of samples and predictions (matplotlib is imported on use)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

__all__ = ['plot_modalities', 'rgb_quicklook']


def rgb_quicklook(rgb: torch.Tensor | np.ndarray, valid: Any = None) -> np.ndarray:
    """``(3, H, W)`` values of any range to an ``(H, W, 3)`` image in [0, 1].

    Each channel is stretched between its 2nd and 98th percentile over valid
    pixels, the usual quick-look for 16-bit reflectance.
    """
    array = np.asarray(rgb, dtype=np.float32)
    mask = np.ones(array.shape[1:], bool) if valid is None else np.asarray(valid)
    out = np.zeros((*array.shape[1:], 3), dtype=np.float32)
    for i in range(3):
        values = array[i][mask]
        if values.size == 0:
            continue
        low, high = np.percentile(values, [2, 98])
        out[..., i] = np.clip((array[i] - low) / max(high - low, 1e-6), 0, 1)
    return out


def plot_modalities(
    sample: Mapping[str, Any],
    layout: Mapping[str, slice],
    title: str | None = None,
) -> Any:
    """One panel per modality of a sample, with instance outlines if present.

    Args:
        sample: a sample with ``image`` and optionally ``mask`` and ``valid``.
        layout: modality -> channel slice of ``image``.
        title: optional figure title.

    Returns:
        A matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    image = np.asarray(sample['image'], dtype=np.float32)
    valid = sample.get('valid')
    masks = sample.get('mask')
    fig, axes = plt.subplots(1, len(layout), figsize=(4 * len(layout), 4))
    for ax, (name, channels) in zip(np.atleast_1d(axes), layout.items(), strict=True):
        data = image[channels]
        if data.shape[0] == 3:
            ax.imshow(rgb_quicklook(data, valid))
        else:
            ax.imshow(data[0], cmap='RdYlGn' if name == 'ndvi' else 'gray')
        if masks is not None and len(masks):
            ax.contour(np.asarray(masks).max(axis=0), levels=[0.5], colors='red')
        ax.set_title(name)
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return fig
