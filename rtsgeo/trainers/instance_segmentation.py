"""Lightning task training the multimodal Cascade Mask R-CNN (TorchGeo lifecycle)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import torch
from torch import Tensor

try:  # TorchGeo 0.10 moved the trainers to torchgeo.tasks
    from torchgeo.tasks import BaseTask
except ImportError:  # TorchGeo 0.8
    from torchgeo.trainers import BaseTask

from ..errors import ConfigError
from ..models import ModelConfig, build_model, checkpoint_metadata, get_preset
from ..transforms.scene_norm import SceneStretch
from .metrics import (
    RegionAP50,
    build_map_metric,
    metric_predictions,
    metric_targets,
    select_metrics,
)

__all__ = ['InstanceSegmentationTask', 'build_config', 'lr_factor']


def build_config(model: str | None, model_options: Mapping[str, Any]) -> ModelConfig:
    """A model configuration from a preset name and overrides, or from fields alone.

    Args:
        model: a preset name (:data:`rtsgeo.models.PRESETS`) or None to build
            :class:`~rtsgeo.models.ModelConfig` from ``model_options`` only.
        model_options: ModelConfig fields (lists are turned into tuples).

    Returns:
        The validated configuration.

    Raises:
        ConfigError: If the preset, a field or a value is unknown or wrong.
    """
    options: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in model_options.items()
    }
    if model is None:
        unknown = set(options) - set(ModelConfig.__dataclass_fields__)
        if unknown:
            raise ConfigError(f'unknown ModelConfig field(s) {sorted(unknown)}')
        return ModelConfig(**options)
    return get_preset(model, **options)


def check_anchors(config: ModelConfig, input_size: int) -> None:
    """Refuse anchors larger than the input windows.

    Raises:
        ConfigError: naming the anchors and the size, and how to fix them.
    """
    too_big = [a for a in config.anchor_sizes if a > input_size]
    if too_big:
        msg = (
            f'anchor_sizes {list(config.anchor_sizes)} do not fit the {input_size} px '
            f'input: {too_big} exceed it; set model_options.anchor_sizes to 5 values '
            f'<= {input_size} (or use larger windows)'
        )
        raise ConfigError(msg)


def lr_factor(
    step: int,
    total: int,
    warmup: int,
    schedule: str,
    milestones: tuple[float, ...] = (0.67, 0.89),
    gamma: float = 0.1,
) -> float:
    """Multiplier of the learning rate at an optimizer step.

    Linear warm-up from 0.001 over ``warmup`` steps, then ``'cosine'`` decay to
    zero at ``total``, ``'step'`` decay by ``gamma`` at each milestone (a
    fraction of ``total``) or ``'constant'``.
    """
    if step < warmup:
        return 0.001 + (1 - 0.001) * step / max(warmup, 1)
    if schedule == 'cosine':
        progress = (step - warmup) / max(total - warmup, 1)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    if schedule == 'step':
        return float(gamma ** sum(step >= m * total for m in milestones))
    return 1.0


class InstanceSegmentationTask(BaseTask):
    """Train and evaluate a :class:`~rtsgeo.models.MultimodalCascadeMaskRCNN`.

    Batches are those of :class:`~rtsgeo.datamodules.RTSDataModule`
    (``image``, ``mask``, ``bbox_xyxy``, ``label``, optionally ``region``).
    Validation and test report COCO AP, AP50, AP75 and recall for masks and
    boxes (``val_segm_map_50`` is monitored), and mask AP50 per region.
    Every checkpoint carries an ``rtsgeo`` entry (config, normalisation stats,
    sensor, name, training GSD) so :func:`rtsgeo.models.load_trained_model`
    reads it.
    """

    ignore = None
    monitor = 'val_segm_map_50'
    mode = 'max'

    def __init__(
        self,
        model: str | None = 'nano_cascade_rgb',
        model_options: dict[str, Any] | None = None,
        lr: float = 1e-4,
        base_batch_size: int = 16,
        weight_decay: float = 0.05,
        warmup_steps: int = 100,
        schedule: Literal['cosine', 'step', 'constant'] = 'cosine',
        milestones: list[float] | None = None,
        gamma: float = 0.1,
        name: str | None = None,
        plot_samples: int = 2,
        metric_backend: Literal['pycocotools', 'faster_coco_eval'] = 'pycocotools',
        gsd_m: float | None = None,
    ) -> None:
        """Initialise a new InstanceSegmentationTask.

        Args:
            model: a model preset name, or None to build from ``model_options``.
            model_options: :class:`~rtsgeo.models.ModelConfig` fields
                overriding the preset (or all fields when ``model`` is None).
            lr: learning rate for a batch of ``base_batch_size`` windows; the
                rate used is scaled linearly with the real batch size (batch
                size x devices x gradient accumulation), as in the paper.
            base_batch_size: reference batch size of ``lr``.
            weight_decay: AdamW weight decay.
            warmup_steps: optimizer steps of linear warm-up.
            schedule: learning-rate decay after warm-up.
            milestones: step-schedule decay points as fractions of training.
            gamma: step-schedule decay factor.
            name: model name written into checkpoints (default: the preset).
            plot_samples: windows drawn in the validation figure (0: none).
            metric_backend: COCO evaluation backend.
            gsd_m: ground sampling distance of the training imagery (metres
                per pixel) written into checkpoints, for data without
                georeferencing (COCO chips); None: the datamodule's
                ``gsd_m`` (read from its rasters).
        """
        super().__init__()
        self.stats: dict[str, dict[str, list[float]]] | None = None
        self.sensor: str | None = None
        self.gsd_m: float | None = gsd_m
        self.scene_stretch: SceneStretch | None = None

    def configure_models(self) -> None:
        """Build the detector (loading unimodal or trunk weights if configured)."""
        hp = self.hparams
        self.config = build_config(hp['model'], hp['model_options'] or {})
        check_anchors(self.config, self.config.image_size)
        self.model = build_model(self.config)

    def configure_metrics(self) -> None:
        """COCO metrics for validation and test, plus per-region mask AP50."""
        backend = self.hparams['metric_backend']
        self.val_metrics = build_map_metric(backend=backend)
        self.test_metrics = build_map_metric(backend=backend)
        self.region_metrics = RegionAP50(backend)

    def setup(self, stage: str) -> None:
        """Check the datamodule's modalities and window size fit the model.

        Raises:
            ConfigError: If they do not.
        """
        datamodule = (
            getattr(self.trainer, 'datamodule', None) if self._trainer else None
        )
        modalities = tuple(getattr(datamodule, 'modalities', self.config.modalities))
        if modalities != self.config.modalities:
            msg = (
                f'the data gives modalities {list(modalities)} but the model expects '
                f'{list(self.config.modalities)}: make data.modalities and the '
                'model modalities the same'
            )
            raise ConfigError(msg)
        size = getattr(datamodule, 'patch_size', None)
        if size is not None:
            check_anchors(self.config, int(size))
            if self.config.fixed_input_size and size != self.config.image_size:
                msg = (
                    f'data.patch_size={size} but the MViTv2 model is built for '
                    f'image_size={self.config.image_size}: make them equal'
                )
                raise ConfigError(msg)

    def configure_optimizers(self) -> Any:
        """AdamW on the trainable parameters, linear lr scaling, warm-up + decay."""
        hp = self.hparams
        lr = hp['lr'] * self._batch_scale()
        params = [p for p in self.model.parameters() if p.requires_grad]
        # On the CPU the fused step (one kernel over every tensor) is several
        # times faster than torch's default there, a loop of small ops per
        # tensor. On a GPU torch's default (foreach) stays: a fused optimizer
        # unscales its own gradients, which 16-bit mixed precision with
        # gradient clipping refuses.
        fused = bool(params) and all(p.device.type == 'cpu' for p in params)
        optimizer = torch.optim.AdamW(
            params, lr=lr, weight_decay=hp['weight_decay'], fused=fused or None
        )
        total = int(self.trainer.estimated_stepping_batches)
        warmup, schedule = int(hp['warmup_steps']), str(hp['schedule'])
        milestones = tuple(hp['milestones'] or (0.67, 0.89))
        gamma = float(hp['gamma'])

        def factor(step: int) -> float:
            return lr_factor(step, total, warmup, schedule, milestones, gamma)

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {
            'optimizer': optimizer,
            'lr_scheduler': {'scheduler': scheduler, 'interval': 'step'},
        }

    def _batch_scale(self) -> float:
        datamodule = getattr(self.trainer, 'datamodule', None)
        batch = int(getattr(datamodule, 'batch_size', self.hparams['base_batch_size']))
        effective = batch * self.trainer.world_size
        effective *= self.trainer.accumulate_grad_batches
        return effective / self.hparams['base_batch_size']

    @staticmethod
    def _targets(batch: Mapping[str, Any]) -> list[dict[str, Tensor]]:
        return [
            {'boxes': b.float(), 'labels': lab.long(), 'masks': m.to(torch.uint8)}
            for b, lab, m in zip(
                batch['bbox_xyxy'], batch['label'], batch['mask'], strict=True
            )
        ]

    def training_step(self, batch: Any, batch_idx: int) -> Tensor | None:
        """Sum of the detector's losses (None for a batch of nodata windows)."""
        if len(batch['image']) == 0:
            return None
        losses = self.model(batch['image'], self._targets(batch))
        loss: Tensor = sum(losses.values())
        size = len(batch['image'])
        self.log('train_loss', loss, prog_bar=True, batch_size=size)
        self.log_dict({f'train_{k}': v for k, v in losses.items()}, batch_size=size)
        return loss

    def _evaluate(self, batch: Any, metric: Any, regions: bool) -> list[Any]:
        outputs = self.model(batch['image'])
        preds, targets = metric_predictions(outputs), metric_targets(batch)
        metric.update(preds, targets)
        if regions and 'region' in batch:
            self.region_metrics.update(batch['region'], preds, targets)
        return list(outputs)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        """Update the validation metrics; draw a figure of the first batch."""
        if len(batch['image']) == 0:
            return
        outputs = self._evaluate(batch, self.val_metrics, regions=True)
        if batch_idx == 0 and self.hparams['plot_samples'] > 0:
            self._log_figures(batch, outputs)

    def _log_figures(self, batch: Any, outputs: list[Any]) -> None:
        if self.trainer.sanity_checking or not self.trainer.is_global_zero:
            return
        from .figures import plot_predictions, save_or_log_figure

        datamodule = getattr(self.trainer, 'datamodule', None)
        layout = getattr(datamodule, 'channel_layout', None)
        if layout is None or self.logger is None:
            return
        count = min(self.hparams['plot_samples'], len(outputs))
        for i in range(count):
            figure = plot_predictions(
                batch['image'][i], batch['mask'][i], outputs[i], layout,
                title=f'epoch {self.current_epoch}, window {i}',
            )  # fmt: skip
            save_or_log_figure(self.logger, figure, f'val/window{i}', self.global_step)

    def on_validation_epoch_end(self) -> None:
        """Log AP, AP50, AP75 and recall (masks and boxes), and AP50 per region."""
        values = select_metrics(self.val_metrics.compute(), 'val')
        values.update(self.region_metrics.compute('val'))
        self.log('val_segm_map_50', values.pop('val_segm_map_50'), prog_bar=True)
        self.log_dict(values)
        self.val_metrics.reset()

    def test_step(self, batch: Any, batch_idx: int) -> None:
        """Update the test metrics."""
        if len(batch['image']) > 0:
            self._evaluate(batch, self.test_metrics, regions=True)

    def on_test_epoch_end(self) -> None:
        """Log the test metrics (as on validation)."""
        values = select_metrics(self.test_metrics.compute(), 'test')
        values.update(self.region_metrics.compute('test'))
        self.log_dict(values)
        self.test_metrics.reset()

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
        """Detections per window (boxes, scores, labels, mask probabilities)."""
        if len(batch['image']) == 0:
            return []
        return self.model(batch['image'])

    @property
    def model_name(self) -> str:
        """The name written into saved models: ``name``, else the preset."""
        return str(self.hparams['name'] or self.hparams['model'] or 'rtsgeo-model')

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Write the trained-model metadata (config, stats, sensor, name, GSD).

        And the datamodule's per-scene stretch, if it has one.
        """
        datamodule = (
            getattr(self.trainer, 'datamodule', None) if self._trainer else None
        )
        stats = getattr(datamodule, 'stats', None) or self.stats or {}
        sensor = getattr(datamodule, 'sensor', None) or self.sensor
        gsd_m = self.hparams['gsd_m'] or getattr(datamodule, 'gsd_m', None)
        stretch = getattr(datamodule, 'scene_stretch', None) or self.scene_stretch
        checkpoint['rtsgeo'] = checkpoint_metadata(
            self.config,
            stats,
            sensor,
            self.model_name,
            gsd_m or self.gsd_m,
            stretch,
        )

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore the normalisation stats, into the datamodule too when attached.

        Raises:
            ConfigError: If the checkpoint was trained with a per-scene
                stretch and the attached datamodule has none, or the reverse.
        """
        meta = checkpoint.get('rtsgeo')
        if not isinstance(meta, Mapping):
            return
        self.stats = {m: dict(s) for m, s in meta.get('stats', {}).items()}
        self.sensor = meta.get('sensor')
        self.gsd_m = meta.get('gsd_m')
        record = meta.get('scene_norm')
        self.scene_stretch = None if record is None else SceneStretch.from_dict(record)
        datamodule = (
            getattr(self.trainer, 'datamodule', None) if self._trainer else None
        )
        wanted = getattr(datamodule, 'scene_norm', None)
        known = datamodule is not None and hasattr(datamodule, 'scene_norm')
        if known and (self.scene_stretch is None) != (wanted is None):
            trained = 'percentile' if self.scene_stretch is not None else None
            msg = (
                f'the checkpoint was trained with scene_norm={trained!r}, the '
                f'data has scene_norm={wanted!r}: set data.scene_norm to '
                f'{trained!r} to read the data as in training'
            )
            raise ConfigError(msg)
        if datamodule is not None and self.stats and hasattr(datamodule, 'stats'):
            from ..transforms import NormalizeModalities

            datamodule.stats = self.stats
            datamodule.normalize = NormalizeModalities(
                self.stats, datamodule.modalities
            )
