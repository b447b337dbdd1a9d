"""Learning probe on synthetic scenes: the model learns slumps, and fusion sees NIR.

Two checks on the synthetic scenes of ``make_synthetic_splits`` (4 training
and 2 held-out test scenes of 192 px), each model trained for the same steps
of 4 crops of 128 px and scored with test mask AP50:

* ``visibility='all'``: slumps show in every band. An RGB-only model must
  reach ``--min-rgb`` (default 0.8): the detector learns.
* ``visibility='nir_only'``: slumps show in the near-infrared band alone, RGB
  shows nothing of them. An RGB-only model and the fused model (RGB + NDVI +
  NIR, residual cross-attention) train on the same scenes; the fused one must
  beat RGB by ``--margin`` (default 0.2): the fusion uses what only NIR sees.

    python benchmarks/synthetic_learning.py            # 200 steps, prints all
    python benchmarks/synthetic_learning.py --check    # exit 1 if a bar is missed

These checks ran in CI's slow suite (about 6 minutes on an idle 2-core CPU);
they are a benchmark run by hand now, so that CI keeps within its time (its
slow suite keeps a real-data learning test). Prints every figure, each bar,
the wall time and the command to rerun.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch

from rtsgeo.datasets import make_synthetic_splits
from rtsgeo.trainers import train_steps

FUSED = ['rgb', 'ndvi', 'nir']


def train_and_score(
    root: Path, modalities: list[str], fusion: str, steps: int, seed: int
) -> float:
    """Test-split mask AP50 of a model trained for *steps* batches of 4."""
    run = train_steps(
        root, modalities, fusion=fusion, steps=steps, batch_size=4, patch_size=128,
        chip_size=192, anchor_sizes=[8, 16, 32, 64, 128], seed=seed,
    )  # fmt: skip
    ap50 = float(run.evaluate('test')['test_segm_map_50'])
    print(f'{root.name}: {"+".join(modalities)} ({fusion}): mask AP50 {ap50:.3f}, '
          f'trained in {run.seconds:.0f} s', flush=True)  # fmt: skip
    return ap50


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--steps', type=int, default=200)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument(
        '--check', action='store_true', help='exit 1 unless both bars are met'
    )
    parser.add_argument('--min-rgb', type=float, default=0.8)
    parser.add_argument('--margin', type=float, default=0.2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix='rtsgeo-learning-') as tmp:
        scenes = {
            name: make_synthetic_splits(
                Path(tmp) / name, seed=0, counts=(4, 1, 2), size=192, visibility=name
            )
            for name in ('all', 'nir_only')
        }
        learns = train_and_score(scenes['all'], ['rgb'], 'none', args.steps, args.seed)
        rgb = train_and_score(
            scenes['nir_only'], ['rgb'], 'none', args.steps, args.seed
        )
        fused = train_and_score(
            scenes['nir_only'], FUSED, 'residual_cross_attention', args.steps,
            args.seed,
        )  # fmt: skip
    checks = [
        (f'RGB learns visible slumps: {learns:.3f} (bar >= {args.min_rgb})',
         learns >= args.min_rgb),
        (f'fusion sees NIR-only slumps: fused - RGB {fused - rgb:+.3f} '
         f'(bar >= +{args.margin})', fused >= rgb + args.margin),
    ]  # fmt: skip
    for text, passed in checks:
        print(f'{text}: {"pass" if passed else "FAIL"}')
    minutes = (time.perf_counter() - start) / 60
    print(f'{args.steps} steps of 4, seed {args.seed}, {args.threads} torch '
          f'thread(s), run time {minutes:.1f} min')  # fmt: skip
    given = sys.argv[1:] if argv is None else argv
    print('command: python ' + shlex.join(['benchmarks/synthetic_learning.py', *given]))
    return 1 if args.check and not all(passed for _, passed in checks) else 0


if __name__ == '__main__':
    sys.exit(main())
