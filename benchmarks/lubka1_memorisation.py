"""Memorisation probe: can the detector fit 16 real s2-rts-lubka1 training chips?

A correct detector memorises a handful of images; one that does not has a
learning problem no amount of data fixes. The probe copies 16 training chips
(every tenth file of ``train``, sorted by name: 42 slumps as 8-connected
components, median box 8 x 7 px) into a folder whose train, val and test
splits are those same chips, trains the fused nano model (RGB + NDVI + NIR,
residual cross-attention) with :func:`rtsgeo.trainers.train_steps`, and scores
it on the same chips' 128 px grid windows with ``ShortTraining.evaluate``.

    python benchmarks/lubka1_memorisation.py --steps 600 --options small-objects
    python benchmarks/lubka1_memorisation.py --steps 600 --options none

``--options`` is ``none`` (the preset as it is), ``small-objects`` (the
options of :data:`rtsgeo.models.SMALL_OBJECT_OPTIONS`) or a JSON object of ModelConfig
fields. Prints training-set mask and box AP50, mask recall, the wall time and
the command, and writes ``memorisation.json`` in ``--out``.

``--check`` is the pass/fail form of the probe that CI no longer runs (it
trains for about 25 minutes on an idle 2-core CPU): 4000 steps unless
``--steps`` says otherwise, and exit status 1 unless the training-set mask
AP50 reaches ``--min-ap50`` (default 0.5, issue 12's bar)::

    python benchmarks/lubka1_memorisation.py --check

``--diagnose N [N ...]`` also scores the trained model with N test-time RPN
proposals per window and says where the slumps are lost: how many have a
proposal, and a detection, at IoU >= 0.5, and the scores of detections that
match a slump against those of the others::

    python benchmarks/lubka1_memorisation.py --steps 600 --diagnose 100 300 1000
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torchvision.ops import box_area, box_iou

from rtsgeo._datadir import data_dir
from rtsgeo.models import SMALL_OBJECT_OPTIONS


def memorisation_root(lubka1: Path, out: Path, chips: int = 16) -> Path:
    """Copy ``chips`` training chips into ``out`` as its train, val and test.

    Args:
        lubka1: the ``s2-rts-lubka1`` folder.
        out: where the layout is written.
        chips: how many chips (every tenth file of ``train``, by name).

    Returns:
        ``out``.
    """
    names = sorted(p.name for p in (lubka1 / 'train' / 'image').glob('*.tif'))
    for split in ('train', 'val', 'test'):
        for kind in ('image', 'mask'):
            folder = out / split / kind
            folder.mkdir(parents=True, exist_ok=True)
            for name in names[::10][:chips]:
                shutil.copy(lubka1 / 'train' / kind / name, folder / name)
    return out


def _quantiles(values: list[float]) -> list[float]:
    """Median, 90th percentile and maximum, rounded."""
    if not values:
        return []
    ordered = sorted(values)
    picks = [ordered[int(len(ordered) * 0.5)], ordered[int(len(ordered) * 0.9)]]
    return [round(v, 3) for v in [*picks, ordered[-1]]]


#: Kinds of confident false positives, in the order :func:`false_positive_kinds`
#: tests them.
FALSE_POSITIVE_KINDS = (
    'empty_window',  # in a window without any slump
    'duplicate',  # IoU >= 0.5 with a slump a higher-scoring detection matched
    'inside_a_slump',  # IoU < 0.5, but >= 70 % of its box lies on a slump's box
    'around_a_slump',  # >= 70 % of a slump's box lies in it
    'partial',  # overlaps a slump's box otherwise
    'background',  # touches no slump's box
)


def false_positive_kinds(
    boxes: torch.Tensor, scores: torch.Tensor, truth: torch.Tensor, floor: float = 0.5
) -> dict[str, int]:
    """Count one window's detections scoring ``floor`` or more that match no slump.

    Detections are matched greedily by score at box IoU 0.5, as COCO does;
    each unmatched one gets the first kind of :data:`FALSE_POSITIVE_KINDS`
    that fits.

    Args:
        boxes: ``(N, 4)`` detected boxes, xyxy.
        scores: ``(N,)`` their scores.
        truth: ``(M, 4)`` the window's slump boxes.
        floor: lowest score counted.

    Returns:
        The count of each kind.
    """
    counts = dict.fromkeys(FALSE_POSITIVE_KINDS, 0)
    order = torch.argsort(scores, descending=True)
    kept = order[scores[order] >= floor]
    if not len(truth):
        counts['empty_window'] = len(kept)
        return counts
    boxes = boxes[kept].float()
    truth = truth.float()
    iou = box_iou(boxes, truth)
    corner = torch.max(boxes[:, None, :2], truth[None, :, :2])
    far = torch.min(boxes[:, None, 2:], truth[None, :, 2:])
    side = (far - corner).clamp(min=0)
    overlap = side[..., 0] * side[..., 1]
    own = box_area(boxes).clamp(min=1e-6)
    theirs = box_area(truth).clamp(min=1e-6)
    matched: set[int] = set()
    for i in range(len(boxes)):
        best = int(iou[i].argmax())
        if iou[i, best] >= 0.5 and best not in matched:
            matched.add(best)
            continue
        if iou[i, best] >= 0.5:
            kind = 'duplicate'
        elif (overlap[i] / own[i]).max() >= 0.7:
            kind = 'inside_a_slump'
        elif (overlap[i] / theirs).max() >= 0.7:
            kind = 'around_a_slump'
        elif overlap[i].max() > 0:
            kind = 'partial'
        else:
            kind = 'background'
        counts[kind] += 1
    return counts


def diagnose(run: Any, proposals: int) -> dict[str, Any]:
    """Where the training slumps are lost, with ``proposals`` RPN proposals.

    Args:
        run: a finished :func:`rtsgeo.trainers.train_steps` run.
        proposals: RPN proposals per window at test time (before and after
            non-maximum suppression).

    Returns:
        Mask and box AP50, and over the grid windows' slumps: how many have a
        proposal and a detection at box IoU >= 0.5, the score quantiles
        (median, 90th percentile, max) of matching and other detections, and
        the kinds of false positives scoring 0.5 or more
        (:func:`false_positive_kinds`).
    """
    model = run.task.model
    model.rpn._pre_nms_top_n['testing'] = proposals
    model.rpn._post_nms_top_n['testing'] = proposals
    metrics = run.evaluate('test')
    model.eval()
    slumps = proposed = detected = 0
    matching: list[float] = []
    others: list[float] = []
    confident = dict.fromkeys(FALSE_POSITIVE_KINDS, 0)
    scale = model.config.input_scale
    found: list[list[torch.Tensor]] = []  # the RPN's proposals, kept by a hook
    hook = model.rpn.register_forward_hook(lambda m, a, out: found.append(out[0]))
    try:
        with torch.no_grad():
            for batch in run.datamodule.test_dataloader():
                batch = run.datamodule.on_after_batch_transfer(batch, 0)
                outputs = model(batch['image'])
                for truth, boxes, out in zip(
                    batch['bbox_xyxy'], found.pop(), outputs, strict=True
                ):
                    truth = truth.float()
                    slumps += len(truth)
                    kinds = false_positive_kinds(out['boxes'], out['scores'], truth)
                    for kind, count in kinds.items():
                        confident[kind] += count
                    if not len(truth):
                        others += out['scores'].tolist()
                        continue
                    if len(boxes):
                        best = box_iou(truth, boxes / scale).amax(1)
                        proposed += int((best >= 0.5).sum())
                    if len(out['boxes']):
                        iou = box_iou(truth, out['boxes'])
                        detected += int((iou.amax(1) >= 0.5).sum())
                        hit = iou.amax(0) >= 0.5
                        matching += out['scores'][hit].tolist()
                        others += out['scores'][~hit].tolist()
    finally:
        hook.remove()
    return {
        'proposals': proposals,
        'train_mask_ap50': metrics['test_segm_map_50'],
        'train_box_ap50': metrics['test_bbox_map_50'],
        'slumps': slumps,
        'with_a_proposal_iou50': proposed,
        'with_a_detection_iou50': detected,
        'matching_scores': _quantiles(matching),
        'other_scores': _quantiles(others),
        'other_detections': len(others),
        'false_positives_over_0.5': confident,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--steps', type=int, default=None, help='default 600, or 4000 with --check'
    )
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--positive-fraction', type=float, default=0.5)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--options', default='small-objects')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--progress', action='store_true', help='progress bar')
    parser.add_argument(
        '--dense-score-weights',
        type=float,
        nargs='+',
        default=[],
        help='also score the trained model with these dense_score_weight values '
        '(needs aux_seg_weight > 0 in --options)',
    )
    parser.add_argument(
        '--diagnose',
        type=int,
        nargs='+',
        default=[],
        metavar='N',
        help='also score with N test-time RPN proposals and say where slumps are lost',
    )
    parser.add_argument(
        '--check',
        action='store_true',
        help='exit 1 unless training-set mask AP50 reaches --min-ap50',
    )
    parser.add_argument('--min-ap50', type=float, default=0.5)
    parser.add_argument('--out', type=Path, default=Path('bench-memorisation'))
    parser.add_argument(
        '--save', action='store_true', help='write the trained model to --out/model.pt'
    )
    args = parser.parse_args()
    if args.steps is None:
        args.steps = 4000 if args.check else 600
    base = data_dir()
    if base is None or not (base / 's2-rts-lubka1').is_dir():
        print('s2-rts-lubka1 not found: set RTSGEO_DATA_DIR', file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    if args.options == 'none':
        options: dict[str, Any] = {}
    elif args.options == 'small-objects':
        options = dict(SMALL_OBJECT_OPTIONS)
    else:
        options = json.loads(args.options)
    from rtsgeo.trainers import train_steps

    args.out.mkdir(parents=True, exist_ok=True)
    root = memorisation_root(base / 's2-rts-lubka1', args.out / 'chips')
    start = time.perf_counter()
    run = train_steps(
        root,
        ['rgb', 'ndvi', 'nir'],
        fusion='residual_cross_attention',
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        anchor_sizes=[4, 8, 16, 32, 64],
        model_options=options,
        positive_fraction=args.positive_fraction,
        seed=args.seed,
        progress=args.progress,
    )
    metrics = run.evaluate('test')
    if args.save:
        run.save(args.out / 'model.pt')
    model = run.task.model
    rescored = {}
    trained = model.config
    for weight in args.dense_score_weights:
        model.config = trained.with_overrides(dense_score_weight=weight)
        rescored[str(weight)] = run.evaluate('test')
    model.config = trained  # the diagnoses score as trained
    diagnoses = [diagnose(run, n) for n in args.diagnose]
    report = {
        'command': 'python ' + shlex.join(sys.argv),
        'options': options,
        'train_seconds': round(run.seconds, 1),
        'seconds': round(time.perf_counter() - start, 1),
        'train_mask_ap50': metrics['test_segm_map_50'],
        'train_box_ap50': metrics['test_bbox_map_50'],
        'metrics': metrics,
        'dense_score_weights': {
            weight: {
                'train_mask_ap50': m['test_segm_map_50'],
                'train_box_ap50': m['test_bbox_map_50'],
            }
            for weight, m in rescored.items()
        },
        'diagnoses': diagnoses,
    }
    (args.out / 'memorisation.json').write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != 'metrics'}, indent=2))
    if not args.check:
        return 0
    passed = metrics['test_segm_map_50'] >= args.min_ap50
    print(
        f'{"PASS" if passed else "FAIL"}: training-set mask AP50 '
        f'{metrics["test_segm_map_50"]:.3f} after {args.steps} steps '
        f'(bar {args.min_ap50}, {run.seconds:.0f} s of training)'
    )
    return 0 if passed else 1


if __name__ == '__main__':
    sys.exit(main())
