"""``rtsgeo recipe``: the paper's two-stage training recipe from one file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ['add_parser', 'run']


def add_parser(subparsers: Any) -> None:
    """Register ``rtsgeo recipe``."""
    parser = subparsers.add_parser(
        'recipe',
        help='two-stage training: unimodal runs, then the fused model',
        description=(
            'Stage 1 trains one unimodal model per modality; stage 2 trains the '
            'multimodal model from the stage-1 checkpoints with frozen trunks. '
            'Writes OUTPUT_DIR/recipe.json recording which checkpoints fed stage 2. '
            'See rtsgeo.trainers.recipe for the file format.'
        ),
    )
    parser.add_argument('--config', type=Path, required=True, help='recipe YAML')
    parser.add_argument(
        '--stage', choices=('1', '2', 'all'), default='all', help='default all'
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the recipe and print where its checkpoints are."""
    from ..trainers.recipe import MANIFEST, load_recipe, run_recipe

    manifest = run_recipe(args.config, args.stage)
    out = Path(load_recipe(args.config)['output_dir'])
    print('rtsgeo recipe finished')
    for modality, entry in manifest.get('stage1', {}).items():
        ap50 = entry['metrics'].get('val_segm_map_50', float('nan'))
        print(
            f'  stage 1 {modality:<6} val mask AP50 {ap50:.4f}  {entry["checkpoint"]}'
            f'{_data(entry)}'
        )
    if 'stage2' in manifest:
        entry = manifest['stage2']
        ap50 = entry['metrics'].get('val_segm_map_50', float('nan'))
        print(
            f'  stage 2 fused  val mask AP50 {ap50:.4f}  {entry["checkpoint"]}'
            f'{_data(entry)}'
        )
    print(f'  manifest: {out / MANIFEST}')
    return 0


def _data(entry: dict[str, Any]) -> str:
    """`` (data: FOLDER)`` for a run that recorded its data folder."""
    root = entry.get('data', {}).get('root')
    return f' (data: {Path(root).name})' if root else ''
