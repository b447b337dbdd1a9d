"""InstanceSegmentationTask: schedule, checkpoints, statistics, figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from rtsgeo.datamodules import RTSDataModule
from rtsgeo.errors import ConfigError
from rtsgeo.models import load_trained_model
from rtsgeo.trainers import InstanceSegmentationTask, build_config, lr_factor

OPTIONS = {'anchor_sizes': [4, 8, 16, 32, 64]}


def test_lr_factor_warmup_then_cosine_or_step() -> None:
    assert lr_factor(0, 100, 10, 'cosine') == pytest.approx(0.001)
    assert lr_factor(5, 100, 10, 'cosine') == pytest.approx(0.5005)
    assert lr_factor(10, 100, 10, 'cosine') == pytest.approx(1.0)
    assert lr_factor(55, 100, 10, 'cosine') == pytest.approx(0.5)
    assert lr_factor(100, 100, 10, 'cosine') == pytest.approx(0.0)
    assert lr_factor(50, 100, 10, 'step') == 1.0
    assert lr_factor(70, 100, 10, 'step') == pytest.approx(0.1)
    assert lr_factor(95, 100, 10, 'step') == pytest.approx(0.01)
    assert lr_factor(95, 100, 10, 'constant') == 1.0


def test_build_config_from_preset_or_fields() -> None:
    config = build_config(
        'nano_mask_rcnn_rgb', {'modalities': ['nir'], 'primary': 'nir'}
    )
    assert config.modalities == ('nir',) and config.backbone == 'mvitv2_nano'
    full = build_config(None, {'backbone': 'resnet50', 'image_size': 64, **OPTIONS})
    assert full.backbone == 'resnet50' and full.anchor_sizes == (4, 8, 16, 32, 64)
    with pytest.raises(ConfigError, match='unknown ModelConfig field'):
        build_config(None, {'colour': 'red'})
    with pytest.raises(ConfigError, match='anchor_sizes'):
        InstanceSegmentationTask(model='nano_mask_rcnn_rgb')  # 128 px anchors, 64 px


def _datamodule(root: Path, **kwargs: object) -> RTSDataModule:
    options = {'length': 8, 'stats_samples': 8, **kwargs}
    return RTSDataModule(
        root=str(root), modalities=['rgb', 'ndvi'], patch_size=64, batch_size=4,
        **options,
    )  # fmt: skip


def test_checkpoint_is_a_trained_model(synthetic_root: Path, tmp_path: Path) -> None:
    lightning.seed_everything(0)
    task = InstanceSegmentationTask(
        model='nano_mask_rcnn_rgb',
        model_options={
            **OPTIONS, 'modalities': ['rgb', 'ndvi'], 'fusion': 'residual_conv'
        },
        lr=1e-3, base_batch_size=2, warmup_steps=1, name='tiny-fused',
    )  # fmt: skip
    datamodule = _datamodule(synthetic_root, sensor='sentinel2')
    checkpoint = ModelCheckpoint(dirpath=tmp_path / 'ckpt', save_last=True)
    trainer = lightning.Trainer(
        max_epochs=1, limit_val_batches=2, logger=CSVLogger(tmp_path / 'logs'),
        callbacks=[checkpoint], enable_progress_bar=False,
    )  # fmt: skip
    trainer.fit(task, datamodule=datamodule)
    # The rate is scaled with the batch size: 4 windows for a reference of 2.
    assert task.optimizers().param_groups[0]['initial_lr'] == pytest.approx(2e-3)
    path = Path(checkpoint.last_model_path)
    raw = torch.load(path, map_location='cpu', weights_only=True)
    assert raw['hyper_parameters']['model_options']['fusion'] == 'residual_conv'
    model, info = load_trained_model(path)
    assert info.name == 'tiny-fused' and info.sensor == 'sentinel2'
    assert info.gsd_m == pytest.approx(5.0)  # from the training rasters
    assert info.config == task.config
    assert info.stats == datamodule.stats
    state = task.model.state_dict()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, state[key])
    figures = list((tmp_path / 'logs').rglob('figures/*.png'))
    assert len(figures) == 2  # plot_samples windows of the first validation batch

    # Validating from the checkpoint restores its statistics into the data.
    other = _datamodule(synthetic_root, stats_samples=1, seed=5)
    trainer = lightning.Trainer(
        logger=False, limit_val_batches=1, enable_progress_bar=False
    )
    metrics = trainer.validate(task, datamodule=other, ckpt_path=path, verbose=False)
    assert other.stats == info.stats
    assert 0.0 <= metrics[0]['val_segm_map_50'] <= 1.0


def test_given_gsd_written_for_chips_without_georeferencing() -> None:
    task = InstanceSegmentationTask(
        model='nano_mask_rcnn_rgb', model_options=OPTIONS, gsd_m=0.5
    )
    checkpoint: dict[str, Any] = {}
    task.on_save_checkpoint(checkpoint)
    assert checkpoint['rtsgeo']['gsd_m'] == 0.5
    task = InstanceSegmentationTask(model='nano_mask_rcnn_rgb', model_options=OPTIONS)
    task.on_load_checkpoint(checkpoint)
    task.on_save_checkpoint(checkpoint)  # resumed training keeps the GSD
    assert checkpoint['rtsgeo']['gsd_m'] == 0.5


def test_resumed_training_keeps_the_scene_norm() -> None:
    from rtsgeo.transforms import SceneStretch

    stretch = SceneStretch.from_ranges({'red': (250, 1100), 'blue': (150, 900)})
    task = InstanceSegmentationTask(model='nano_mask_rcnn_rgb', model_options=OPTIONS)
    checkpoint: dict[str, Any] = {}
    task.on_save_checkpoint(checkpoint)
    assert 'scene_norm' not in checkpoint['rtsgeo']
    task.scene_stretch = stretch
    task.on_save_checkpoint(checkpoint)
    assert checkpoint['rtsgeo']['scene_norm'] == stretch.to_dict()
    resumed = InstanceSegmentationTask(
        model='nano_mask_rcnn_rgb', model_options=OPTIONS
    )
    resumed.on_load_checkpoint(checkpoint)
    assert resumed.scene_stretch == stretch
