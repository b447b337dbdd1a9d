"""Fusion probe: does the fused model see slumps that only the NIR band shows?

The synthetic scenes of ``make_synthetic_splits(visibility='nir_only')`` draw
their slumps in the near-infrared band alone: RGB shows nothing of them. The
probe trains, on the same 4 training scenes (192 px) for the same steps, an
RGB-only model and the fused model (RGB + NDVI + NIR, residual
cross-attention), and scores both with mask AP50 on the 2 held-out test
scenes. An RGB model can only guess; a fusion that works finds the slumps.

    python benchmarks/synthetic_fusion.py            # 200 steps, prints both
    python benchmarks/synthetic_fusion.py --check    # exit 1 unless fused >= rgb + 0.2

This check ran in CI's slow suite (about 4.5 minutes on an idle 2-core CPU);
it is a benchmark run by hand now, so that CI keeps within its time. Prints
both figures, the margin, the wall time and the command to rerun.
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


def train_and_score(
    root: Path, modalities: list[str], fusion: str, steps: int, seed: int
) -> float:
    """Test-split mask AP50 of a model trained for *steps* batches of 4."""
    run = train_steps(
        root, modalities, fusion=fusion, steps=steps, batch_size=4, patch_size=128,
        chip_size=192, anchor_sizes=[8, 16, 32, 64, 128], seed=seed,
    )  # fmt: skip
    result = run.evaluate('test')
    ap50 = float(result['test_segm_map_50'])
    print(f'{"+".join(modalities)} ({fusion}): mask AP50 {ap50:.3f}, '
          f'trained in {run.seconds:.0f} s', flush=True)  # fmt: skip
    return ap50


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--steps', type=int, default=200)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument(
        '--check', action='store_true', help='exit 1 unless fused >= rgb + --margin'
    )
    parser.add_argument('--margin', type=float, default=0.2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix='rtsgeo-fusion-') as tmp:
        root = make_synthetic_splits(
            Path(tmp), seed=0, counts=(4, 1, 2), size=192, visibility='nir_only'
        )
        rgb = train_and_score(root, ['rgb'], 'none', args.steps, args.seed)
        fused = train_and_score(
            root, ['rgb', 'ndvi', 'nir'], 'residual_cross_attention', args.steps,
            args.seed,
        )  # fmt: skip
    minutes = (time.perf_counter() - start) / 60
    passed = fused >= rgb + args.margin
    print(f'fused - rgb: {fused - rgb:+.3f} (bar +{args.margin}): '
          f'{"pass" if passed else "FAIL"}')  # fmt: skip
    print(f'{args.steps} steps, seed {args.seed}, {args.threads} torch thread(s), '
          f'run time {minutes:.1f} min')  # fmt: skip
    print('command: python ' + shlex.join(['benchmarks/synthetic_fusion.py', *(
        sys.argv[1:] if argv is None else argv)]))  # fmt: skip
    return 1 if args.check and not passed else 0


if __name__ == '__main__':
    sys.exit(main())
