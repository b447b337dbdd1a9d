"""``rtsgeo benchmark``: measure rtsgeo on this machine.

Each target is a sub-subcommand registered in :data:`TARGETS` (``model``,
``predict`` and ``data``): a function ``_add_<target>(subparsers)`` that registers its
parser and sets ``func``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

__all__ = ['TARGETS', 'add_parser']

DEFAULT_PRESET = 'cascade_mvitv2_b_rgb_ndvi_nir_residual_cross_attention'


def add_parser(subparsers: Any) -> None:
    """Register ``rtsgeo benchmark`` and its targets."""
    parser = subparsers.add_parser(
        'benchmark',
        help='measure parameters, memory and speed on this machine',
        description=__doc__,
    )
    targets = parser.add_subparsers(dest='target', metavar='TARGET', required=True)
    for add in TARGETS.values():
        add(targets)


def _add_model(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        'model',
        help='parameters, training-step memory and fusion cost of model presets',
        description=(
            'For each preset: parameter counts; peak memory of one training step '
            '(batch 1, forward + backward, no optimizer state) with trainable and '
            'with frozen trunks; time and memory of the fusion module at P2 for '
            'each fusion size. Memory is the peak RSS of a fresh process over its '
            'RSS before the model is built.'
        ),
    )
    parser.add_argument('--preset', action='append', help=f'default {DEFAULT_PRESET}')
    parser.add_argument('--size', type=int, default=512, help='tile side (px)')
    parser.add_argument(
        '--fusion-sizes',
        type=int,
        nargs='*',
        default=[256, 512, 1024],
        help='input sides (px) for the fusion measurement; none to skip',
    )
    parser.add_argument('--params-only', action='store_true', help='count only')
    parser.add_argument(
        '--json', action='store_true', help='one JSON object per preset'
    )
    parser.set_defaults(func=_run_model)


def _add_predict(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        'predict',
        help='scene predictor throughput, overhead over the model, memory',
        description=(
            'Map a generated scene and the same scene at four times the area, '
            'each in a fresh process: tiles/s, km2/h, end-to-end time over the '
            "model's forward time alone on the same tiles, and peak RSS of both."
        ),
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument('--checkpoint', help='trained-model file to benchmark')
    source.add_argument(
        '--preset', help='untrained model preset (default nano_cascade_rgb_ndvi_nir)'
    )
    parser.add_argument(
        '--size',
        '--scene-size',
        type=int,
        help='base scene side (px; default 512, 4096 with --pipeline-only)',
    )
    parser.add_argument(
        '--tile-size', type=int, help='tile side (px; 512 with --pipeline-only)'
    )
    parser.add_argument(
        '--batch-size',
        type=int,
        help='tiles per batch (default 4, 8 with --pipeline-only)',
    )
    parser.add_argument(
        '--workers', type=int, default=2, help="predictor's background threads (0-2)"
    )
    parser.add_argument(
        '--prefetch', type=int, default=2, help='batches per background queue'
    )
    pipeline = parser.add_argument_group(
        'pipeline only', 'everything but the model, with a stand-in model'
    )
    pipeline.add_argument(
        '--pipeline-only',
        action='store_true',
        help='replace the model by one that sleeps and returns fixed objects',
    )
    pipeline.add_argument(
        '--model-ms', type=float, default=0.0, help="stand-in's ms per tile"
    )
    pipeline.add_argument(
        '--objects', type=int, default=5, help="stand-in's objects per tile"
    )
    pipeline.add_argument(
        '--quality-mask',
        choices=('scl', 'udm2', 'qa_pixel', 'nonzero'),
        help='map with a generated cloud mask of this format beside each scene '
        '(a quarter cloud, shadows at the edges; scl at twice the pixel size)',
    )
    parser.add_argument(
        '--score-threshold',
        type=float,
        help='default 0.5, or calibrated to ~5 detections/tile for a preset',
    )
    parser.add_argument(
        '--repeats', type=int, default=2, help='passes per scene; fastest kept'
    )
    parser.add_argument('--json', action='store_true', help='one JSON object')
    parser.set_defaults(func=_run_predict)


def _add_data(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        'data',
        help='training data stream: set-up, first batch, windows/s',
        description=(
            "Time the training stream of a data folder (the datamodule's set-up, "
            'its training loader and the normalisation of each batch; no model): '
            'set-up seconds, first-batch seconds and windows per second.'
        ),
    )
    parser.add_argument('--root', required=True, help='folder with train/val/test')
    parser.add_argument('--workers', type=int, default=0, help='loader processes')
    parser.add_argument('--patch-size', type=int, default=256, help='window (px)')
    parser.add_argument('--batch-size', type=int, default=8, help='windows/batch')
    parser.add_argument(
        '--cached', action='store_true', help='crop windows from chips in memory'
    )
    parser.add_argument(
        '--chip-size', type=int, default=256, help='cached chip side (px)'
    )
    parser.add_argument(
        '--batches', type=int, default=20, help='batches timed after the first'
    )
    parser.add_argument('--json', action='store_true', help='one JSON object')
    parser.set_defaults(func=_run_data)


#: Benchmark targets: name -> function registering its parser.
TARGETS: dict[str, Callable[[Any], None]] = {
    'model': _add_model,
    'predict': _add_predict,
    'data': _add_data,
}


def _run_data(args: argparse.Namespace) -> int:
    from ..benchmark.data import describe_data, run_data_benchmark
    from ..errors import ConfigError

    for name, least in (('workers', 0), ('batches', 1)):
        if getattr(args, name) < least:
            raise ConfigError(f'--{name} {getattr(args, name)}: use {least} or more')
    row = run_data_benchmark(
        args.root,
        workers=args.workers,
        patch_size=args.patch_size,
        batch_size=args.batch_size,
        cached=args.cached,
        chip_size=args.chip_size,
        batches=args.batches,
    )
    print(json.dumps(row) if args.json else describe_data(row), flush=True)
    return 0


def _run_predict(args: argparse.Namespace) -> int:
    if args.pipeline_only:
        return _run_pipeline(args)
    if args.quality_mask:
        print('--quality-mask needs --pipeline-only', file=sys.stderr)
        return 2
    from ..benchmark.predict import describe, run_predict_benchmark

    row = run_predict_benchmark(
        checkpoint=args.checkpoint,
        preset=args.preset,
        size=args.size or 512,
        tile_size=args.tile_size,
        batch_size=args.batch_size or 4,
        score_threshold=args.score_threshold,
        repeats=args.repeats,
        workers=args.workers,
        prefetch=args.prefetch,
    )
    print(json.dumps(row) if args.json else describe(row), flush=True)
    return 0


def _run_pipeline(args: argparse.Namespace) -> int:
    from ..benchmark.pipeline import describe_pipeline, run_pipeline_benchmark

    if args.checkpoint or args.preset:
        msg = '--pipeline-only uses a stand-in model: drop --checkpoint/--preset'
        print(msg, file=sys.stderr)
        return 2
    row = run_pipeline_benchmark(
        size=args.size or 4096,
        tile_size=args.tile_size or 512,
        batch_size=args.batch_size or 8,
        workers=args.workers,
        prefetch=args.prefetch,
        model_ms=args.model_ms,
        objects=args.objects,
        repeats=args.repeats,
        quality_mask=args.quality_mask,
    )
    print(json.dumps(row) if args.json else describe_pipeline(row), flush=True)
    return 0


def _run_model(args: argparse.Namespace) -> int:
    from ..benchmark.model import measure_parameters, run_isolated
    from ..models.config import get_preset

    for preset in args.preset or [DEFAULT_PRESET]:
        config = get_preset(preset)
        row: dict[str, Any] = {'preset': preset, 'modalities': list(config.modalities)}
        row['size'] = args.size
        row.update(measure_parameters(preset, args.size))
        if not args.params_only:
            trainable = run_isolated('step', preset, args.size, frozen=False)
            frozen = run_isolated('step', preset, args.size, frozen=True)
            row['step_peak_mb_trainable_trunks'] = round(trainable['peak_mb'], 1)
            row['step_peak_mb_frozen_trunks'] = round(frozen['peak_mb'], 1)
            row['step_s_trainable_trunks'] = round(trainable['step_s'], 2)
            row['step_s_frozen_trunks'] = round(frozen['step_s'], 2)
            ratio = frozen['peak_mb'] / trainable['peak_mb']
            row['frozen_to_trainable_ratio'] = round(ratio, 3)
            if len(config.modalities) > 1 and config.fusion != 'channel_expansion':
                fusion = {
                    s: run_isolated('fusion', preset, s) for s in args.fusion_sizes
                }
                row['fusion_ms'] = {
                    s: round(f['fusion_ms'], 1) for s, f in fusion.items()
                }
                row['fusion_peak_mb'] = {
                    s: round(f['fusion_peak_mb'], 1) for s, f in fusion.items()
                }
        print(json.dumps(row) if args.json else _describe(row), flush=True)
    return 0


def _describe(row: dict[str, Any]) -> str:
    from ..benchmark.model import PAPER_TABLE2

    name = row['preset']
    table2 = name.startswith('cascade_mvitv2_b') and 'expansion' not in name
    paper = PAPER_TABLE2.get(len(row['modalities'])) if table2 else None
    lines = [f'{row["preset"]} ({"+".join(row["modalities"])}, {row["size"]} px)']
    total, trainable = row['params_total'] / 1e6, row['params_trainable'] / 1e6
    ref = f'   paper: {paper[0]} M / {paper[1]} M' if paper else ''
    lines.append(
        f'  parameters total / trainable: {total:.1f} M / {trainable:.1f} M{ref}'
    )
    if 'step_peak_mb_trainable_trunks' in row:
        ref = ''
        if paper and paper[3]:
            ref = f'   paper: {paper[2]} / {paper[3]} MB ({paper[3] / paper[2]:.2f})'
        lines.append(
            '  step peak MB trainable / frozen trunks: '
            f'{row["step_peak_mb_trainable_trunks"]:.0f} / '
            f'{row["step_peak_mb_frozen_trunks"]:.0f} '
            f'({row["frozen_to_trainable_ratio"]:.2f}){ref}'
        )
    for size, ms in row.get('fusion_ms', {}).items():
        mb = row['fusion_peak_mb'][size]
        lines.append(f'  fusion at P2, {size} px input: {ms:.0f} ms, {mb:.0f} MB')
    return '\n'.join(lines)
