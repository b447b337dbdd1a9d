"""Validation figures: predictions over every modality of a few windows."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from .metrics import MASK_THRESHOLD

__all__ = ['plot_predictions', 'save_or_log_figure']


def plot_predictions(
    image: Tensor,
    truth: Tensor,
    prediction: Mapping[str, Tensor],
    layout: Mapping[str, slice],
    min_score: float = 0.5,
    title: str | None = None,
) -> Any:
    """One panel per modality; truth outlined in red, predictions in blue.

    Args:
        image: ``(C, H, W)`` stacked modalities.
        truth: ``(N, H, W)`` true instance masks.
        prediction: the model's output for the window.
        layout: modality -> channel slice of ``image``.
        min_score: predictions below this score are not drawn.
        title: figure title.

    Returns:
        A matplotlib Figure.
    """
    from ..plotting import plot_modalities

    sample = {'image': image.detach().cpu().float(), 'mask': truth.detach().cpu()}
    figure = plot_modalities(sample, layout, title=title)
    keep = prediction['scores'].detach().cpu() >= min_score
    masks = prediction['masks'].detach().cpu()[keep]
    if masks.dim() == 4:
        masks = masks[:, 0]
    for ax in figure.axes:
        for mask in masks.numpy():
            if (mask > MASK_THRESHOLD).any():
                ax.contour(
                    np.asarray(mask), levels=[MASK_THRESHOLD], colors='deepskyblue'
                )
    return figure


def save_or_log_figure(logger: Any, figure: Any, tag: str, step: int) -> Path | None:
    """Give a figure to a logger that takes figures, else save a PNG in its log_dir.

    Args:
        logger: a Lightning logger (or None).
        figure: a matplotlib Figure (closed afterwards).
        tag: figure name.
        step: global step.

    Returns:
        The PNG written, or None when the figure went to the logger or nowhere.
    """
    import matplotlib.pyplot as plt

    path = None
    try:
        experiment = getattr(logger, 'experiment', None)
        if experiment is not None and hasattr(experiment, 'add_figure'):
            experiment.add_figure(tag, figure, global_step=step)
        elif getattr(logger, 'log_dir', None):
            folder = Path(logger.log_dir) / 'figures'
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f'{tag.replace("/", "_")}_step{step:06d}.png'
            figure.savefig(path, dpi=72)
    finally:
        plt.close(figure)
    return path
