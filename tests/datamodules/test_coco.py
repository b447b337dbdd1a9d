"""COCODataModule: crops of COCO chips for training, whole chips for scoring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rtsgeo.datamodules import COCODataModule
from rtsgeo.datamodules.coco import resample_chip
from rtsgeo.datasets._instances import pack_instances
from rtsgeo.errors import ConfigError
from tests.datamodules._coco import write_coco_chips


def _chip_sizes(root: Path, split: str) -> dict[str, tuple[int, int]]:
    coco = json.loads((root / f'coco_rts_{split}.json').read_text())
    return {i['file_name']: (i['height'], i['width']) for i in coco['images']}


def test_positive_crops_of_larger_chips(tmp_path: Path) -> None:
    # Training chips of 60-100 px, 48 px windows; the valtest chips fit them.
    sizes = ((96, 72), (80, 60), (100, 90), (72, 96), (40, 32), (48, 40))
    root = write_coco_chips(tmp_path, seed=1, sizes=sizes)
    datamodule = COCODataModule(
        root=str(root), patch_size=48, batch_size=4, length=8,
        positive_fraction=1.0, augment=False,
    )  # fmt: skip
    datamodule.setup('fit')
    assert set(datamodule.stats or {}) == {'rgb'}
    batches = list(datamodule.train_dataloader())
    assert sum(len(b['image']) for b in batches) == 8
    for batch in batches:
        assert batch['image'].shape[1:] == (3, 48, 48)
        for image, mask in zip(batch['image'], batch['mask'], strict=True):
            assert mask.shape[0] >= 1  # every crop holds an object
            # Objects are the bright rectangles of the chips.
            inside = image[:, mask.any(0).bool()]
            assert inside.mean() > 150


def test_small_chips_are_padded_with_nodata(coco_root: Path) -> None:
    datamodule = COCODataModule(
        root=str(coco_root), patch_size=128, batch_size=4, length=4, augment=False
    )
    datamodule.setup('fit')
    areas = {h * w for h, w in _chip_sizes(coco_root, 'train').values()}
    batch = next(iter(datamodule.train_dataloader()))
    assert batch['image'].shape[1:] == (3, 128, 128)
    for valid in batch['valid']:
        assert int(valid.sum()) in areas
        assert valid[0, 0]  # chips sit at the top left of the padded window
    normalised = datamodule.on_after_batch_transfer(batch, 0)
    assert torch.all(
        normalised['image'][~batch['valid'].unsqueeze(1).expand(-1, 3, -1, -1)] == 0
    )


def test_whole_chips_for_validation_and_test(coco_root: Path) -> None:
    datamodule = COCODataModule(root=str(coco_root), patch_size=112, batch_size=8)
    datamodule.setup('test')
    batch = next(iter(datamodule.test_dataloader()))
    sizes = _chip_sizes(coco_root, 'valtest')
    coco = json.loads((coco_root / 'coco_rts_valtest.json').read_text())
    assert batch['file_name'] == [i['file_name'] for i in coco['images']]
    for name, valid, mask, boxes in zip(
        batch['file_name'], batch['valid'], batch['mask'], batch['bbox_xyxy'],
        strict=True,
    ):  # fmt: skip
        height, width = sizes[name]
        assert valid.shape == (112, 112)
        assert bool(valid[:height, :width].all()) and int(valid.sum()) == height * width
        image_id = next(i['id'] for i in coco['images'] if i['file_name'] == name)
        anns = [a for a in coco['annotations'] if a['image_id'] == image_id]
        assert mask.shape == (len(anns), 112, 112)
        for ann, box in zip(anns, boxes.tolist(), strict=True):
            x, y, w, h = ann['bbox']
            assert box == [x, y, x + w, y + h]


@pytest.mark.parametrize('stage', ['fit', 'validate', 'test'])
def test_chips_larger_than_the_window(coco_root: Path, stage: str) -> None:
    # Refused at set-up, before any training: they could not be scored whole.
    datamodule = COCODataModule(root=str(coco_root), patch_size=64)
    with pytest.raises(
        ConfigError, match=r'coco_rts_valtest.json: 2 chip.*exceed patch_size=64'
    ):
        datamodule.setup(stage)


def test_rgb_only(coco_root: Path) -> None:
    with pytest.raises(ConfigError, match='COCO chips are RGB images; use modalities'):
        COCODataModule(root=str(coco_root), modalities=['rgb', 'nir'])


def test_resample_chip_shrinks_image_and_masks() -> None:
    image = torch.zeros((3, 30, 60))
    image[:, :, 30:] = 90.0
    masks = torch.zeros((3, 30, 60), dtype=torch.uint8)
    masks[0, 0:9, 0:18] = 1  # 9 x 18 px: 3 x 6 px at a third of the size
    masks[1, 21:30, 42:60] = 1
    masks[2, 15, 15] = 1  # one pixel: less than half of any new pixel
    sample = {'image': image, **pack_instances(masks), 'file_name': 'a.jpg'}
    out = resample_chip(sample, 1 / 3)
    assert out['image'].shape == (3, 10, 20)
    assert out['file_name'] == 'a.jpg'
    assert torch.all(out['image'][:, :, :9] == 0)
    assert torch.all(out['image'][:, :, 11:] == 90)
    assert out['mask'].shape == (2, 10, 20)
    assert out['mask'].flatten(1).sum(1).tolist() == [3 * 6, 3 * 6]
    assert out['bbox_xyxy'].tolist() == [[0, 0, 6, 3], [14, 7, 20, 10]]
    assert out['label'].tolist() == [1, 1]


def test_chips_resampled_to_another_gsd(coco_root: Path) -> None:
    # 60-100 px chips at 3 m are 18-30 px at 10 m: a 32 px window holds them.
    with pytest.raises(ConfigError, match='exceed patch_size=32'):
        COCODataModule(root=str(coco_root), patch_size=32).setup('test')
    datamodule = COCODataModule(
        root=str(coco_root), patch_size=32, batch_size=8, chip_gsd_m=3.0, gsd_m=10.0
    )
    assert datamodule.gsd_m == 10.0 and datamodule.scale == pytest.approx(0.3)
    datamodule.setup('fit')
    sizes = _chip_sizes(coco_root, 'valtest')
    batch = next(iter(datamodule.val_dataloader()))
    assert batch['image'].shape[-2:] == (32, 32)
    for name, valid in zip(batch['file_name'], batch['valid'], strict=True):
        height, width = sizes[name]
        assert int(valid.sum()) == round(0.3 * height) * round(0.3 * width)
    crop = next(iter(datamodule.train_dataloader()))
    assert crop['image'].shape[-2:] == (32, 32)
    assert datamodule.describe()['chip_gsd_m'] == 3.0


def test_chip_gsd_alone_is_recorded_not_resampled(coco_root: Path) -> None:
    datamodule = COCODataModule(root=str(coco_root), chip_gsd_m=3.0)
    assert datamodule.gsd_m == 3.0 and datamodule.scale == 1.0
    with pytest.raises(ConfigError, match=r'gsd_m=0\.0: give the metres per pixel'):
        COCODataModule(root=str(coco_root), chip_gsd_m=3.0, gsd_m=0.0)


@pytest.mark.data
def test_yang2023_chips(data_dir: Path) -> None:
    root = data_dir / 'rgb-rts-coco-yang2023'
    if not root.is_dir():
        pytest.skip(f'{root} is absent')
    datamodule = COCODataModule(
        root=str(root), patch_size=320, batch_size=4, length=4, stats_samples=8
    )
    datamodule.setup('fit')
    assert len(datamodule.chip_dataset('train')) == 756
    assert len(datamodule.chip_dataset('val')) == 138
    mean = datamodule.stats['rgb']['mean']  # type: ignore[index]
    assert all(40 < m < 200 for m in mean)  # 0-255 RGB
    batch = next(iter(datamodule.val_dataloader()))
    coco = json.loads((root / 'coco_rts_valtest.json').read_text())
    first = coco['images'][: len(batch['image'])]
    counts = [sum(a['image_id'] == i['id'] for a in coco['annotations']) for i in first]
    assert [len(m) for m in batch['mask']] == counts
    assert batch['image'].shape[1:] == (3, 320, 320)
