"""``rtsgeo merge``: merge shard outputs of ``rtsgeo map --shard`` into one file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ['add_parser', 'run']

#: ``rtsgeo.campaign.export.FORMATS``, repeated so that ``--help`` stays light.
FORMATS = ('gpkg', 'parquet')


def add_parser(subparsers: Any) -> None:
    """Register ``rtsgeo merge``."""
    parser = subparsers.add_parser(
        'merge',
        help='merge campaign GeoPackages (shards) into one',
        description=(
            'Copy every scene of the given campaign GeoPackages into OUT, one '
            'scene per transaction, in scene order. Safe to rerun. With '
            '--format parquet the merged file is then exported to '
            'OUT_STEM.slumps.parquet, OUT_STEM.coverage.parquet and '
            'OUT_STEM.runs.parquet beside it.'
        ),
    )
    parser.add_argument('inputs', nargs='+', type=Path, metavar='SHARD_OUTPUTS')
    parser.add_argument('--out', required=True, type=Path, help='merged .gpkg')
    parser.add_argument(
        '--format',
        dest='fmt',
        default='gpkg',
        choices=FORMATS,
        help="'gpkg' (default) or 'parquet': also export the layers as GeoParquet",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Merge and print what was copied."""
    from ..campaign.merge import merge_campaigns
    from .map import print_exports

    summary = merge_campaigns(args.inputs, args.out, fmt=args.fmt)
    print(
        f'merged {len(args.inputs)} file(s) into {summary.out}: {summary.copied} '
        f'scene(s) copied, {summary.kept} already there'
    )
    if summary.duplicates:
        print(
            f'{len(summary.duplicates)} scene(s) were in several inputs (first kept): '
            + ', '.join(summary.duplicates[:10])
        )
    if args.fmt == 'parquet':
        print_exports(summary.out)
    return 0
