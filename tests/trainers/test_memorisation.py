"""The fused model learns real s2-rts-lubka1 slumps: it fits a few training chips.

A correct detector fits a handful of images. The full probe, 16 chips for 4000
steps (about 25 minutes on an idle 2-core CPU, training-set mask AP50 >= 0.5),
is a benchmark run by hand: ``python benchmarks/lubka1_memorisation.py --check``.
CI keeps a smaller real-data bar that fits a few minutes: the probe's first 4
chips (every tenth training chip by name: 7 slumps as 8-connected components)
are copied into ``tmp_path`` as the train, val and test splits, the fused nano
model is trained on them with the small-object options for 200 steps of 4,
and scored on the same chips' 128 px grid windows. It scored mask AP50 0.356
(box AP50 0.356) on the 2-core development CPU on 2026-12-07, two torch
threads; an untrained model scores about 0.
"""

from __future__ import annotations

import os
import types
from pathlib import Path

import pytest
import torch

from rtsgeo.trainers import train_steps
from tests._scripts import load_benchmark

STEPS = int(os.environ.get('RTSGEO_REAL_LEARNING_STEPS', '200'))


def _benchmark() -> types.ModuleType:
    """The benchmark script as a module: the test runs its chips and options."""
    return load_benchmark('lubka1_memorisation')


@pytest.mark.slow
@pytest.mark.data
def test_fused_model_learns_4_real_lubka1_chips(data_dir: Path, tmp_path: Path) -> None:
    lubka1 = data_dir / 's2-rts-lubka1'
    if not (lubka1 / 'train' / 'image').is_dir():
        pytest.skip(f'{lubka1} not found: set RTSGEO_DATA_DIR to the shared data')
    benchmark = _benchmark()
    root = benchmark.memorisation_root(lubka1, tmp_path / 'chips', chips=4)
    run = train_steps(
        root,
        ['rgb', 'ndvi', 'nir'],
        fusion='residual_cross_attention',
        steps=STEPS,
        batch_size=4,
        patch_size=128,
        model_options=benchmark.SMALL_OBJECT_OPTIONS,
        seed=0,
    )
    result = run.evaluate('test')  # the test split is the training chips
    print({k: round(v, 3) for k, v in result.items()}, f'{run.seconds:.0f} s')
    assert result['test_segm_map_50'] >= 0.2


def test_diagnosis_counts_every_test_slump(synthetic_root: Path) -> None:
    run = train_steps(
        synthetic_root,
        ['rgb', 'nir'],
        fusion='residual_cross_attention',
        steps=2,
        batch_size=2,
        patch_size=64,
        chip_size=128,
        anchor_sizes=[4, 8, 16, 32, 64],
        model_options={'detail_channels': 8},
        accelerator='cpu',
    )
    few, many = (_benchmark().diagnose(run, n) for n in (5, 50))
    slumps = sum(
        len(boxes)
        for batch in run.datamodule.test_dataloader()
        for boxes in batch['bbox_xyxy']
    )
    assert few['proposals'] == 5 and many['proposals'] == 50
    assert few['slumps'] == many['slumps'] == slumps > 0
    for found in (few, many):
        assert 0 <= found['with_a_detection_iou50'] <= slumps
        assert 0.0 <= found['train_mask_ap50'] <= 1.0
        kinds = found['false_positives_over_0.5']
        assert list(kinds) == list(_benchmark().FALSE_POSITIVE_KINDS)
        assert all(count >= 0 for count in kinds.values())
    # more proposals can only cover more slumps
    assert few['with_a_proposal_iou50'] <= many['with_a_proposal_iou50'] <= slumps
    assert run.task.model.rpn._post_nms_top_n['testing'] == 50


def test_false_positive_kinds_by_hand() -> None:
    kinds = _benchmark().false_positive_kinds
    truth = torch.tensor([[10.0, 10.0, 20.0, 20.0], [50.0, 50.0, 54.0, 54.0]])
    boxes = torch.tensor(
        [
            [10.0, 10.0, 20.0, 20.0],  # matches the first slump
            [10.0, 10.0, 19.0, 20.0],  # the same slump again: a duplicate
            [12.0, 12.0, 15.0, 15.0],  # inside the first slump
            [40.0, 40.0, 60.0, 60.0],  # around the second
            [18.0, 18.0, 30.0, 30.0],  # partly over the first
            [90.0, 90.0, 95.0, 95.0],  # background
            [90.0, 10.0, 95.0, 15.0],  # background, but under the floor
        ]
    )
    scores = torch.tensor([0.9, 0.8, 0.7, 0.7, 0.6, 0.6, 0.4])
    found = kinds(boxes, scores, truth)
    assert found == {
        'empty_window': 0,
        'duplicate': 1,
        'inside_a_slump': 1,
        'around_a_slump': 1,
        'partial': 1,
        'background': 1,
    }
    empty = kinds(boxes, scores, torch.zeros(0, 4))
    assert empty['empty_window'] == 6 and sum(empty.values()) == 6
