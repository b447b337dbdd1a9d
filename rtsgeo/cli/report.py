"""``rtsgeo report``: a one-page HTML report of a campaign GeoPackage."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ['add_parser', 'run']


def add_parser(subparsers: Any) -> None:
    """Register ``rtsgeo report``."""
    parser = subparsers.add_parser(
        'report',
        help='write a self-contained HTML report of a campaign GeoPackage',
        description=(
            'Write one HTML page that opens without a network: a map of the slumps '
            'coloured by score over the mapped footprints, the slump count and '
            'area, histograms of area and score, the model and its checksum, and '
            'the status of every scene.'
        ),
    )
    parser.add_argument('campaign', type=Path, help='campaign .gpkg (rtsgeo map)')
    parser.add_argument(
        '--out',
        type=Path,
        help='HTML file to write (default: CAMPAIGN_STEM.report.html beside it)',
    )
    parser.add_argument('--title', help='page title (default: the file name)')
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the report and print its headline figures."""
    from ..campaign.report import write_report

    out = args.out or args.campaign.with_name(f'{args.campaign.stem}.report.html')
    summary = write_report(args.campaign, out, title=args.title)
    statuses = ', '.join(f'{n} {s}' for s, n in summary.statuses.items()) or 'none'
    print(
        f'wrote {summary.out}: {summary.slumps} slump(s), '
        f'{summary.slump_area_m2 / 1e4:.2f} ha; scenes: {statuses}'
    )
    return 0
