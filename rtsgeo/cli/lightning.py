"""``rtsgeo fit|validate|test|predict``: LightningCLI with YAML configs.

A config names the task and the datamodule by class path, as in TorchGeo (see
:mod:`rtsgeo.trainers.lightning_cli` for an example). ``rtsgeo fit --config
run.yaml`` trains, keeping the checkpoint with the best validation mask AP50
and printing a summary at the end. This module only hands the arguments to
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
