"""pycocotools' own segm evaluation: the reference of the evaluation tests."""

from __future__ import annotations

import contextlib
import io

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def pycocotools_segm_stats(truth: dict, detections: list[dict]) -> np.ndarray:
    """COCOeval's 12 summary statistics of *detections* against *truth*, quietly."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = truth
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(detections), iouType='segm')
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats
