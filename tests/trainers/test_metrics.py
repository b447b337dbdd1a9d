"""Mask and box AP of the task's metric pipeline against pycocotools."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from rtsgeo.trainers.metrics import (
    RegionAP50,
    build_map_metric,
    metric_predictions,
    metric_targets,
    select_metrics,
)

SIZE = 48


def _blob(rng: np.random.Generator) -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
    y, x = rng.integers(0, SIZE - 12, size=2)
    h, w = rng.integers(4, 12, size=2)
    mask[y : y + h, x : x + w] = 1
    return mask


def _box(mask: np.ndarray) -> list[float]:
    rows, cols = np.nonzero(mask)
    return [cols.min(), rows.min(), cols.max() + 1.0, rows.max() + 1.0]


def _jitter(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    shift = rng.integers(-2, 3, size=2)
    return np.roll(mask, tuple(shift), axis=(0, 1))


def _scenario(seed: int) -> tuple[list[dict], list[dict]]:
    """Windows with matches, misses, false alarms, no predictions, no truth."""
    rng = np.random.default_rng(seed)
    truth_counts = [2, 0, 3, 1, 0, 2]
    pred_plans = ['some', 'false', 'some', 'none', 'none', 'all']
    outputs, batch_targets = [], []
    for n_true, plan in zip(truth_counts, pred_plans, strict=True):
        truths = [_blob(rng) for _ in range(n_true)]
        preds = []
        if plan in ('some', 'all'):
            keep = truths if plan == 'all' else truths[: max(1, n_true - 1)]
            preds += [_jitter(t, rng) for t in keep]
        if plan in ('some', 'false'):
            preds += [_blob(rng) for _ in range(2)]
        probs = [
            p * rng.uniform(0.6, 1.0) + (1 - p) * rng.uniform(0, 0.4) for p in preds
        ]
        outputs.append(
            {
                'boxes': torch.tensor(
                    [_box(p) for p in preds], dtype=torch.float32
                ).reshape(-1, 4),
                'scores': torch.tensor(
                    rng.uniform(0.1, 1.0, len(preds)), dtype=torch.float32
                ),
                'labels': torch.ones(len(preds), dtype=torch.int64),
                'masks': torch.tensor(
                    np.array(probs, dtype=np.float32).reshape(-1, 1, SIZE, SIZE)
                ),
            }
        )
        stack = np.array(truths, dtype=np.uint8).reshape(-1, SIZE, SIZE)
        batch_targets.append(
            {
                'mask': torch.tensor(stack),
                'bbox_xyxy': torch.tensor(
                    [_box(t) for t in truths], dtype=torch.float32
                ).reshape(-1, 4),
                'label': torch.ones(n_true, dtype=torch.int64),
            }
        )
    return outputs, batch_targets


def _pycocotools_ap(
    outputs: list[dict], targets: list[dict], iou_type: str
) -> np.ndarray:
    images, annotations, results = [], [], []
    for image_id, (out, target) in enumerate(
        zip(outputs, targets, strict=True), start=1
    ):
        images.append({'id': image_id, 'height': SIZE, 'width': SIZE})
        for mask in target['mask'].numpy():
            rle = mask_utils.encode(np.asfortranarray(mask))
            x0, y0, x1, y1 = _box(mask)
            annotations.append(
                {
                    'id': len(annotations) + 1,
                    'image_id': image_id,
                    'category_id': 1,
                    'segmentation': {**rle, 'counts': rle['counts'].decode()},
                    'area': float(mask.sum()),
                    'bbox': [x0, y0, x1 - x0, y1 - y0],
                    'iscrowd': 0,
                }
            )
        for box, score, prob in zip(
            out['boxes'], out['scores'], out['masks'], strict=True
        ):
            binary = (prob[0].numpy() > 0.5).astype(np.uint8)
            rle = mask_utils.encode(np.asfortranarray(binary))
            x0, y0, x1, y1 = box.tolist()
            results.append(
                {
                    'image_id': image_id,
                    'category_id': 1,
                    'segmentation': {**rle, 'counts': rle['counts'].decode()},
                    'bbox': [x0, y0, x1 - x0, y1 - y0],
                    'score': float(score),
                }
            )
    truth = COCO()
    truth.dataset = {
        'images': images,
        'annotations': annotations,
        'categories': [{'id': 1, 'name': 'rts'}],
    }
    truth.createIndex()
    evaluator = COCOeval(truth, truth.loadRes(results), iou_type)
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    return evaluator.stats


@pytest.mark.parametrize('backend', ['faster_coco_eval', 'pycocotools'])
@pytest.mark.parametrize('seed', [0, 1])
def test_map_matches_pycocotools(seed: int, backend: str) -> None:
    outputs, targets = _scenario(seed)
    metric = build_map_metric(backend=backend)
    metric.update(
        metric_predictions(outputs),
        metric_targets(
            {k: [t[k] for t in targets] for k in ('mask', 'bbox_xyxy', 'label')}
        ),
    )
    values = select_metrics(metric.compute(), 'val')
    for iou_type in ('segm', 'bbox'):
        stats = _pycocotools_ap(outputs, targets, iou_type)
        assert 0 < stats[1] < 1  # a non-trivial case
        assert values[f'val_{iou_type}_map_50'].item() == pytest.approx(
            stats[1], abs=1e-6
        )
        assert values[f'val_{iou_type}_map'].item() == pytest.approx(stats[0], abs=1e-6)
        assert values[f'val_{iou_type}_map_75'].item() == pytest.approx(
            stats[2], abs=1e-6
        )
        assert values[f'val_{iou_type}_mar_100'].item() == pytest.approx(
            stats[8], abs=1e-6
        )


def test_region_ap50_per_region() -> None:
    outputs, targets = _scenario(0)
    preds = metric_predictions(outputs)
    truths = metric_targets(
        {k: [t[k] for t in targets] for k in ('mask', 'bbox_xyxy', 'label')}
    )
    regions = RegionAP50()
    regions.update(['A', None, 'B', None, None, 'A'], preds, truths)
    values = regions.compute('val')
    assert set(values) == {'val_segm_map_50_a', 'val_segm_map_50_b'}
    for name, windows in (('a', [0, 5]), ('b', [2])):
        alone = build_map_metric(('segm',))
        alone.update([preds[i] for i in windows], [truths[i] for i in windows])
        expected = alone.compute()['map_50'].item()
        assert values[f'val_segm_map_50_{name}'].item() == pytest.approx(expected)
    assert values['val_segm_map_50_a'].item() != values['val_segm_map_50_b'].item()
    assert regions.compute('val') == {}  # reset after compute
