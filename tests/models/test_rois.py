"""Pixel-aligned RoI pooling, mask targets and pasting."""

from __future__ import annotations

import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torchvision.models.detection.roi_heads import (
    paste_masks_in_image,
    project_masks_on_boxes,
)
from torchvision.ops import MultiScaleRoIAlign

from rtsgeo.datasets._instances import boxes_from_masks
from rtsgeo.models.rois import (
    PyramidRoIAlign,
    aligned_mask_targets,
    paste_masks_aligned,
)


def _square(side: int, x: int = 10, y: int = 7, size: int = 32) -> torch.Tensor:
    mask = torch.zeros((1, size, size))
    mask[0, y : y + side, x : x + side] = 1
    return mask


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.bool(), b.bool()
    return float((a & b).sum() / (a | b).sum())


@pytest.mark.parametrize('side', [1, 2, 3, 5, 8])
def test_a_perfect_mask_pastes_back_onto_its_pixels(side: int) -> None:
    mask = _square(side)
    boxes = boxes_from_masks(mask)
    target = aligned_mask_targets(mask, boxes, torch.zeros(1, dtype=torch.int64), 28)
    pasted = paste_masks_aligned(target[:, None], boxes, (32, 32))[0, 0]
    assert _iou(pasted >= 0.5, mask[0]) == 1.0


def test_legacy_sampling_cannot_match_a_2px_slump() -> None:
    # Why the option exists: torchvision's helpers paste a perfect 2 x 2 mask
    # as 3 x 3 on the project's exclusive-edge boxes.
    mask = _square(2)
    boxes = boxes_from_masks(mask)
    target = project_masks_on_boxes(mask, boxes, torch.zeros(1, dtype=torch.int64), 28)
    pasted = paste_masks_in_image(target[:, None], boxes, (32, 32), padding=1)[0, 0]
    assert _iou(pasted >= 0.5, mask[0]) < 0.5


def test_paste_handles_boxes_at_the_border_and_empty_boxes() -> None:
    masks = torch.ones((2, 1, 28, 28))
    boxes = torch.tensor([[28.0, 0.0, 32.0, 3.0], [5.0, 5.0, 5.0, 9.0]])
    pasted = paste_masks_aligned(masks, boxes, (32, 32))
    assert pasted.shape == (2, 1, 32, 32)
    assert (pasted[0, 0] >= 0.5).sum() == 4 * 3
    assert pasted[1].sum() == 0


def test_pyramid_pooling_samples_pixel_centres_on_the_right_level() -> None:
    # A feature map whose value is the x coordinate of each cell's centre in
    # input pixels: pooling a box must return values inside the box.
    stride = 4
    centres = (torch.arange(16, dtype=torch.float32) + 0.5) * stride
    p2 = centres.expand(1, 1, 16, 16).clone()
    features = OrderedDict(
        (name, p2 if name == 'p2' else torch.zeros(1, 1, 16 // s, 16 // s))
        for name, s in (('p2', 1), ('p3', 2), ('p4', 4), ('p5', 8))
    )
    pool = PyramidRoIAlign(['p2', 'p3', 'p4', 'p5'], (4, 8, 16, 32), 2)
    box = torch.tensor([[16.0, 16.0, 24.0, 24.0]])
    pooled = pool(features, [box], [(64, 64)])[0, 0]
    assert pooled[:, 0].allclose(torch.tensor(18.0)) and pooled[:, 1].allclose(
        torch.tensor(22.0)
    )
    legacy = MultiScaleRoIAlign(['p2', 'p3', 'p4', 'p5'], 2, 2)
    shifted = legacy(features, [box], [(64, 64)])[0, 0]
    assert shifted[0, 0] > 19.0  # half a cell (2 px) to the right
    big = torch.tensor([[0.0, 0.0, 448.0, 448.0]])
    assert pool.levels(torch.cat([box, big])).tolist() == [0, 3]
    assert pool(features, [box[:0]], [(64, 64)]).shape == (0, 1, 2, 2)


@pytest.mark.data
def test_roundtrip_benchmark_on_real_slumps(data_dir: Path) -> None:
    if not (data_dir / 's2-rts-lubka1' / 'train' / 'mask').is_dir():
        pytest.skip(f'{data_dir}/s2-rts-lubka1 not found: set RTSGEO_DATA_DIR')
    script = Path(__file__).parents[2] / 'benchmarks' / 'mask_roundtrip.py'
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True
    )
    rows = {line.split('|')[1].strip(): line for line in done.stdout.splitlines()[3:5]}
    assert '| 1.00 | 42 of 42 | 13 of 13 |' in rows['aligned']
    assert '42 of 42' not in rows['torchvision']
