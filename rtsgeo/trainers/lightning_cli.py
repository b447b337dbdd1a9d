"""rtsgeo's LightningCLI: tasks and datamodules from YAML configs.

As in TorchGeo, a config names the task and the datamodule by class path::

    model:
      class_path: rtsgeo.trainers.InstanceSegmentationTask
      init_args: {model: nano_cascade_rgb, lr: 1.0e-4}
    data:
      class_path: rtsgeo.datamodules.RTSDataModule
      init_args: {root: data/, modalities: [rgb], patch_size: 64}
    trainer: {max_epochs: 12, gradient_clip_val: 1.0}

:func:`build_cli` keeps the checkpoint with the best validation mask AP50
(section ``checkpoint:`` configures it) and prints a summary at the end of
each run. Mixed precision is the default only when a GPU is present. The
``rtsgeo fit|validate|test|predict`` commands (:mod:`rtsgeo.cli.lightning`)
and the two-stage recipe (:mod:`rtsgeo.trainers.recipe`) both build it here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ['build_cli', 'default_precision', 'print_summary']


def default_precision() -> str:
    """``'bf16-mixed'``/``'16-mixed'`` with a CUDA GPU, else full precision."""
    import torch

    if not torch.cuda.is_available():
        return '32-true'
    return 'bf16-mixed' if torch.cuda.is_bf16_supported() else '16-mixed'


def build_cli(args: Sequence[str] | dict[str, Any], run: bool = True) -> Any:
    """Build (and by default run) rtsgeo's LightningCLI.

    Args:
        args: command-line arguments (subcommand first) or a config dict.
        run: run the subcommand; False only parses and instantiates.

    Returns:
        The LightningCLI object (``.trainer``, ``.model``, ``.datamodule``).
    """
    from lightning.pytorch import LightningDataModule
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

    from .instance_segmentation import InstanceSegmentationTask

    class RTSGeoCLI(LightningCLI):
        def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
            parser.add_lightning_class_args(ModelCheckpoint, 'checkpoint')
            parser.set_defaults(
                {
                    'checkpoint.monitor': InstanceSegmentationTask.monitor,
                    'checkpoint.mode': InstanceSegmentationTask.mode,
                    'checkpoint.filename': 'best-{epoch:03d}-{step:06d}',
                    'checkpoint.save_last': True,
                    'trainer.precision': default_precision(),
                    'trainer.gradient_clip_val': 1.0,
                    'trainer.default_root_dir': 'runs',
                }
            )

        def instantiate_classes(self) -> None:
            try:
                super().instantiate_classes()
            except ValueError:
                # jsonargparse folds errors raised in __init__ into a ValueError
                # about Union subtypes: raise the real one again.
                _reraise_init_error(self.config[self.subcommand])
                raise

        def after_fit(self) -> None:
            print_summary(self.trainer, 'fit')

        def after_validate(self) -> None:
            print_summary(self.trainer, 'validate')

        def after_test(self) -> None:
            print_summary(self.trainer, 'test')

        def after_predict(self) -> None:
            print_summary(self.trainer, 'predict')

    return RTSGeoCLI(
        model_class=InstanceSegmentationTask,
        datamodule_class=LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        seed_everything_default=0,
        save_config_kwargs={'overwrite': True},
        parser_kwargs={'prog': 'rtsgeo'},
        args=list(args) if not isinstance(args, dict) else args,
        run=run,
    )


def _reraise_init_error(config: Any) -> None:
    """Instantiate the data and model of a parsed config to surface their error."""
    import importlib

    for key in ('data', 'model'):
        spec = config.get(key)
        if spec is None or not getattr(spec, 'class_path', None):
            continue
        module, name = spec.class_path.rsplit('.', 1)
        cls = getattr(importlib.import_module(module), name)
        init_args = spec.get('init_args')
        cls(**(init_args.as_dict() if init_args is not None else {}))


def print_summary(trainer: Any, stage: str) -> None:
    """Print the logged metrics and the best checkpoint after a run."""
    if not trainer.is_global_zero:
        return
    lines = [f'rtsgeo {stage} finished']
    metrics = {
        k: float(v)
        for k, v in sorted(trainer.callback_metrics.items())
        if not k.startswith('train_') or k == 'train_loss'
    }
    for key, value in metrics.items():
        lines.append(f'  {key:<32} {value:.4f}')
    callback = trainer.checkpoint_callback
    if stage == 'fit' and callback is not None:
        best = getattr(callback, 'best_model_path', '')
        score = getattr(callback, 'best_model_score', None)
        if best and Path(best).is_file():
            monitor = getattr(callback, 'monitor', None)
            tag = f' ({monitor} = {float(score):.4f})' if score is not None else ''
            lines.append(f'  best checkpoint: {best}{tag}')
        last = getattr(callback, 'last_model_path', '')
        if last and Path(last).is_file():
            lines.append(f'  last checkpoint: {last}')
    if stage == 'predict' and trainer.predict_loop.predictions is not None:
        windows = sum(len(batch) for batch in trainer.predict_loop.predictions)
        lines.append(f'  windows predicted: {windows}')
    print('\n'.join(lines), flush=True)
