"""``rtsgeo folds``: assign image chips to sites and spatially blocked folds.

SOURCE is a folder of chips with train/, val/ and test/ subfolders each
holding image/ and mask/ (as s2-rts-lubka1), a folder with image/ (and
mask/), a folder of rasters, or image files. Chips whose footprints overlap,
in any split and on any date, form one site; folds are made of whole sites:
--by sites gives K folds balanced by slump count, --by zones one fold per UTM
zone (leave-one-zone-out). The table (one row per chip: chip, split, site,
zone, slumps, fold, path) goes to OUT as CSV, or as a GeoPackage of chip
outlines in EPSG:4326 when OUT ends in .gpkg.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ['add_parser']

#: Columns written to the fold table, in order.
COLUMNS = ('chip', 'split', 'site', 'zone', 'slumps', 'fold', 'path')


def add_parser(subparsers: Any) -> None:
    """Register ``rtsgeo folds``."""
    parser = subparsers.add_parser(
        'folds',
        help='group chips into sites and split them into spatially blocked folds',
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument('source', nargs='+', metavar='SOURCE', help='chip folder(s)')
    parser.add_argument('--out', required=True, help='fold table (.csv or .gpkg)')
    parser.add_argument(
        '--by', choices=('sites', 'zones'), default='sites', help='fold by (sites)'
    )
    parser.add_argument('--k', type=int, default=5, help='folds with --by sites (5)')
    parser.add_argument('--seed', type=int, default=0, help='order of tied sites (0)')
    parser.add_argument(
        '--min-overlap',
        type=float,
        default=1.0,
        help='shared area in pixels that links two chips (1)',
    )
    parser.add_argument(
        '--connectivity',
        type=int,
        choices=(4, 8),
        default=8,
        help='pixel connectivity of a slump in the masks (8)',
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import ConfigError, OutputError
    from ..evaluation import (
        assign_sites,
        fold_summary,
        read_chips,
        site_folds,
        zone_folds,
    )

    out = Path(args.out)
    if out.suffix.lower() not in ('.csv', '.gpkg'):
        msg = f'--out {out}: give a path ending in .csv or .gpkg'
        raise ConfigError(msg)
    if not out.parent.is_dir():
        msg = f'--out {out}: folder {out.parent} does not exist; create it first'
        raise OutputError(msg)
    chips = read_chips(args.source, connectivity=args.connectivity)
    chips = assign_sites(chips, min_overlap=args.min_overlap)
    if args.by == 'sites':
        chips = site_folds(chips, k=args.k, seed=args.seed)
    else:
        chips = zone_folds(chips)
    table = chips[[*COLUMNS, 'geometry']]
    try:
        if out.suffix.lower() == '.gpkg':
            table.to_file(out, layer='folds', driver='GPKG')
        else:
            table.drop(columns='geometry').to_csv(out, index=False)
    except (OSError, RuntimeError) as error:  # pyogrio's errors are RuntimeErrors
        msg = f'cannot write {out} ({error}): check the folder and free space'
        raise OutputError(msg) from error
    summary = fold_summary(chips)
    print(
        f'{len(chips)} chips, {chips["site"].nunique()} sites, '
        f'{chips["zone"].nunique()} zones, {int(chips["slumps"].sum())} slumps; '
        f'{len(summary)} folds by {args.by}'
    )
    print(summary.to_string())
    print(f'wrote {out}')
    return 0
