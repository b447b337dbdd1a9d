"""CachedRTSDataModule: random crops of chips held in memory."""

from __future__ import annotations

from pathlib import Path

import torch

from rtsgeo.datamodules import CachedRTSDataModule
from rtsgeo.datamodules.cached import _RandomCrops


def sparse_chips() -> list[dict[str, torch.Tensor]]:
    """Two 256 px chips, each with one small object far from the others."""
    chips = []
    for y, x in ((10, 200), (230, 5)):
        mask = torch.zeros((1, 256, 256), dtype=torch.uint8)
        mask[0, y : y + 6, x : x + 5] = 1
        chips.append(
            {
                'image': torch.rand((3, 256, 256)),
                'valid': torch.ones((256, 256), dtype=torch.bool),
                'mask': mask,
            }
        )
    return chips


def test_positive_crops_hold_a_whole_object() -> None:
    crops = _RandomCrops(sparse_chips(), 64, 50, seed=0, positive_fraction=1.0)
    for index in range(len(crops)):
        sample = crops[index]
        assert sample['image'].shape == (3, 64, 64)
        assert sample['mask'].shape[0] == 1
        assert int(sample['mask'].sum()) == 30  # the whole 6x5 object


def test_uniform_crops_mostly_miss_sparse_objects() -> None:
    crops = _RandomCrops(sparse_chips(), 64, 200, seed=0, positive_fraction=0.0)
    hits = sum(crops[i]['mask'].shape[0] > 0 for i in range(len(crops)))
    assert hits < 60  # each object is in about 1/9 of the uniform crops


def test_object_longer_than_the_crop() -> None:
    chips = sparse_chips()[:1]
    chips[0]['mask'][0, 100:110, 20:240] = 1  # 220 px long, crop 64
    chips[0]['mask'][0, 10:16, 200:205] = 0
    crops = _RandomCrops(chips, 64, 30, seed=1, positive_fraction=1.0)
    for index in range(len(crops)):
        assert int(crops[index]['mask'].sum()) == 64 * 10


def test_crops_are_repeatable() -> None:
    chips = sparse_chips()
    first = _RandomCrops(chips, 64, 10, seed=3, positive_fraction=0.5)
    second = _RandomCrops(chips, 64, 10, seed=3, positive_fraction=0.5)
    for index in range(10):
        assert torch.equal(first[index]['image'], second[index]['image'])


def test_datamodule_passes_positive_fraction(synthetic_root: Path) -> None:
    datamodule = CachedRTSDataModule(
        root=str(synthetic_root),
        chip_size=128,
        modalities=['rgb'],
        patch_size=64,
        batch_size=2,
        length=4,
        positive_fraction=1.0,
        stats_samples=4,
    )
    datamodule.setup('fit')
    loader = datamodule.train_dataloader()
    assert loader.dataset.positive_fraction == 1.0  # type: ignore[attr-defined]
    batch = next(iter(loader))
    assert all(m.shape[0] > 0 for m in batch['mask'])
