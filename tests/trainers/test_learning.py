"""The task learns: AP50 on held-out synthetic scenes after a short CPU training."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rtsgeo.datasets import make_synthetic_splits
from rtsgeo.trainers import train_steps

STEPS = int(os.environ.get('RTSGEO_LEARNING_STEPS', '200'))


def make_scenes(root: Path, visibility: str) -> Path:
    return make_synthetic_splits(
        root, seed=0, counts=(4, 1, 2), size=192, visibility=visibility
    )


def train_and_test(
    root: Path, modalities: list[str], fusion: str, seed: int = 0, steps: int = STEPS
) -> dict[str, float]:
    run = train_steps(
        root, modalities, fusion=fusion, steps=steps, batch_size=4, patch_size=128,
        chip_size=192, anchor_sizes=[8, 16, 32, 64, 128], seed=seed,
    )  # fmt: skip
    result = run.evaluate('test')
    print(modalities, fusion, {k: round(v, 3) for k, v in result.items()},
          f'trained in {run.seconds:.0f} s')  # fmt: skip
    return result


@pytest.mark.slow
def test_learns_rgb_slumps(tmp_path: Path) -> None:
    root = make_scenes(tmp_path, 'all')
    result = train_and_test(root, ['rgb'], 'none')
    assert result['test_segm_map_50'] >= 0.8


@pytest.mark.slow
def test_fusion_sees_nir_only_slumps(tmp_path: Path) -> None:
    root = make_scenes(tmp_path, 'nir_only')
    rgb = train_and_test(root, ['rgb'], 'none')
    fused = train_and_test(root, ['rgb', 'ndvi', 'nir'], 'residual_cross_attention')
    assert fused['test_segm_map_50'] >= rgb['test_segm_map_50'] + 0.2
