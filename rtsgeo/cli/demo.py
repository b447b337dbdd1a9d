"""``rtsgeo demo``: the whole pipeline on a built-in synthetic scene, no user data."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

__all__ = ['add_parser', 'run']


def add_parser(subparsers: Any) -> None:
    """Register ``rtsgeo demo``."""
    parser = subparsers.add_parser(
        'demo',
        help='run the pipeline on a generated scene (no data needed)',
        description=(
            'Generate seeded synthetic scenes with slumps, build the multimodal '
            'data pipeline over them (RGB + NDVI + NIR), draw training and '
            'validation batches and write a quick-look of one batch.'
        ),
    )
    parser.add_argument('--out', type=Path, default=Path('rtsgeo-output/demo'))
    parser.add_argument('--seed', type=int, default=0)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo and print where its outputs are."""
    import matplotlib

    matplotlib.use('Agg')
    from ..datamodules import RTSDataModule
    from ..datasets import make_synthetic_dataset
    from ..plotting import plot_modalities

    start = time.perf_counter()
    out: Path = args.out
    for split, count in (('train', 3), ('val', 1), ('test', 1)):
        offset = {'train': 0, 'val': 100, 'test': 200}[split]
        make_synthetic_dataset(out / split, n_scenes=count, seed=args.seed + offset)
        print(f'wrote {count} synthetic scene(s) to {out / split}')
    datamodule = RTSDataModule(root=str(out), patch_size=128, batch_size=4, length=16)
    datamodule.setup('fit')
    batch = next(iter(datamodule.train_dataloader()))
    counts = [len(m) for m in batch['mask']]
    print(f'training batch: image {tuple(batch["image"].shape)}, slumps {counts}')
    print(f'channels: {datamodule.describe()["channels"]}')
    val = next(iter(datamodule.val_dataloader()))
    window = {'image': val['image'][0], 'valid': val['valid'][0]}
    window['mask'] = val['mask'][0]
    figure = plot_modalities(window, datamodule.channel_layout, title='validation')
    quicklook = out / 'quicklook.png'
    figure.savefig(quicklook, dpi=80)
    print(f'quick-look of a validation window: {quicklook}')
    print(f'demo finished in {time.perf_counter() - start:.1f} s')
    return 0
