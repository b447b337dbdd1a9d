"""RandomFlipRotate: image, valid, masks and boxes of a window move together."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import torch

from rtsgeo.datasets._instances import boxes_from_masks
from rtsgeo.transforms import RandomFlipRotate

Op = tuple[bool, int]  # (flipped left-right first, quarter turns)
OPS: list[Op] = [(flip, turns) for flip in (False, True) for turns in range(4)]


def apply(x: torch.Tensor, op: Op) -> torch.Tensor:
    flip, turns = op
    return torch.rot90(x.flip(-1) if flip else x, turns, dims=(-2, -1))


def which_op(before: torch.Tensor, after: torch.Tensor) -> Op:
    """The one symmetry of the square that maps *before* onto *after*."""
    hits = [op for op in OPS if torch.equal(apply(before, op), after)]
    assert len(hits) == 1, f'{len(hits)} symmetries match'
    return hits[0]


def coordinates(height: int, width: int) -> torch.Tensor:
    """(3, H, W): row, column and a constant; no two symmetries agree on it."""
    rows, cols = torch.meshgrid(
        torch.arange(height, dtype=torch.float32),
        torch.arange(width, dtype=torch.float32),
        indexing='ij',
    )
    return torch.stack([rows, cols, torch.full_like(rows, 7.0)])


def batch_of(count: int, size: int = 8) -> dict[str, Any]:
    """Windows with two L-shaped objects and a valid mask off the centre."""
    masks = torch.zeros((2, size, size), dtype=torch.uint8)
    masks[0, 1:4, 1] = 1
    masks[0, 3, 1:3] = 1
    masks[1, 5:7, 4:7] = 1
    valid = torch.ones((size, size), dtype=torch.bool)
    valid[:, : size // 4] = False
    return {
        'image': coordinates(size, size).expand(count, -1, -1, -1).clone(),
        'valid': valid.expand(count, -1, -1).clone(),
        'mask': [masks.clone() for _ in range(count)],
        'bbox_xyxy': [boxes_from_masks(masks) for _ in range(count)],
        'label': [torch.ones(2, dtype=torch.int64) for _ in range(count)],
    }


def test_targets_move_with_the_image() -> None:
    before = batch_of(32)
    after = RandomFlipRotate(generator=torch.Generator().manual_seed(0))(batch_of(32))
    assert after['image'].shape == before['image'].shape
    for i in range(32):
        op = which_op(before['image'][i], after['image'][i])
        assert torch.equal(after['valid'][i], apply(before['valid'][i], op))
        assert torch.equal(after['mask'][i], apply(before['mask'][i], op))
        assert after['mask'][i].dtype == torch.uint8
        # Boxes follow the moved masks and stay tight around them.
        for mask, (x0, y0, x1, y1) in zip(
            after['mask'][i], after['bbox_xyxy'][i].int().tolist(), strict=True
        ):
            assert int(mask.sum()) == int(mask[y0:y1, x0:x1].sum())
            assert mask[y0:y1, x0].any() and mask[y0:y1, x1 - 1].any()
            assert mask[y0, x0:x1].any() and mask[y1 - 1, x0:x1].any()
        assert torch.equal(after['label'][i], before['label'][i])


def test_each_window_draws_its_own_symmetry() -> None:
    count = 400
    before = batch_of(count)
    after = RandomFlipRotate(generator=torch.Generator().manual_seed(1))(
        batch_of(count)
    )
    drawn = Counter(
        which_op(before['image'][i], after['image'][i]) for i in range(count)
    )
    assert set(drawn) == set(OPS)  # all eight symmetries of a square
    assert max(drawn.values()) < 2 * count / len(OPS)  # roughly uniform


def test_no_flip_no_rotation_is_the_identity() -> None:
    before = batch_of(4)
    after = RandomFlipRotate(p_flip=0.0, rotate=False)(batch_of(4))
    assert torch.equal(after['image'], before['image'])
    assert torch.equal(after['valid'], before['valid'])
    for moved, kept in zip(after['mask'], before['mask'], strict=True):
        assert torch.equal(moved, kept)


def test_rotation_only_never_mirrors() -> None:
    before = batch_of(64)
    after = RandomFlipRotate(p_flip=0.0, generator=torch.Generator().manual_seed(2))(
        batch_of(64)
    )
    ops = {which_op(before['image'][i], after['image'][i]) for i in range(64)}
    assert ops == {(False, turns) for turns in range(4)}


def test_non_square_windows_keep_their_shape() -> None:
    image = coordinates(4, 6).expand(64, -1, -1, -1).clone()
    batch = {'image': image.clone(), 'valid': torch.ones((64, 4, 6), dtype=torch.bool)}
    after = RandomFlipRotate(generator=torch.Generator().manual_seed(3))(batch)
    assert after['image'].shape == (64, 3, 4, 6)
    assert after['valid'].shape == (64, 4, 6)
    # Only flips and half turns map a 4 x 6 window onto itself.
    flips = {
        (bool(a[1, 0, 0] != 0), bool(a[0, 0, 0] != 0)) for a in after['image']
    }  # (left-right flipped, up-down flipped)
    assert flips == {(False, False), (False, True), (True, False), (True, True)}
    for a in after['image']:
        assert torch.equal(a[0].unique(), torch.arange(4.0))
        assert torch.equal(a[1].unique(), torch.arange(6.0))
        assert bool((a[0] == a[0][:, :1]).all())  # rows stay rows


def test_windows_without_objects() -> None:
    batch = batch_of(3)
    batch['mask'] = [torch.zeros((0, 8, 8), dtype=torch.uint8) for _ in range(3)]
    batch['bbox_xyxy'] = [torch.zeros((0, 4)) for _ in range(3)]
    after = RandomFlipRotate(generator=torch.Generator().manual_seed(4))(batch)
    assert all(m.shape == (0, 8, 8) for m in after['mask'])
    assert all(b.shape == (0, 4) for b in after['bbox_xyxy'])


def test_images_only_and_empty_batches() -> None:
    image = coordinates(8, 8).unsqueeze(0)
    after = RandomFlipRotate(generator=torch.Generator().manual_seed(5))(
        {'image': image.clone()}
    )
    which_op(image[0], after['image'][0])  # a symmetry of the window
    assert set(after) == {'image'}
    empty = RandomFlipRotate()({'image': torch.zeros((0, 3, 8, 8))})
    assert empty['image'].shape == (0, 3, 8, 8)


@pytest.mark.parametrize('seed', [0, 7])
def test_same_generator_seed_same_result(seed: int) -> None:
    first = RandomFlipRotate(generator=torch.Generator().manual_seed(seed))(
        batch_of(16)
    )
    again = RandomFlipRotate(generator=torch.Generator().manual_seed(seed))(
        batch_of(16)
    )
    assert torch.equal(first['image'], again['image'])
    other = RandomFlipRotate(generator=torch.Generator().manual_seed(seed + 1))(
        batch_of(16)
    )
    assert not torch.equal(first['image'], other['image'])
