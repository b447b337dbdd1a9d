"""train_steps: a short training run on data held in memory."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rtsgeo.errors import ConfigError
from rtsgeo.models import load_trained_model
from rtsgeo.trainers import train_steps


def test_trains_evaluates_and_saves(synthetic_root: Path, tmp_path: Path) -> None:
    run = train_steps(
        synthetic_root,
        ['rgb', 'nir'],
        fusion='residual_cross_attention',
        steps=3,
        batch_size=2,
        patch_size=64,
        chip_size=128,
        anchor_sizes=[4, 8, 16, 32, 64],
        model_options={'anchor_density': 2, 'gt_jitter_copies': 4},
        seed=1,
        name='short-test',
        accelerator='cpu',
    )
    assert run.trainer.global_step == 3
    assert run.seconds > 0
    assert run.datamodule.positive_fraction == 0.5
    assert run.task.config.fusion == 'residual_cross_attention'
    assert run.task.model.roi_heads.jitter_copies == 4
    assert set(run.datamodule.stats or {}) == {'rgb', 'nir'}
    for split in ('val', 'test'):
        metrics = run.evaluate(split)
        assert 0.0 <= metrics[f'{split}_segm_map_50'] <= 1.0
        assert f'{split}_bbox_map_50' in metrics

    path = run.save(tmp_path / 'model.pt')
    model, info = load_trained_model(path)
    assert info.name == 'short-test'
    assert info.config.modalities == ('rgb', 'nir')
    assert info.config.anchor_density == 2
    assert info.stats == run.datamodule.stats
    assert info.gsd_m == run.datamodule.gsd_m == 5.0  # the synthetic scenes' pixels
    trained = run.task.model.state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(value, trained[key].cpu()), key


def test_same_seed_same_weights(synthetic_root: Path) -> None:
    def weights(seed: int) -> dict[str, torch.Tensor]:
        run = train_steps(
            synthetic_root, ['rgb'], steps=2, batch_size=2, patch_size=64,
            chip_size=128, anchor_sizes=[4, 8, 16, 32, 64], seed=seed,
            accelerator='cpu',
        )  # fmt: skip
        return run.task.model.state_dict()

    first, again, other = weights(0), weights(0), weights(1)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_trains_on_coco_chips(coco_root: Path, tmp_path: Path) -> None:
    run = train_steps(
        coco_root, ['rgb'], steps=2, batch_size=2, patch_size=128,
        anchor_sizes=[4, 8, 16, 32, 64], seed=0, accelerator='cpu', layout='coco',
    )  # fmt: skip
    assert run.trainer.global_step == 2
    assert run.task.config.image_size == 128
    assert set(run.datamodule.stats or {}) == {'rgb'}
    metrics = run.evaluate('test')  # the two whole valtest chips
    assert 0.0 <= metrics['test_segm_map_50'] <= 1.0
    _, info = load_trained_model(run.save(tmp_path / 'coco.pt'))
    assert info.config.modalities == ('rgb',)
    assert info.stats == run.datamodule.stats


def test_scene_norm_is_fitted_and_saved(synthetic_root: Path, tmp_path: Path) -> None:
    run = train_steps(
        synthetic_root, ['rgb'], steps=1, batch_size=2, patch_size=64,
        chip_size=128, anchor_sizes=[4, 8, 16, 32, 64], seed=0, accelerator='cpu',
        scene_norm='percentile',
    )  # fmt: skip
    stretch = run.datamodule.scene_stretch
    assert stretch is not None and stretch.bands == ('blue', 'green', 'red')
    _, info = load_trained_model(run.save(tmp_path / 'model.pt'))
    assert info.scene_stretch == stretch
    assert info.stats == run.datamodule.stats
    with pytest.raises(ConfigError, match='COCO chips are not stretched'):
        train_steps(tmp_path, ['rgb'], layout='coco', scene_norm='percentile')


def test_unknown_layout(coco_root: Path) -> None:
    with pytest.raises(ConfigError, match="layout='geojson'"):
        train_steps(coco_root, ['rgb'], steps=1, layout='geojson')  # type: ignore[arg-type]
