"""``rtsgeo synthetic``: write seeded synthetic train/val/test scenes with slumps."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ['add_parser', 'run']


def add_parser(subparsers: Any) -> None:
    """Register ``rtsgeo synthetic``."""
    parser = subparsers.add_parser(
        'synthetic',
        help='write synthetic train/val/test scenes (for the tiny configs)',
        description=(
            'Write seeded synthetic scenes (blue, green, red, NIR at 5 m with '
            'slump masks and polygons) as ROOT/{train,val,test}/{image,mask,labels}: '
            'the layout RTSDataModule(root=ROOT) and the tiny configs read.'
        ),
    )
    parser.add_argument('root', type=Path, help='output folder, e.g. data/synthetic')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--visibility',
        choices=('all', 'nir_only'),
        default='all',
        help="'nir_only': slumps visible in NIR/NDVI only, not in RGB",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the scenes and say where."""
    from ..datasets import make_synthetic_splits

    root = make_synthetic_splits(
        args.root, seed=args.seed, size=192, visibility=args.visibility
    )
    for split in ('train', 'val', 'test'):
        count = len(list((root / split / 'image').glob('*.tif')))
        print(f'{split}: {count} scene(s) in {root / split}')
    return 0
