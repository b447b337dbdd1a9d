"""Train on the real s2-rts-lubka1 chips and report test-split AP50 per fusion.

Four models with the same small backbone, schedule and seeds: RGB only,
RGB+NDVI and RGB+NDVI+NIR with residual cross-modality attention, and
RGB+NDVI+NIR channel expansion (data-level fusion). Each is trained from
scratch in one stage (the two-stage recipe would triple the cost), on random
crops of the training chips held in memory (:class:`CachedRTSDataModule`),
then the final weights are evaluated on the test split's grid windows.

    python benchmarks/train_lubka1.py --seeds 0 1 2 --steps 1000 --out bench-train

Prints a Markdown table (mean and standard deviation over seeds of mask and box
AP50), the command and the run time, and writes ``results.json`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from rtsgeo._datadir import data_dir

MODELS: dict[str, dict[str, Any]] = {
    'RGB': {'modalities': ['rgb'], 'fusion': 'none'},
    'RGB+NDVI (residual cross-attention)': {
        'modalities': ['rgb', 'ndvi'],
        'fusion': 'residual_cross_attention',
    },
    'RGB+NDVI+NIR (residual cross-attention)': {
        'modalities': ['rgb', 'ndvi', 'nir'],
        'fusion': 'residual_cross_attention',
    },
    'RGB+NDVI+NIR (channel expansion)': {
        'modalities': ['rgb', 'ndvi', 'nir'],
        'fusion': 'channel_expansion',
    },
}


def train_model(root: Path, name: str, seed: int, args: argparse.Namespace) -> Any:
    """Train model ``name`` with the shared settings of ``args`` (a ShortTraining)."""
    from rtsgeo.trainers import train_steps

    spec = MODELS[name]
    return train_steps(
        root,
        spec['modalities'],
        fusion=spec['fusion'],
        model=args.preset,
        steps=args.steps,
        batch_size=args.batch_size,
        patch_size=args.size,
        chip_size=256,
        lr=args.lr,
        anchor_sizes=[4, 8, 16, 32, 64],
        model_options=getattr(args, 'model_options', None),
        positive_fraction=args.positive_fraction,
        seed=seed,
        radiometric=getattr(args, 'radiometric', False),
        scene_norm='percentile' if getattr(args, 'scene_norm', False) else None,
    )


def train_one(
    root: Path, name: str, seed: int, args: argparse.Namespace
) -> dict[str, float]:
    run = train_model(root, name, seed, args)
    # 'val' is for choosing settings without touching the test split.
    metrics = run.evaluate(args.split)
    prefix = f'{args.split}_'
    return {k.replace(prefix, 'test_', 1): v for k, v in metrics.items()}


def parse_model_options(items: list[str]) -> dict[str, Any]:
    """``key=value`` pairs as ModelConfig overrides; values are read as YAML.

    ``['anchor_density=2', 'anchor_sizes=[4, 8, 16, 32, 64]']`` gives
    ``{'anchor_density': 2, 'anchor_sizes': [4, 8, 16, 32, 64]}``. The item
    ``small-objects`` adds :data:`rtsgeo.models.SMALL_OBJECT_OPTIONS`; later
    items override it.
    """
    from rtsgeo.models import SMALL_OBJECT_OPTIONS

    options: dict[str, Any] = {}
    for item in items:
        if item == 'small-objects':
            options.update(SMALL_OBJECT_OPTIONS)
            continue
        key, sep, value = item.partition('=')
        if not sep or not key:
            raise argparse.ArgumentTypeError(
                f'--model-options {item!r}: write key=value, e.g. anchor_density=2, '
                'or small-objects'
            )
        options[key.strip()] = yaml.safe_load(value)
    return options


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The training settings both lubka1 scripts take, with the same defaults."""
    parser.add_argument('--steps', type=int, default=1000, help='optimizer steps')
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--size', type=int, default=128, help='window side (px)')
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--preset', default='nano_mask_rcnn_rgb')
    parser.add_argument(
        '--positive-fraction',
        type=float,
        default=0.5,
        help='share of training crops placed on a slump',
    )
    parser.add_argument(
        '--model-options',
        nargs='*',
        default=[],
        metavar='KEY=VALUE',
        help='ModelConfig overrides, e.g. anchor_density=2 gt_jitter_copies=16; '
        'small-objects adds rtsgeo.models.SMALL_OBJECT_OPTIONS',
    )
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--out', type=Path, default=Path('bench-train'))


def lubka1_root(args: argparse.Namespace) -> Path | None:
    """The s2-rts-lubka1 folder, threads set (None, with a message, if absent)."""
    base = data_dir()
    if base is None or not (base / 's2-rts-lubka1').is_dir():
        print('s2-rts-lubka1 not found: set RTSGEO_DATA_DIR', file=sys.stderr)
        return None
    torch.set_num_threads(args.threads)
    return base / 's2-rts-lubka1'


def summarise(runs: list[dict[str, Any]], key: str) -> dict[str, dict[str, float]]:
    out = {}
    for name in MODELS:
        values = [r['metrics'][key] for r in runs if r['model'] == name]
        if values:
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            out[name] = {'mean': statistics.mean(values), 'std': spread}
    return out


def table(runs: list[dict[str, Any]]) -> str:
    masks = summarise(runs, 'test_segm_map_50')
    boxes = summarise(runs, 'test_bbox_map_50')
    lines = [
        '| model | seeds | mask AP50 (%) | box AP50 (%) |',
        '|---|---|---|---|',
    ]
    for name in masks:
        n = sum(r['model'] == name for r in runs)
        m, b = masks[name], boxes[name]
        lines.append(
            f'| {name} | {n} | {100 * m["mean"]:.1f} ± {100 * m["std"]:.1f} '
            f'| {100 * b["mean"]:.1f} ± {100 * b["std"]:.1f} |'
        )
    return '\n'.join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    add_training_arguments(parser)
    parser.add_argument(
        '--split',
        choices=['test', 'val'],
        default='test',
        help='split scored (val: for choosing settings)',
    )
    parser.add_argument('--models', nargs='+', default=list(MODELS))
    args = parser.parse_args()
    try:
        args.model_options = parse_model_options(args.model_options)
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    root = lubka1_root(args)
    if root is None:
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    command = 'python ' + shlex.join(sys.argv)
    start = time.perf_counter()
    runs: list[dict[str, Any]] = []
    for seed in args.seeds:
        for name in args.models:
            t0 = time.perf_counter()
            metrics = train_one(root, name, seed, args)
            seconds = time.perf_counter() - t0
            runs.append(
                {'model': name, 'seed': seed, 'seconds': seconds, 'metrics': metrics}
            )
            print(
                f'{name} seed {seed}: mask AP50 {metrics["test_segm_map_50"]:.4f} '
                f'box AP50 {metrics["test_bbox_map_50"]:.4f} ({seconds:.0f} s)',
                flush=True,
            )
            report = {
                'command': command,
                'settings': {k: str(v) for k, v in vars(args).items()},
                'machine': f'{platform.processor() or platform.machine()}, '
                f'{os.cpu_count()} CPU cores, torch threads {args.threads}',
                'runs': runs,
                'mask_ap50': summarise(runs, 'test_segm_map_50'),
                'box_ap50': summarise(runs, 'test_bbox_map_50'),
                'seconds': time.perf_counter() - start,
            }
            (args.out / 'results.json').write_text(json.dumps(report, indent=2))
    print()
    print(table(runs))
    print()
    print(f'command: {command}')
    print(f'run time: {(time.perf_counter() - start) / 60:.1f} min')
    return 0


if __name__ == '__main__':
    sys.exit(main())
