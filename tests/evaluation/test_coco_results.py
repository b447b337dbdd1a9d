"""COCO results mode: equal to pycocotools, hand-computed P/R/F1, messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from rtsgeo.errors import ConfigError, InvalidPolygonsError
from rtsgeo.evaluation import evaluate_coco, evaluate_files

from ._coco import pycocotools_segm_stats

H, W = 60, 200


def box_rle(x0: int, y0: int, x1: int, y1: int) -> dict:
    mask = np.zeros((H, W), np.uint8)
    mask[y0:y1, x0:x1] = 1
    rle = mask_utils.encode(np.asfortranarray(mask))
    return {'size': rle['size'], 'counts': rle['counts'].decode()}


def truth_dataset() -> dict:
    """Image 1: the 3-truth scene of test_matching in 5-px units; image 2: no
    truth; image 3: one truth object and no prediction."""
    boxes = [(1, (0, 0, 50, 50)), (1, (100, 0, 150, 50)), (3, (0, 0, 40, 40))]
    annotations = []
    for k, (image, box) in enumerate(boxes, start=1):
        rle = box_rle(*box)
        annotations.append(
            {
                'id': k,
                'image_id': image,
                'category_id': 1,
                'segmentation': rle,
                'area': float(mask_utils.area(rle)),
                'bbox': mask_utils.toBbox(rle).tolist(),
                'iscrowd': 0,
            }
        )
    annotations.append(
        {**annotations[0], 'id': 4, 'segmentation': box_rle(150, 0, 200, 50)}
    )
    annotations[3]['bbox'] = [150, 0, 50, 50]
    return {
        'images': [{'id': i, 'height': H, 'width': W} for i in (1, 2, 3)],
        'categories': [{'id': 1, 'name': 'rts'}],
        'annotations': annotations,
    }


def results() -> list[dict]:
    boxes = [
        (1, (0, 0, 50, 50), 0.9),  # IoU 1
        (1, (100, 0, 150, 31), 0.8),  # IoU 0.62
        (1, (0, 0, 50, 41), 0.7),  # IoU 0.82 with a taken object
        (1, (150, 0, 200, 36), 0.4),  # IoU 0.72, below the score threshold
        (2, (10, 10, 30, 30), 0.6),  # on the image without truth
    ]
    return [
        {'image_id': i, 'category_id': 1, 'segmentation': box_rle(*b), 'score': s}
        for i, b, s in boxes
    ]


def test_equal_to_pycocotools_and_hand_counts() -> None:
    result = evaluate_coco(results(), truth_dataset())
    stats = pycocotools_segm_stats(truth_dataset(), results())
    assert result.ap == pytest.approx(stats[0], abs=1e-6)
    assert result.ap50 == pytest.approx(stats[1], abs=1e-6)
    assert result.ap75 == pytest.approx(stats[2], abs=1e-6)
    # Score >= 0.5: TP, TP, FP (duplicate), FP (image 2); 2 of 4 truth missed.
    assert (result.tp, result.fp, result.fn) == (2, 2, 2)
    assert (result.precision, result.recall) == (0.5, 0.5)
    assert (result.n_pred, result.n_truth) == (5, 4)
    assert result.mode == 'coco'


def test_random_masks_equal_to_pycocotools(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    truth = truth_dataset()
    dets = []
    for image in (1, 2, 3):
        for _ in range(int(rng.integers(0, 12))):
            x, y = rng.integers(0, [W - 20, H - 20])
            w, h = rng.integers(8, 60, 2)
            dets.append(
                {
                    'image_id': image,
                    'category_id': 1,
                    'segmentation': box_rle(x, y, x + w, y + h),
                    'score': float(rng.uniform()),
                }
            )
    dets += results()
    (tmp_path / 'truth.json').write_text(json.dumps(truth))
    (tmp_path / 'results.json').write_text(json.dumps(dets))
    result = evaluate_files(tmp_path / 'results.json', tmp_path / 'truth.json')
    stats = pycocotools_segm_stats(truth, dets)
    for ours, theirs in zip(
        (result.ap, result.ap50, result.ap75), stats[:3], strict=True
    ):
        assert ours == pytest.approx(theirs, abs=1e-6)


def test_polygon_segmentations_are_rasterised_on_the_image() -> None:
    dets = results()
    dets[0]['segmentation'] = [[0, 0, 50, 0, 50, 50, 0, 50]]
    result = evaluate_coco(dets, truth_dataset())
    assert result.tp == 2  # the polygon square still matches its truth object


def test_no_results() -> None:
    result = evaluate_coco([], truth_dataset())
    assert result.ap50 == 0.0 and result.precision is None and result.fn == 4


def test_unknown_image_id() -> None:
    dets = results()
    dets[1]['image_id'] = 99
    with pytest.raises(ConfigError, match='image_id 99, which truth does not have'):
        evaluate_coco(dets, truth_dataset())


def test_missing_score() -> None:
    dets = results()
    del dets[2]['score']
    with pytest.raises(
        InvalidPolygonsError, match=r"result 2 of results lacks \['score'\]"
    ):
        evaluate_coco(dets, truth_dataset())
