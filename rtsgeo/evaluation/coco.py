"""Evaluation of COCO results JSON against a COCO instances JSON.

AP50, AP75 and AP (0.5:0.95) are pycocotools' ``COCOeval`` (``iouType='segm'``,
all areas, 100 detections per image) unchanged. Precision / recall / F1 come
from a second ``COCOeval`` run at the one IoU threshold: its per-image matches
(greedy by score, crowd and ignored objects as COCO treats them), counting
detections whose score is at least the score threshold.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ..errors import (
    ConfigError,
    CorruptLabelsError,
    DataNotFoundError,
    InvalidPolygonsError,
)
from .result import EvaluationResult, detection_counts

__all__ = ['evaluate_coco', 'is_coco_results']


def is_coco_results(path: str | Path) -> bool:
    """Whether *path* is a JSON file holding a list (COCO results, not GeoJSON)."""
    path = Path(path)
    if path.suffix.lower() != '.json' or not path.is_file():
        return False
    with path.open('rb') as file:
        head = file.read(4096).lstrip()
    return head.startswith(b'[')


def evaluate_coco(
    results: str | Path | list[dict[str, Any]],
    truth: str | Path | dict[str, Any],
    *,
    iou_threshold: float = 0.5,
    score_threshold: float = 0.5,
) -> EvaluationResult:
    """AP and precision / recall / F1 of COCO mask results.

    Args:
        results: COCO results (file or list) of ``{image_id, category_id,
            segmentation, score}``; segmentations as RLE or polygons.
        truth: COCO instances (file or dict) with ``images``,
            ``annotations`` and ``categories``.
        iou_threshold: IoU of a match for precision / recall / F1.
        score_threshold: smallest score counted in precision / recall / F1.

    Returns:
        The figures, with ``mode='coco'``.

    Raises:
        DataNotFoundError: If a file does not exist.
        CorruptLabelsError: If a file is not valid JSON.
        ConfigError: If results name images or categories that the truth
            does not have.
        InvalidPolygonsError: If a result lacks a field.
    """
    pred_name = str(results) if isinstance(results, str | Path) else None
    truth_name = str(truth) if isinstance(truth, str | Path) else None
    dets = _load(results) if isinstance(results, str | Path) else results
    gt = _load(truth) if isinstance(truth, str | Path) else truth
    if not isinstance(dets, list):
        msg = f'{pred_name or "results"} is not a COCO results list'
        raise InvalidPolygonsError(msg)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        for ann in coco_gt.dataset.get('annotations', []):
            ann.setdefault('iscrowd', 0)
            if 'area' not in ann:
                ann['area'] = float(mask_utils.area(coco_gt.annToRLE(ann)))
    dets = _as_rle(dets, coco_gt, pred_name or 'results', truth_name or 'truth')
    stats = _run(coco_gt, dets, None).stats
    per_image = _run(coco_gt, dets, iou_threshold).evalImgs
    tp = kept = 0
    for image in per_image:
        if image is None:
            continue
        ok = (np.asarray(image['dtScores']) >= score_threshold) & ~image['dtIgnore'][0]
        kept += int(ok.sum())
        tp += int((ok & (image['dtMatches'][0] > 0)).sum())
    n_truth = sum(not a.get('iscrowd', 0) for a in coco_gt.dataset['annotations'])
    precision, recall, f1 = detection_counts(tp, kept, n_truth)
    return EvaluationResult(
        ap50=_stat(stats[1]),
        ap75=_stat(stats[2]),
        ap=_stat(stats[0]),
        precision=precision,
        recall=recall,
        f1=f1,
        tp=tp,
        fp=kept - tp,
        fn=n_truth - tp,
        n_pred=len(dets),
        n_truth=n_truth,
        iou_threshold=iou_threshold,
        score_threshold=score_threshold,
        mode='coco',
        pred=pred_name,
        truth=truth_name,
    )


def _stat(value: float) -> float | None:
    """The value, or None for pycocotools' -1 (undefined)."""
    return None if value < 0 else float(value)


def _load(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        msg = f'{path} does not exist: check the path'
        raise DataNotFoundError(msg)
    try:
        with path.open() as file:
            return json.load(file)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        msg = f'{path} is not valid JSON: {error}'
        raise CorruptLabelsError(msg) from error


def _as_rle(
    dets: list[dict[str, Any]], coco_gt: COCO, pred: str, truth: str
) -> list[dict[str, Any]]:
    """Check the results against the truth and turn polygon masks into RLE."""
    out = []
    for k, det in enumerate(dets):
        missing = {'image_id', 'category_id', 'segmentation', 'score'} - set(det)
        if missing:
            msg = f'result {k} of {pred} lacks {sorted(missing)}: add them'
            raise InvalidPolygonsError(msg)
        if det['image_id'] not in coco_gt.imgs:
            msg = (
                f'result {k} of {pred} is on image_id {det["image_id"]!r}, which '
                f'{truth} does not have: evaluate against the matching truth file'
            )
            raise ConfigError(msg)
        if det['category_id'] not in coco_gt.cats:
            msg = (
                f'result {k} of {pred} has category_id {det["category_id"]!r}, '
                f'not one of {truth} ({sorted(coco_gt.cats)})'
            )
            raise ConfigError(msg)
        segm = det['segmentation']
        if isinstance(segm, list):
            image = coco_gt.imgs[det['image_id']]
            rles = mask_utils.frPyObjects(segm, image['height'], image['width'])
            det = {**det, 'segmentation': mask_utils.merge(rles)}
        out.append(det)
    return out


def _run(coco_gt: COCO, dets: list[dict[str, Any]], iou: float | None) -> COCOeval:
    """Evaluate masks; at one IoU threshold and all areas when *iou* is given."""
    with contextlib.redirect_stdout(io.StringIO()):
        # loadRes adds fields to the dicts it gets: give it copies.
        coco_dt = coco_gt.loadRes([dict(d) for d in dets]) if dets else COCO()
        evaluator = COCOeval(coco_gt, coco_dt, iouType='segm')
        if iou is not None:
            evaluator.params.iouThrs = np.array([iou])
            evaluator.params.areaRng = [evaluator.params.areaRng[0]]
            evaluator.params.areaRngLbl = ['all']
            evaluator.params.maxDets = [evaluator.params.maxDets[-1]]
        evaluator.evaluate()
        evaluator.accumulate()
        if iou is None:
            evaluator.summarize()
    return evaluator
