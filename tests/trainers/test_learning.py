"""The task learns: AP50 on held-out synthetic scenes after a short CPU training."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import lightning
import pytest

from rtsgeo.datamodules.cached import CachedRTSDataModule
from rtsgeo.datasets import make_synthetic_dataset
from rtsgeo.trainers import InstanceSegmentationTask

STEPS = int(os.environ.get('RTSGEO_LEARNING_STEPS', '200'))


def make_scenes(root: Path, visibility: str) -> Path:
    splits = (('train', 4, 0), ('val', 1, 1), ('test', 2, 2))
    for split, count, seed in splits:
        make_synthetic_dataset(
            root / split, n_scenes=count, seed=seed, size=192, visibility=visibility
        )
    return root


def train_and_test(
    root: Path, modalities: list[str], fusion: str, seed: int = 0, steps: int = STEPS
) -> dict[str, Any]:
    lightning.seed_everything(seed)
    datamodule = CachedRTSDataModule(
        root=str(root), chip_size=192, modalities=modalities, patch_size=128,
        batch_size=4, length=4 * steps, seed=seed,
    )  # fmt: skip
    task = InstanceSegmentationTask(
        model='nano_mask_rcnn_rgb',
        model_options={
            'modalities': modalities, 'fusion': fusion, 'image_size': 128,
            'anchor_sizes': [8, 16, 32, 64, 128],
        },
        lr=1e-3, base_batch_size=4, warmup_steps=steps // 10, plot_samples=0,
    )  # fmt: skip
    trainer = lightning.Trainer(
        max_epochs=1, limit_val_batches=0, gradient_clip_val=1.0, logger=False,
        enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )  # fmt: skip
    start = time.perf_counter()
    trainer.fit(task, datamodule=datamodule)
    result = trainer.test(task, datamodule=datamodule, verbose=False)[0]
    print(modalities, fusion, {k: round(v, 3) for k, v in result.items()},
          f'{time.perf_counter() - start:.0f} s')  # fmt: skip
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
