"""``rtsgeo evaluate``: score predicted slumps against reference polygons.

PRED is a vector file of polygons with a ``score`` column (GeoPackage,
GeoJSON, Shapefile, GeoParquet; from a multi-layer GeoPackage the ``slumps``
layer unless --layer says otherwise) or a COCO results JSON. TRUTH is a vector
file of polygons in any CRS (reprojected to PRED's) or, for COCO results, a
COCO instances JSON. Polygons are scored by exact polygon IoU (an equal-area
projection when PRED is in degrees); COCO results by pycocotools on masks.

False positives per 100 km²: predictions at or above --score-threshold that
touch no reference polygon, per 100 km² of mapped ground (PRED's coverage
layer, --coverage FILE or --area-km2).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ['add_parser']


def add_parser(subparsers: Any) -> None:
    """Register ``rtsgeo evaluate``."""
    parser = subparsers.add_parser(
        'evaluate',
        help='AP50, AP and polygon precision / recall / F1 against ground truth',
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument('--pred', required=True, help='predictions file')
    parser.add_argument('--truth', required=True, help='reference polygons file')
    parser.add_argument(
        '--iou', type=float, default=0.5, help='IoU of a match for P/R/F1 (0.5)'
    )
    parser.add_argument(
        '--score-threshold',
        type=float,
        default=0.5,
        help='smallest prediction score counted in P/R/F1 (0.5; AP uses all)',
    )
    parser.add_argument('--layer', help="layer of PRED (default 'slumps')")
    parser.add_argument('--truth-layer', help='layer of TRUTH')
    parser.add_argument('--where', help='SQL WHERE clause keeping rows of PRED')
    parser.add_argument(
        '--truth-where',
        help='SQL WHERE clause keeping rows of TRUTH, e.g. "region = \'Peel\'"',
    )
    parser.add_argument(
        '--score-column', default='score', help='column of PRED with the score'
    )
    parser.add_argument(
        '--coverage',
        help='vector file of the mapped ground, for false positives per 100 km² '
        "(default: PRED's coverage layer, which rtsgeo map writes)",
    )
    parser.add_argument(
        '--area-km2',
        type=float,
        help='the mapped area in km², instead of --coverage',
    )
    parser.add_argument(
        '--unobserved',
        metavar='FILE',
        help='polygons of ground the scenes did not see (cloud, shadow, snow; any '
        'CRS): cut out of PRED and TRUTH before scoring',
    )
    parser.add_argument(
        '--observed-only',
        action='store_true',
        help="score on the mapped ground only: PRED and TRUTH cut to PRED's "
        'coverage layer (or --coverage), the ground rtsgeo map observed',
    )
    parser.add_argument('--json', action='store_true', help='print one JSON object')
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..evaluation import evaluate_files

    for name in ('iou', 'score_threshold'):
        value = getattr(args, name)
        if not 0 <= value <= 1:
            option = '--' + name.replace('_', '-')
            msg = f'{option} {value} is out of range: give a number in [0, 1]'
            raise ConfigError(msg)
    if args.area_km2 is not None and not args.area_km2 > 0:
        msg = f'--area-km2 {args.area_km2} is not an area: give a number of km² > 0'
        raise ConfigError(msg)
    if args.observed_only and args.area_km2 is not None:
        msg = '--observed-only needs the mapped ground as polygons, not --area-km2'
        raise ConfigError(msg)
    if args.area_km2 is not None and args.coverage is not None:
        msg = '--coverage and --area-km2 both give the mapped area: keep one'
        raise ConfigError(msg)
    result = evaluate_files(
        args.pred,
        args.truth,
        iou_threshold=args.iou,
        score_threshold=args.score_threshold,
        layer=args.layer,
        truth_layer=args.truth_layer,
        where=args.where,
        truth_where=args.truth_where,
        score_column=args.score_column,
        coverage=args.coverage,
        area_km2=args.area_km2,
        unobserved=args.unobserved,
        observed_only=args.observed_only,
    )
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(f'{args.pred}  vs  {args.truth}')
        print(result.to_table())
    return 0
