"""Tests of batched inference, flip TTA and per-tile instances."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rtsgeo.predict import (
    forward_tiles,
    fuse_detections,
    mask_iou,
    tile_instances,
    tile_windows,
)

from .oracle import ComponentOracle


def _square(top: int, left: int, side: int, size: int = 32) -> torch.Tensor:
    mask = torch.zeros(size, size)
    mask[top : top + side, left : left + side] = 0.9
    return mask


def test_mask_iou() -> None:
    a = _square(0, 0, 4)[None] > 0
    b = _square(2, 0, 4)[None] > 0
    assert mask_iou(a, b).item() == pytest.approx(8 / 24)


def test_tta_merges_views_instance_by_instance() -> None:
    obj = _square(4, 4, 8)
    shifted = _square(5, 4, 8)  # same object seen one pixel lower: IoU 7/9
    other = _square(20, 20, 6)
    views = [
        (torch.stack([obj, other]), torch.tensor([0.9, 0.6])),
        (shifted[None], torch.tensor([0.6])),
        (obj[None], torch.tensor([0.9])),
    ]
    masks, scores = fuse_detections(views)
    assert scores.tolist() == pytest.approx([(0.9 + 0.6 + 0.9) / 3, 0.6 / 3])
    # The merged mask averages the members' probabilities.
    assert masks[0][12, 4].item() == pytest.approx(0.9 / 3)
    assert masks[0][8, 8].item() == pytest.approx(0.9)
    assert masks[1][22, 22].item() == pytest.approx(0.9)


def test_tta_keeps_at_most_one_member_per_view() -> None:
    obj = _square(4, 4, 8)
    views = [(torch.stack([obj, obj]), torch.tensor([0.8, 0.7]))]
    _masks, scores = fuse_detections(views)
    assert len(scores) == 2


def test_tta_of_empty_views() -> None:
    empty = (torch.zeros(0, 16, 16), torch.zeros(0))
    masks, scores = fuse_detections([empty, empty, empty])
    assert masks.shape == (0, 16, 16) and scores.shape == (0,)


def test_forward_with_tta_maps_flipped_views_back() -> None:
    images = torch.full((2, 5, 32, 32), -1.0)
    images[0, :, 2:10, 3:20] = 1.0  # asymmetric, near a corner
    images[1, :, 25:30, 0:4] = 1.0
    oracle = ComponentOracle()
    plain = forward_tiles(oracle, images)
    augmented = forward_tiles(oracle, images, tta=True)
    assert oracle.calls == 4  # one plain pass, three TTA views
    for (m1, s1), (m2, s2) in zip(plain, augmented, strict=True):
        assert torch.equal(m1, m2)  # every view agrees once flipped back
        assert torch.allclose(s1, s2)


def test_tile_instances_crop_threshold_and_drop_nodata() -> None:
    tile = tile_windows(200, 200, 32, 8)[1]  # col_off 24
    masks = torch.stack([_square(4, 4, 8), _square(20, 20, 6), _square(0, 0, 3)])
    scores = torch.tensor([0.9, 0.8, 0.3])
    valid = np.ones((32, 32), bool)
    valid[:, :6] = False  # nodata under part of the first object
    valid[18:, 18:] = False  # nodata under all of the second
    instances = tile_instances(tile, (masks, scores), valid, score_threshold=0.5)
    assert len(instances) == 1  # 2nd emptied by nodata, 3rd below the threshold
    (first,) = instances
    assert (first.row, first.col) == (4, 24 + 6)
    assert first.mask.shape == (8, 6) and first.mask.all()
    assert first.score == pytest.approx(0.9) and first.tile == tile


def test_forward_drops_low_scores_before_leaving_the_device() -> None:
    images = torch.full((1, 5, 32, 32), -1.0)
    images[0, :, 2:4, 2:4] = 1.0  # small: the oracle scores it about 0.62
    images[0, :, 10:30, 10:30] = 1.0  # large: about 0.87
    ((masks, scores),) = forward_tiles(ComponentOracle(), images, score_threshold=0.8)
    assert scores.tolist() == pytest.approx([0.6 + 0.3 * 400 / 450])
    assert masks.shape == (1, 32, 32) and masks[0, 20, 20] == 1.0


@pytest.mark.parametrize('threshold', [0.0, 0.4, 0.9])
def test_tile_instances_of_masks_thresholded_on_the_device(threshold: float) -> None:
    tile = tile_windows(200, 200, 32, 8)[1]
    generator = torch.Generator().manual_seed(0)
    probabilities = torch.rand(3, 32, 32, generator=generator)
    scores = torch.tensor([0.9, 0.8, 0.3])
    valid = np.ones((32, 32), bool)
    valid[:, :6] = False
    args = (valid, 0.5, threshold)
    soft = tile_instances(tile, (probabilities, scores), *args)
    hard = tile_instances(tile, (probabilities >= threshold, scores), *args)
    assert len(soft) == len(hard) == 2
    for a, b in zip(soft, hard, strict=True):
        assert (a.row, a.col, a.score) == (b.row, b.col, b.score)
        assert np.array_equal(a.mask, b.mask)
