"""Polygon AP cross-checked against pycocotools on the same objects rasterised.

The polygons are drawn in pixel units on a 1024 x 1024 grid, 60-150 px across,
and burnt with the pixel-centre rule. A rasterised IoU then differs from the
exact polygon IoU by less than 0.01 (the test measures it), and every
prediction's IoU with every truth object is kept at least 0.02 away from each
of COCO's thresholds 0.5, 0.55, ..., 0.95. So every match decision is the same
on polygons and on masks, and the APs agree to floating-point precision: the
tolerance is 1e-9. Without that margin a pair near a threshold could match on
one side and not on the other, and AP could differ by up to 1/n_truth.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio.features
import shapely
import shapely.affinity
from pycocotools import mask as mask_utils

from rtsgeo.evaluation import COCO_IOU_THRESHOLDS, evaluate_polygons, polygon_ious

from ._coco import pycocotools_segm_stats

SIZE = 1024


def blob(
    rng: np.random.Generator, x: float, y: float, radius: float
) -> shapely.Polygon:
    """A star-shaped (possibly non-convex) polygon around (x, y)."""
    angles = np.sort(rng.uniform(0, 2 * np.pi, 12))
    radii = radius * rng.uniform(0.6, 1.0, 12)
    return shapely.Polygon(
        np.c_[x + radii * np.cos(angles), y + radii * np.sin(angles)]
    )


def synthetic_objects(
    seed: int,
) -> tuple[list[shapely.Polygon], list[shapely.Polygon], np.ndarray]:
    """Disjoint truth blobs; jittered, duplicated and false predictions."""
    rng = np.random.default_rng(seed)
    truth: list[shapely.Polygon] = []
    while len(truth) < 25:
        candidate = blob(rng, *rng.uniform(80, SIZE - 80, 2), rng.uniform(30, 75))
        if not any(candidate.buffer(4).intersects(t) for t in truth):
            truth.append(candidate)
    # Most truth objects get a jittered copy, some two; a few false positives.
    sources = [t for t in truth if rng.uniform() < 0.85]
    sources += [truth[k] for k in rng.integers(len(truth), size=5)]
    sources += [None] * 6
    pred: list[shapely.Polygon] = []
    for source in sources:
        while True:
            candidate = jitter(rng, source)
            ious = polygon_ious([candidate], truth)[2]
            gaps = np.abs(ious[:, None] - COCO_IOU_THRESHOLDS[None, :])
            # Too close to a threshold for a raster to decide alike: draw again.
            if not gaps.size or gaps.min() >= 0.02:
                break
        pred.append(candidate)
    return truth, pred, rng.uniform(0.05, 1.0, len(pred))


def jitter(rng: np.random.Generator, source: shapely.Polygon | None) -> shapely.Polygon:
    """A shifted, stretched copy of *source*, or a random blob if None."""
    if source is None:
        return blob(rng, *rng.uniform(80, SIZE - 80, 2), rng.uniform(30, 60))
    moved = shapely.affinity.translate(source, *rng.normal(0, 6, 2))
    return shapely.affinity.scale(moved, *rng.uniform(0.85, 1.15, 2))


def rle(polygon: shapely.Polygon) -> dict:
    mask = rasterio.features.rasterize([polygon], out_shape=(SIZE, SIZE), dtype='uint8')
    return mask_utils.encode(np.asfortranarray(mask))


def pycocotools_stats(
    truth: list[shapely.Polygon], pred: list[shapely.Polygon], scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    gt_rles = [rle(p) for p in truth]
    dt_rles = [rle(p) for p in pred]
    dataset = {
        'images': [{'id': 1, 'height': SIZE, 'width': SIZE}],
        'categories': [{'id': 1, 'name': 'rts'}],
        'annotations': [
            {
                'id': k + 1,
                'image_id': 1,
                'category_id': 1,
                'segmentation': r,
                'area': float(mask_utils.area(r)),
                'bbox': mask_utils.toBbox(r).tolist(),
                'iscrowd': 0,
            }
            for k, r in enumerate(gt_rles)
        ],
    }
    results = [
        {'image_id': 1, 'category_id': 1, 'segmentation': r, 'score': float(s)}
        for r, s in zip(dt_rles, scores, strict=True)
    ]
    raster_ious = mask_utils.iou(dt_rles, gt_rles, [0] * len(gt_rles))
    return pycocotools_segm_stats(dataset, results), np.asarray(raster_ious)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_polygon_ap_equals_pycocotools_on_rasterised_objects(seed: int) -> None:
    truth, pred, scores = synthetic_objects(seed)
    stats, raster_ious = pycocotools_stats(truth, pred, scores)
    pi, ti, exact = polygon_ious(pred, truth)
    # The premise of the tolerance: rasterising moves no IoU by 0.01 or more.
    assert np.abs(raster_ious[pi, ti] - exact).max() < 0.01
    result = evaluate_polygons(
        gpd.GeoDataFrame({'score': scores}, geometry=pred, crs='EPSG:32608'),
        gpd.GeoSeries(truth, crs='EPSG:32608'),
    )
    assert 0.2 < stats[1] < 1.0  # a non-trivial case
    assert result.ap50 == pytest.approx(stats[1], abs=1e-9)
    assert result.ap75 == pytest.approx(stats[2], abs=1e-9)
    assert result.ap == pytest.approx(stats[0], abs=1e-9)
