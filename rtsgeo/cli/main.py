"""The ``rtsgeo`` command.

Each subcommand lives in its own module of :mod:`rtsgeo.cli` exposing
``add_parser(subparsers)`` (which registers the parser and sets ``func``).
Subcommand modules import heavy libraries inside their ``func`` only, so
``rtsgeo --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import RTSGeoError
from ..threads import configure_threads
from .lightning import COMMANDS as LIGHTNING_COMMANDS

__all__ = ['build_parser', 'main']

#: Subcommand modules, in the order ``--help`` lists them.
SUBCOMMANDS: tuple[str, ...] = (
    'demo',
    'synthetic',
    'lightning',
    'recipe',
    'map',
    'merge',
    'report',
    'sensors',
    'evaluate',
    'calibrate',
    'folds',
    'benchmark',
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``rtsgeo`` command."""
    parser = argparse.ArgumentParser(
        prog='rtsgeo',
        description='Map retrogressive thaw slumps as polygons.',
    )
    parser.add_argument('--version', action='version', version=__version__)
    subparsers = parser.add_subparsers(dest='command', metavar='COMMAND')
    for name in SUBCOMMANDS:
        module = importlib.import_module(f'{__package__}.{name}')
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``rtsgeo`` command.

    Args:
        argv: arguments without the program name (defaults to ``sys.argv``).

    Returns:
        Exit status: 0 on success, 2 on a usage or input error.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in LIGHTNING_COMMANDS:
        from .lightning import run

        try:
            configure_threads()
        except RTSGeoError as error:
            print(f'rtsgeo {argv[0]}: error: {error}', file=sys.stderr)
            return 2
        return run(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, 'func', None):
        parser.print_help()
        return 2
    try:
        # Threads sized to this process's CPUs (affinity, container quota).
        configure_threads()
        return int(args.func(args) or 0)
    except RTSGeoError as error:
        print(f'rtsgeo {args.command}: error: {error}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
