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
options of :data:`SMALL_OBJECT_OPTIONS`) or a JSON object of ModelConfig
fields. Prints training-set mask and box AP50, mask recall, the wall time and
the command, and writes ``memorisation.json`` in ``--out``.

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
from torchvision.ops import box_iou

from rtsgeo._datadir import data_dir

#: The ModelConfig options that make the nano model learn small slumps.
SMALL_OBJECT_OPTIONS: dict[str, Any] = {
    'anchor_sizes': [4, 8, 16, 32, 64],
    'anchor_scales': [1.0, 1.26, 1.59],
    'anchor_density': 2,
    'rpn_fg_iou': 0.5,
    'gt_jitter_copies': 16,
    'min_box_size': 1.0,
    # measured on this probe (2026-12-05): 0.7 % -> 6.3 % mask AP50 at 300 steps
    'roi_samples_per_image': 64,
    'aux_seg_weight': 1.0,
    # measured on this probe (2026-12-06, 3 seeds): 2.9 % -> 9.2 % mask AP50
    'detail_channels': 32,
}


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


def diagnose(run: Any, proposals: int) -> dict[str, Any]:
    """Where the training slumps are lost, with ``proposals`` RPN proposals.

    Args:
        run: a finished :func:`rtsgeo.trainers.train_steps` run.
        proposals: RPN proposals per window at test time (before and after
            non-maximum suppression).

    Returns:
        Mask and box AP50, and over the grid windows' slumps: how many have a
        proposal and a detection at box IoU >= 0.5, and the score quantiles
        (median, 90th percentile, max) of matching and other detections.
    """
    model = run.task.model
    model.rpn._pre_nms_top_n['testing'] = proposals
    model.rpn._post_nms_top_n['testing'] = proposals
    metrics = run.evaluate('test')
    model.eval()
    slumps = proposed = detected = 0
    matching: list[float] = []
    others: list[float] = []
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
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--steps', type=int, default=600)
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
    parser.add_argument('--out', type=Path, default=Path('bench-memorisation'))
    args = parser.parse_args()
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
    return 0


if __name__ == '__main__':
    sys.exit(main())
