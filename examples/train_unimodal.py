"""Train a unimodal (RGB) model from a YAML config, then load it for mapping.

    python examples/train_unimodal.py [--out DIR] [--steps N]

The same on the command line (``rtsgeo fit --help`` lists every option):

    rtsgeo synthetic data/synthetic
    rtsgeo fit --config rtsgeo/configs/tiny/rgb.yaml

Writes synthetic scenes to OUT/data, trains the packaged tiny RGB config on them
(``rtsgeo/configs/tiny/rgb.yaml``) for a few steps on CPU and prints where the
best checkpoint is. That checkpoint feeds ``rtsgeo map`` and
examples/map_scenes.py directly.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import rtsgeo
from rtsgeo.cli.main import main as rtsgeo_command
from rtsgeo.datasets import make_synthetic_splits
from rtsgeo.models import load_trained_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--out', type=Path, default=Path('rtsgeo-output/unimodal'))
    parser.add_argument('--steps', type=int, default=40)
    args = parser.parse_args()

    data = make_synthetic_splits(args.out / 'data', seed=0)
    config = Path(rtsgeo.__file__).parent / 'configs' / 'tiny' / 'rgb.yaml'
    status = rtsgeo_command(
        [
            'fit',
            '--config', str(config),
            '--data.init_args.root', str(data),
            '--trainer.max_steps', str(args.steps),
            '--trainer.default_root_dir', str(args.out / 'run'),
            '--trainer.enable_progress_bar', 'false',
        ]
    )  # fmt: skip
    if status != 0:
        raise SystemExit(status)

    # The best checkpoint by validation mask AP50; 'last' if no validation ran.
    found = sorted((args.out / 'run').rglob('*.ckpt'), key=lambda p: p.name)
    checkpoint = found[0]  # 'best-...' sorts before 'last'
    model, info = load_trained_model(checkpoint)  # eval mode, ready to predict
    print(f'checkpoint: {checkpoint}')
    print(f'model {info.name!r}: modalities {info.modalities}')
    print(f'{sum(p.numel() for p in model.parameters())} parameters')
    print(f'normalisation statistics: {info.stats}')


if __name__ == '__main__':
    main()
