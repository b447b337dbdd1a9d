"""``rtsgeo calibrate``: turn detection scores into probabilities of a real slump.

Fits a monotone mapping from the raw ``score`` to the probability that a
polygon is a real slump, on a map of validation scenes that CHECKPOINT made
on land it did not train on (a validation fold of ``rtsgeo folds``), and
writes it into the trained-model file (or --out). ``rtsgeo map`` with that
file then writes ``probability`` and a ``confidence`` tier (high / medium /
low) beside ``score``. Prints the expected calibration error (ECE) of the raw
score and of the probability on the fitting map and writes a reliability
diagram (PNG). Measure the ECE on another fold with ``rtsgeo evaluate``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ['add_parser']

#: ``rtsgeo.evaluation.CALIBRATION_METHODS`` / ``_TARGETS``, repeated so that
#: ``--help`` stays light.
METHODS = ('isotonic', 'platt', 'temperature')
TARGETS = ('iou50', 'touch')


def add_parser(subparsers: Any) -> None:
    """Register ``rtsgeo calibrate``."""
    parser = subparsers.add_parser(
        'calibrate',
        help='fit score -> probability on a validation map; store it in the model',
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        '--pred', required=True, help='the map of the validation scenes (rtsgeo map)'
    )
    parser.add_argument(
        '--truth', required=True, help='reference slumps of those scenes (any CRS)'
    )
    parser.add_argument(
        '--checkpoint',
        required=True,
        type=Path,
        help='the trained-model file that made PRED; the calibration is written '
        'into it (or into --out)',
    )
    parser.add_argument(
        '--out', type=Path, help='write the calibrated model here instead'
    )
    parser.add_argument(
        '--method',
        choices=METHODS,
        default='isotonic',
        help='isotonic (default), platt or temperature scaling',
    )
    parser.add_argument(
        '--target',
        choices=TARGETS,
        default='iou50',
        help='a polygon is real when it matches a reference slump at IoU >= 0.5 '
        '(iou50, default) or touches one (touch)',
    )
    parser.add_argument(
        '--precisions',
        type=float,
        nargs=2,
        default=(0.8, 0.5),
        metavar=('HIGH', 'MEDIUM'),
        help='target precisions of the high and medium tiers (0.8 0.5)',
    )
    parser.add_argument(
        '--plot',
        type=Path,
        help='reliability diagram PNG (default: the model file with .reliability.png)',
    )
    parser.add_argument('--layer', help="layer of PRED (default 'slumps')")
    parser.add_argument('--truth-layer', help='layer of TRUTH')
    parser.add_argument('--where', help='SQL WHERE clause keeping rows of PRED')
    parser.add_argument('--json', action='store_true', help='print one JSON object')
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..evaluation import calibrate_files

    written = args.out if args.out is not None else args.checkpoint
    plot = args.plot or written.with_name(written.stem + '.reliability.png')
    calibration, model = calibrate_files(
        args.pred,
        args.truth,
        args.checkpoint,
        out=args.out,
        method=args.method,
        target=args.target,
        tier_precisions=tuple(args.precisions),
        layer=args.layer,
        truth_layer=args.truth_layer,
        where=args.where,
        plot=plot,
    )
    if args.json:
        row = {**calibration.to_dict(), 'model': str(model), 'plot': str(plot)}
        print(json.dumps(row))
    else:
        print(calibration.summary())
        print(f'calibrated model: {model}')
        print(f'reliability diagram: {plot}')
    return 0
