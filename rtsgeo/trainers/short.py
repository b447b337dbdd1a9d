"""Train a small model for a fixed number of steps on random crops of chips.

The quickest way from a folder of chips to a trained model: one call sets up
:class:`~rtsgeo.datamodules.CachedRTSDataModule` (georeferenced chips held in
memory) or :class:`~rtsgeo.datamodules.COCODataModule` (image chips with COCO
annotations), an :class:`InstanceSegmentationTask` and a Lightning trainer
for one epoch of ``steps`` batches, with no validation while fitting.
``rtsgeo demo``, the learning tests and the real-data benchmarks all train
this way; for full runs use ``rtsgeo fit`` with a config.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import lightning

from ..datamodules import CachedRTSDataModule, COCODataModule, RTSDataModule
from ..errors import ConfigError
from .instance_segmentation import InstanceSegmentationTask

__all__ = ['ShortTraining', 'quiet_lightning', 'train_steps']


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Hide Lightning's informational lines while a short training runs.

    Lightning logs its hardware summary, advertising tips and "fit stopped"
    at INFO level, and one of its modules triggers a deprecation warning of
    torch's: useful in a long training's log, noise in a demo or a benchmark.
    Only the ``lightning`` loggers are raised to WARNING, and only inside the
    block; warnings and errors still show.
    """
    loggers = [logging.getLogger(name) for name in ('lightning', 'lightning.pytorch')]
    levels = [log.level for log in loggers]
    try:
        for log in loggers:
            log.setLevel(logging.WARNING)
        with warnings.catch_warnings():
            warnings.filterwarnings(
                'ignore', message=r'.*isinstance\(treespec, LeafSpec\)'
            )
            yield
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)


@dataclass
class ShortTraining:
    """A finished :func:`train_steps` run.

    Attributes:
        task: the trained task (its ``model`` is the detector).
        datamodule: the data it was trained on (``stats`` holds the
            normalisation statistics, ``scene_stretch`` the per-scene stretch
            if any): a
            :class:`~rtsgeo.datamodules.CachedRTSDataModule` or a
            :class:`~rtsgeo.datamodules.COCODataModule`.
        trainer: the Lightning trainer, for more validation or testing.
        seconds: wall-clock time of the training.
    """

    task: InstanceSegmentationTask
    datamodule: RTSDataModule
    trainer: lightning.Trainer
    seconds: float

    def evaluate(self, split: Literal['val', 'test'] = 'test') -> dict[str, float]:
        """Score the model on the ``val`` or ``test`` split.

        Georeferenced chips are scored on their grid windows, COCO chips
        whole (chip-level AP50).

        Args:
            split: the split to score.

        Returns:
            Metrics named ``{split}_segm_map_50``, ``{split}_bbox_map_50``, ...
        """
        if split == 'val':
            runs = self.trainer.validate(self.task, self.datamodule, verbose=False)
        else:
            runs = self.trainer.test(self.task, self.datamodule, verbose=False)
        return {key: float(value) for key, value in runs[0].items()}

    def save(self, path: str | Path) -> Path:
        """Write the model as a trained-model file that ``rtsgeo map`` reads."""
        from ..models import save_trained_model

        return save_trained_model(
            path,
            self.task.model,
            self.task.config,
            self.datamodule.stats or {},
            self.datamodule.sensor,
            self.task.model_name,
            self.datamodule.gsd_m,
            self.datamodule.scene_stretch,
        )


def train_steps(
    root: str | Path,
    modalities: list[str],
    *,
    fusion: str = 'none',
    model: str = 'nano_mask_rcnn_rgb',
    steps: int = 200,
    batch_size: int = 4,
    patch_size: int = 128,
    chip_size: int = 256,
    lr: float = 1e-3,
    anchor_sizes: list[int] | None = None,
    model_options: dict[str, Any] | None = None,
    positive_fraction: float = 0.5,
    seed: int = 0,
    name: str | None = None,
    progress: bool = False,
    accelerator: str = 'auto',
    layout: Literal['folders', 'coco'] = 'folders',
    radiometric: bool = False,
    scene_norm: str | None = None,
) -> ShortTraining:
    """Train ``model`` for ``steps`` batches of random crops held in memory.

    AdamW at ``lr`` with a linear warm-up over the first tenth of the steps and
    cosine decay, gradient clipping at 1, no validation while fitting.

    Args:
        root: with ``layout='folders'``, a folder with ``train``, ``val``
            and ``test`` subfolders, each with ``image`` and ``mask`` (the
            layout :class:`~rtsgeo.datamodules.RTSDataModule` reads); with
            ``layout='coco'``, a folder of chips with ``coco_rts_train.json``
            and ``coco_rts_valtest.json`` (see
            :class:`~rtsgeo.datamodules.COCODataModule`).
        modalities: modalities in stacking order, for example
            ``['rgb', 'ndvi', 'nir']``.
        fusion: fusion strategy (see :data:`rtsgeo.models.FUSIONS`).
        model: model preset name.
        steps: optimizer steps.
        batch_size: windows per step.
        patch_size: window side in pixels (also the model's input size).
        chip_size: side of the training chips read into memory (folders).
        lr: learning rate.
        anchor_sizes: one anchor size per pyramid level (default: the preset's).
        model_options: more :class:`~rtsgeo.models.ModelConfig` fields to
            override, for example ``{'gt_jitter_copies': 16}``.
        positive_fraction: share of windows placed on a labelled object.
        seed: seed of the weights, the windows and their order.
        name: model name written into saved files (default: the preset).
        progress: show a progress bar.
        accelerator: Lightning accelerator.
        layout: ``'folders'`` (georeferenced chips) or ``'coco'`` (image chips
            with COCO annotations; ``modalities`` must be ``['rgb']``).
        radiometric: random gain, band balance and haze of the training
            windows (:class:`~rtsgeo.transforms.RandomRadiometry`), besides
            flips and quarter turns.
        scene_norm: ``'percentile'``: stretch each chip's reflectance bands
            onto the training set's percentiles before NDVI and
            normalisation (see :class:`~rtsgeo.datamodules.RTSDataModule`);
            :meth:`ShortTraining.save` records it for ``rtsgeo map``.
            Folders only.

    Returns:
        The trained task, its data and trainer, and the training time.

    Raises:
        ConfigError: If the layout is unknown, or ``scene_norm`` is given
            with COCO chips.
    """
    lightning.seed_everything(seed, verbose=False)
    windows: dict[str, Any] = {
        'modalities': modalities,
        'patch_size': patch_size,
        'batch_size': batch_size,
        'length': steps * batch_size,
        'positive_fraction': positive_fraction,
        'seed': seed,
        'radiometric': radiometric,
    }
    datamodule: RTSDataModule
    if layout == 'coco':
        if scene_norm is not None:
            msg = (
                f'scene_norm={scene_norm!r} needs georeferenced chips: COCO '
                "chips are not stretched; use layout='folders' or scene_norm=None"
            )
            raise ConfigError(msg)
        datamodule = COCODataModule(root=str(root), **windows)
    elif layout == 'folders':
        datamodule = CachedRTSDataModule(
            root=str(root), chip_size=chip_size, scene_norm=scene_norm, **windows
        )
    else:
        raise ConfigError(f"layout={layout!r}: use 'folders' or 'coco'")
    options: dict[str, Any] = {
        'modalities': list(modalities),
        'fusion': fusion,
        'image_size': patch_size,
    }
    if anchor_sizes is not None:
        options['anchor_sizes'] = list(anchor_sizes)
    options.update(model_options or {})
    task = InstanceSegmentationTask(
        model=model,
        model_options=options,
        lr=lr,
        base_batch_size=batch_size,
        warmup_steps=max(steps // 10, 1),
        schedule='cosine',
        plot_samples=0,
        name=name,
    )
    with quiet_lightning():
        trainer = lightning.Trainer(
            accelerator=accelerator,
            max_epochs=1,
            check_val_every_n_epoch=2,  # no validation within the one epoch
            num_sanity_val_steps=0,
            gradient_clip_val=1.0,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=progress,
            enable_model_summary=False,
        )
        start = time.perf_counter()
        trainer.fit(task, datamodule=datamodule)
    return ShortTraining(task, datamodule, trainer, time.perf_counter() - start)
