"""Ensembles of seeds on land the models never saw: better than their members?

Takes the ``--out`` folders of blocked runs of the real-data benchmark
(``python benchmarks/real_data.py --cv sites ...``), one or several: seeds
trained on other days or in other processes each have their own. For every
test fold with a model of each of ``--seeds``:

1. map the fold's test chips with all of them at once, as
   ``rtsgeo map --checkpoint A.pt B.pt C.pt`` does (the product's campaign
   path, as the benchmark maps each member);
2. score that map as the members' maps were scored (``rtsgeo evaluate``:
   scene-level AP50, false positives per 100 km² at score >= 0.5);
3. compare it with the mean of its members' figures on the same fold.

Passes (exit 0) when the ensemble's AP50, averaged over the folds, is at
least ``--target`` (2) percentage points above its members' mean; exit 1
otherwise, 2 on bad input. Writes ``ensemble.json`` to ``--out``.

    python benchmarks/ensemble.py --runs runs/cv-sites runs/cv-seeds --out runs/ensemble
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from real_data import blocked_runs, map_with_rtsgeo, scores_of, truth_polygons

from rtsgeo.evaluation import evaluate_files

FUSED = 'rtsgeo RGB+NDVI+NIR (residual cross-attention)'


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--runs',
        type=Path,
        nargs='+',
        required=True,
        help='--out folders of `real_data.py --cv ...` (results.json, models/, chips/)',
    )
    parser.add_argument('--out', type=Path, required=True, help='output folder')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--model', default=FUSED, help=f'benchmark row ({FUSED!r})')
    parser.add_argument(
        '--target', type=float, default=2.0, help='AP50 points above the mean (2)'
    )
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=2, help='torch threads (2)')
    return parser.parse_args(argv)


def fold_ensemble(
    fold: int, members: list[dict[str, Any]], out: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Map one test fold with its members together; score it beside them."""
    chips = Path(members[0]['chips'])
    masks = sorted((chips / 'test' / 'mask').glob('*.tif'))
    truth = truth_polygons(masks, out / f'fold{fold}-test-truth.gpkg')
    scenes = sorted((chips / 'test' / 'image').glob('*.tif'))
    settings = argparse.Namespace(
        batch_size=args.batch_size, device=args.device, map_score_threshold=0.05
    )
    gpkg = out / f'fold{fold}-ensemble.gpkg'
    start = time.perf_counter()
    files = [Path(m['model_file']) for m in members]
    map_with_rtsgeo(files, scenes, gpkg, settings)
    seconds = time.perf_counter() - start
    ensemble = scores_of(evaluate_files(gpkg, truth))
    mean = {
        key: statistics.fmean(m['metrics'][key] for m in members)
        for key in ('ap50', 'fp_per_100km2')
    }
    return {
        'fold': fold,
        'seeds': [m['seed'] for m in members],
        'model_files': [str(f) for f in files],
        'members': [
            {key: m['metrics'][key] for key in ('ap50', 'fp_per_100km2')}
            | {'seed': m['seed']}
            for m in members
        ],
        'members_mean': mean,
        'ensemble': ensemble,
        'map_seconds': seconds,
    }


def main(argv: list[str] | None = None) -> int:
    """Run it; 0 when the ensembles beat their members' mean by the target."""
    args = parse_args(argv)
    runs: list[dict[str, Any]] = []
    for folder in args.runs:
        found = blocked_runs(folder)
        if isinstance(found, str):
            print(found, file=sys.stderr)
            return 2
        runs += [run for run in found if run['model'] == args.model]
    by_fold: dict[int, dict[int, dict[str, Any]]] = {}
    for run in runs:
        by_fold.setdefault(run['fold'], {})[run['seed']] = run
    folds = sorted(f for f, seeds in by_fold.items() if set(args.seeds) <= set(seeds))
    missing = sorted(set(by_fold) - set(folds))
    if not folds:
        print(f'no fold has a {args.model!r} model of every seed {args.seeds} in '
              f'{[str(f) for f in args.runs]}', file=sys.stderr)  # fmt: skip
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    rows = []
    for fold in folds:
        members = [by_fold[fold][seed] for seed in args.seeds]
        row = fold_ensemble(fold, members, args.out, args)
        rows.append(row)
        each = ', '.join(f'{100 * m["ap50"]:.1f}' for m in row['members'])
        print(f'fold {fold}: AP50 of the members {each} % '
              f'(mean {100 * row["members_mean"]["ap50"]:.1f}), of the ensemble '
              f'{100 * row["ensemble"]["ap50"]:.1f} %; FP / 100 km² '
              f'{row["members_mean"]["fp_per_100km2"]:.1f} -> '
              f'{row["ensemble"]["fp_per_100km2"]:.1f}', flush=True)  # fmt: skip
    gains = [100 * (r['ensemble']['ap50'] - r['members_mean']['ap50']) for r in rows]
    gain = statistics.fmean(gains)
    passed = gain >= args.target
    command = 'python ' + shlex.join(
        sys.argv if argv is None else ['ensemble.py', *argv]
    )
    summary = {
        'command': command,
        'runs': [str(f) for f in args.runs],
        'model': args.model,
        'seeds': args.seeds,
        'folds': rows,
        'folds_without_every_seed': missing,
        'ap50_gain_points': gain,
        'target_points': args.target,
        'passed': passed,
        'seconds': time.perf_counter() - start,
    }
    (args.out / 'ensemble.json').write_text(json.dumps(summary, indent=2))
    print()
    mean_of = {
        who: statistics.fmean(100 * r[who]['ap50'] for r in rows)
        for who in ('members_mean', 'ensemble')
    }
    left_out = f'; folds without every seed, left out: {missing}' if missing else ''
    print(f'{len(rows)} test folds ({args.model}, seeds {args.seeds}): AP50 of the '
          f'members {mean_of["members_mean"]:.1f} %, of the ensemble '
          f'{mean_of["ensemble"]:.1f} %: {gain:+.1f} points (target '
          f'+{args.target:g}){left_out}')  # fmt: skip
    print(f'{"PASS" if passed else "FAIL"}; command: {command}; '
          f'{(time.perf_counter() - start) / 60:.1f} min')  # fmt: skip
    return 0 if passed else 1


if __name__ == '__main__':
    sys.exit(main())
