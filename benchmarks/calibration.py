"""Calibration on land the model never saw: fit on one blocked fold, check on another.

Takes the ``--out`` folder of a blocked run of the real-data benchmark
(``python benchmarks/real_data.py --cv sites ...``). There, the model of test
fold k trained on the other folds but fold k+1 (its validation fold), so
both folds are land it never saw. For every rtsgeo run in that folder:

1. map the chips of the validation fold with the run's model file
   (the product's campaign path, as the benchmark maps);
2. ``rtsgeo calibrate`` on that map (isotonic by default, target iou50),
   into a copy of the model file;
3. map the test fold with the calibrated copy and measure, against the test
   fold's slumps, the expected calibration error (ECE) of the raw ``score``
   and of the ``probability``, and the precision of each confidence tier.

Passes (exit 0) when the ECE of ``probability`` over all test folds' polygons
together is at most half that of the raw score; exit 1 otherwise, 2 on bad
input. Writes ``calibration.json`` and a reliability diagram of the pooled
test-fold polygons to ``--out``.

    python benchmarks/calibration.py --runs runs/cv-sites --out runs/calibration
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from real_data import blocked_runs, map_with_rtsgeo, truth_polygons

from rtsgeo.evaluation import (
    CALIBRATION_METHODS,
    CONFIDENCE_TIERS,
    calibrate_files,
    evaluate_files,
    expected_calibration_error,
    plot_reliability,
    polygon_outcomes,
    read_polygons,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--runs',
        type=Path,
        required=True,
        help='--out folder of `real_data.py --cv ...` (results.json, models/, chips/)',
    )
    parser.add_argument('--out', type=Path, required=True, help='output folder')
    parser.add_argument(
        '--method', choices=sorted(CALIBRATION_METHODS), default='isotonic'
    )
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=2, help='torch threads (2)')
    return parser.parse_args(argv)


def fold_maps(
    run: dict[str, Any], runs: Path, out: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Calibrate one run's model on its validation fold; score its test fold."""
    fold = run['fold']
    tag = f'{Path(run["model_file"]).stem}'
    chips = Path(run['chips'])
    truths = {}
    for split in ('val', 'test'):
        masks = sorted((chips / split / 'mask').glob('*.tif'))
        truths[split] = truth_polygons(masks, out / f'{tag}-{split}-truth.gpkg')
    settings = argparse.Namespace(
        batch_size=args.batch_size, device=args.device, map_score_threshold=0.05
    )
    val_map = out / f'{tag}-val.gpkg'
    scenes = sorted((chips / 'val' / 'image').glob('*.tif'))
    map_with_rtsgeo(Path(run['model_file']), scenes, val_map, settings)
    calibration, model = calibrate_files(
        val_map,
        truths['val'],
        run['model_file'],
        out=out / f'{tag}-calibrated.pt',
        method=args.method,
        plot=out / f'{tag}-val-reliability.png',
    )
    test_map = out / f'{tag}-test.gpkg'
    scenes = sorted((chips / 'test' / 'image').glob('*.tif'))
    map_with_rtsgeo(model, scenes, test_map, settings)
    result = evaluate_files(test_map, truths['test'])
    test = polygon_outcomes(read_polygons(test_map), read_polygons(truths['test']))
    return {
        'fold': fold,
        'model_file': run['model_file'],
        'calibration': calibration.summary(),
        'val_polygons': calibration.n,
        'test_polygons': len(test),
        'ap50': result.ap50,
        'tiers': result.tiers,
        'ece_score': expected_calibration_error(test['score'], test['matched']),
        'ece_probability': result.ece,
        'outcomes': test[['score', 'probability', 'confidence', 'matched']],
    }


def main(argv: list[str] | None = None) -> int:
    """Run it; 0 when calibration halves the ECE on the test folds."""
    args = parse_args(argv)
    runs = blocked_runs(args.runs)
    if isinstance(runs, str):
        print(runs, file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    rows = []
    for run in sorted(runs, key=lambda r: (r['model'], r['seed'], r['fold'])):
        row = fold_maps(run, args.runs, args.out, args)
        rows.append(row)
        print(f'fold {row["fold"]} ({row["test_polygons"]} test polygons): ECE '
              f'score {row["ece_score"]:.4f} -> probability '
              f'{row["ece_probability"]:.4f}; {row["calibration"]}',
              flush=True)  # fmt: skip
    pooled = pd.concat([r.pop('outcomes') for r in rows], ignore_index=True)
    real = pooled['matched'].to_numpy(bool)
    ece_score = expected_calibration_error(pooled['score'], real)
    ece_prob = expected_calibration_error(pooled['probability'], real)
    plot_reliability(
        args.out / 'reliability.png',
        {
            'raw score': (pooled['score'].to_numpy(float), real),
            'calibrated probability': (pooled['probability'].to_numpy(float), real),
        },
        f'{len(pooled)} polygons of {len(rows)} unseen test folds',
    )
    tiers = {
        tier: {'n': int(inside.sum()), 'real': int(real[inside].sum())}
        for tier in CONFIDENCE_TIERS
        for inside in [pooled['confidence'].to_numpy(object) == tier]
    }
    passed = (
        ece_prob is not None and ece_score is not None and ece_prob <= ece_score / 2
    )
    command = 'python ' + shlex.join(
        sys.argv if argv is None else ['calibration.py', *argv]
    )
    summary = {
        'command': command,
        'runs': str(args.runs),
        'method': args.method,
        'folds': rows,
        'pooled': {
            'polygons': len(pooled),
            'real': int(real.sum()),
            'ece_score': ece_score,
            'ece_probability': ece_prob,
            'tiers': tiers,
        },
        'passed': passed,
        'seconds': time.perf_counter() - start,
    }
    (args.out / 'calibration.json').write_text(json.dumps(summary, indent=2))
    print()
    print(f'pooled over {len(rows)} test folds: {len(pooled)} polygons, '
          f'{int(real.sum())} real (IoU >= 0.5); ECE of the raw score '
          f'{ece_score:.4f}, of the calibrated probability {ece_prob:.4f} '
          f'(target: at most half)')  # fmt: skip
    cells = ', '.join(f'{t} {v["real"]}/{v["n"]}' for t, v in tiers.items())
    print(f'  pooled tiers (real/all): {cells}')
    for row in rows:
        cells = ', '.join(
            f'{t} {v["tp"]}/{v["n"]}' for t, v in (row['tiers'] or {}).items()
        )
        print(f'  fold {row["fold"]}: tiers (real/all) {cells}')
    print(f'{"PASS" if passed else "FAIL"}; command: {command}; '
          f'{(time.perf_counter() - start) / 60:.1f} min')  # fmt: skip
    return 0 if passed else 1


if __name__ == '__main__':
    np.seterr(all='ignore')
    sys.exit(main())
