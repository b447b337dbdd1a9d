"""``rtsgeo fit|validate|test|predict``: LightningCLI with YAML configs.

As in TorchGeo, a config names the task and the datamodule by class path::

    model:
      class_path: rtsgeo.trainers.InstanceSegmentationTask
      init_args: {model: nano_cascade_rgb, lr: 1.0e-4}
    data:
      class_path: rtsgeo.datamodules.RTSDataModule
      init_args: {root: data/, modalities: [rgb], patch_size: 64}
    trainer: {max_epochs: 12, gradient_clip_val: 1.0}

``rtsgeo fit --config run.yaml`` trains, keeping the checkpoint with the best
validation mask AP50 (section ``checkpoint:`` configures it) and printing a
summary at the end. This module only hands the arguments to
:func:`rtsgeo.trainers.lightning_cli.build_cli`, imported when a command runs,
so ``rtsgeo --help`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

__all__ = ['COMMANDS', 'add_parser', 'run']

#: Subcommands handed to LightningCLI.
COMMANDS: tuple[str, ...] = ('fit', 'validate', 'test', 'predict')

_HELP = {
    'fit': 'train a model from a YAML config (LightningCLI)',
    'validate': 'compute validation metrics of a checkpoint (LightningCLI)',
    'test': 'compute test metrics of a checkpoint (LightningCLI)',
    'predict': 'run a checkpoint on the test windows (LightningCLI)',
}


def add_parser(subparsers: Any) -> None:
    """List the Lightning subcommands in ``rtsgeo --help``.

    :func:`rtsgeo.cli.main.main` hands their arguments to :func:`run` before
    argparse sees them; ``rtsgeo fit --help`` shows LightningCLI's help.
    """
    for name in COMMANDS:
        subparsers.add_parser(name, help=_HELP[name], add_help=False)


def run(argv: Sequence[str]) -> int:
    """Run a Lightning subcommand; rtsgeo errors become one line and status 2.

    Args:
        argv: the arguments, subcommand first.

    Returns:
        Exit status.
    """
    from ..errors import RTSGeoError
    from ..trainers.lightning_cli import build_cli

    try:
        build_cli(argv)
    except RTSGeoError as error:
        print(f'rtsgeo {argv[0]}: error: {error}', file=sys.stderr)
        return 2
    return 0
