"""Build the multimodal data pipeline and look at one training batch.

Uses the real Sentinel-2 chips when RTSGEO_DATA_DIR (default ../shared/data) holds
``s2-rts-lubka1``, else generates synthetic scenes. Run:

    python examples/data_pipeline.py [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use('Agg')

from rtsgeo._datadir import data_dir
from rtsgeo.datamodules import RTSDataModule
from rtsgeo.datasets import make_synthetic_dataset
from rtsgeo.plotting import plot_modalities


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--out', type=Path, default=Path('rtsgeo-output/example'))
    args = parser.parse_args()
    real = data_dir()
    if real is not None and (real / 's2-rts-lubka1').is_dir():
        root, modalities = real / 's2-rts-lubka1', ('rgb', 'ndvi', 'nir', 'slope')
    else:
        root, modalities = args.out / 'synthetic', ('rgb', 'ndvi', 'nir')
        make_synthetic_dataset(root / 'train', n_scenes=2, seed=0)
        make_synthetic_dataset(root / 'val', n_scenes=1, seed=1)
    datamodule = RTSDataModule(
        root=str(root), modalities=modalities, patch_size=256, batch_size=4, length=8
    )
    datamodule.setup('fit')
    print('normalisation statistics:', datamodule.stats)
    batch = next(iter(datamodule.train_dataloader()))
    print('image', tuple(batch['image'].shape), 'channels', batch['channels'][0])
    print('slumps per window', [len(m) for m in batch['mask']])
    args.out.mkdir(parents=True, exist_ok=True)
    window = {'image': batch['image'][0], 'valid': batch['valid'][0]}
    window['mask'] = batch['mask'][0]
    figure = plot_modalities(window, datamodule.channel_layout, title=str(root.name))
    figure.savefig(args.out / 'batch.png', dpi=80)
    print('figure:', args.out / 'batch.png')


if __name__ == '__main__':
    main()
