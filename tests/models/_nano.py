"""Small trained-model files for the tests that map with a real detector."""

from __future__ import annotations

from pathlib import Path

import torch

from rtsgeo.models import build_model_from_preset, get_preset, save_trained_model


def write_nano_model(
    path: Path, seed: int, gsd_m: float = 5.0, mean: float = 550.0
) -> Path:
    """An untrained ``nano_cascade_rgb`` model file (its scores sit about 0.5).

    Args:
        path: the file to write; its stem is the model's name.
        seed: seeds the weights.
        gsd_m: the GSD it records.
        mean: the mean of every RGB channel in its statistics (std 100).
    """
    torch.manual_seed(seed)
    model = build_model_from_preset('nano_cascade_rgb')
    config = get_preset('nano_cascade_rgb')
    stats = {'rgb': {'mean': [mean] * 3, 'std': [100.0] * 3}}
    return save_trained_model(path, model, config, stats, name=path.stem, gsd_m=gsd_m)
