"""CachedRTSDataModule: random crops of chips held in memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import lightning
import numpy as np
import pytest
import rasterio
import rasterio.transform
import shapely
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


def test_uniform_crops_read_only_the_chips_they_crop() -> None:
    class Counted(list):
        reads = 0

        def __getitem__(self, index: Any) -> Any:
            Counted.reads += 1
            return super().__getitem__(index)

        def __iter__(self) -> Any:
            return (self[i] for i in range(len(self)))

    chips = Counted(sparse_chips())
    crops = _RandomCrops(chips, 64, 3, seed=0, positive_fraction=0.0)
    assert Counted.reads == 0 and crops.objects == []
    _ = [crops[i] for i in range(3)]
    assert Counted.reads == 3
    assert len(_RandomCrops(chips, 64, 3, seed=0, positive_fraction=0.5).objects) == 2


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


def _rgb_ndvi(root: Path) -> dict[str, Any]:
    """Arguments of a small RGB + NDVI cached datamodule over *root*."""
    return {
        'root': str(root),
        'chip_size': 128,
        'modalities': ['rgb', 'ndvi'],
        'patch_size': 64,
    }


def test_given_statistics_are_kept_and_missing_ones_computed(
    synthetic_root: Path,
) -> None:
    kwargs = _rgb_ndvi(synthetic_root)
    computed = CachedRTSDataModule(**kwargs)
    computed.setup('fit')
    assert computed.stats is not None
    given = {'ndvi': {'mean': [0.5], 'std': [2.0]}}
    datamodule = CachedRTSDataModule(**kwargs, stats=given)
    assert datamodule.missing_stats() == ('rgb',)
    datamodule.setup('fit')
    assert datamodule.stats == {'rgb': computed.stats['rgb'], **given}
    assert datamodule.missing_stats() == ()
    assert computed.stats['ndvi'] != given['ndvi']


def test_cached_chips_are_stretched_per_scene(synthetic_root: Path) -> None:
    from rtsgeo.datasets import MultimodalRasterDataset

    kwargs = _rgb_ndvi(synthetic_root)
    plain = CachedRTSDataModule(**kwargs)
    plain.setup('fit')
    datamodule = CachedRTSDataModule(**kwargs, scene_norm='percentile')
    datamodule.setup('fit')
    stretch = datamodule.scene_stretch
    assert stretch is not None and stretch.bands == ('blue', 'green', 'nir', 'red')
    # each 128 px training scene is one chip, read through the stretch
    expected = []
    for path in sorted((synthetic_root / 'train' / 'image').glob('*.tif')):
        dataset = MultimodalRasterDataset(path, ('rgb', 'ndvi'), scene_stretch=stretch)
        expected.append(dataset[dataset.bounds]['image'])
    chips = [chip['image'] for chip in datamodule.chips]
    assert len(chips) == len(expected) == 2
    if not torch.equal(chips[0], expected[0]):
        chips.reverse()
    assert all(torch.equal(c, e) for c, e in zip(chips, expected, strict=True))
    assert not torch.equal(plain.chips[0]['image'], datamodule.chips[0]['image'])
    assert plain.stats != datamodule.stats  # computed on the stretched chips
    # validation windows are stretched too, with the same reference
    val = datamodule.datasets['val'].datasets[0].datasets[0]
    assert val.scene_stretch == stretch


# Small georeferenced scenes for the datamodule's reading path: 10 m pixels in
# UTM 8N. Training regions are the columns left of TRAIN_COLS, validation the
# rest; the boundary is not on the chip grid, so chips straddle it.
SIZE, RES, X0, Y0 = 96, 10.0, 500000.0, 7700000.0
TRAIN_COLS = 40
CRS = 'EPSG:32608'


def write_raster(
    path: Path, data: np.ndarray, descriptions: tuple[str, ...] | None = None
) -> Path:
    transform = rasterio.transform.from_origin(X0, Y0 + SIZE * RES, RES, RES)
    with rasterio.open(
        path,
        'w',
        driver='GTiff',
        width=data.shape[-1],
        height=data.shape[-2],
        count=data.shape[0],
        dtype=data.dtype,
        crs=CRS,
        transform=transform,
    ) as dst:
        dst.write(data)
        if descriptions is not None:
            dst.descriptions = descriptions
    return path


def write_regions(path: Path) -> Path:
    west = shapely.box(X0, Y0, X0 + TRAIN_COLS * RES, Y0 + SIZE * RES)
    east = shapely.box(X0 + TRAIN_COLS * RES, Y0, X0 + SIZE * RES, Y0 + SIZE * RES)
    regions = gpd.GeoDataFrame(
        {'split': ['train', 'val'], 'region': ['west', 'east']},
        geometry=[west, east],
        crs=CRS,
    )
    regions.to_crs('EPSG:4326').to_file(path)  # regions may come in any CRS
    return path


def write_labels(path: Path) -> Path:
    """One 6x6 slump in the training area, one just across its boundary."""
    mask = np.zeros((1, SIZE, SIZE), dtype=np.uint8)
    mask[0, 20:26, 10:16] = 1
    mask[0, 60:66, TRAIN_COLS + 2 : TRAIN_COLS + 8] = 1
    return write_raster(path, mask)


def split_scene(tmp_path: Path) -> dict[str, Any]:
    """A scene whose bands read 1-4 in the training area and 101-104 outside."""
    bands = np.ones((4, SIZE, SIZE), dtype=np.float32) * np.arange(1, 5).reshape(
        4, 1, 1
    )
    bands[:, :, TRAIN_COLS:] += 100
    return {
        'images': str(
            write_raster(tmp_path / 'scene.tif', bands, ('red', 'green', 'blue', 'nir'))
        ),
        'labels': str(write_labels(tmp_path / 'mask.tif')),
        'regions': str(write_regions(tmp_path / 'regions.gpkg')),
    }


def cached(data: dict[str, Any], **kwargs: Any) -> CachedRTSDataModule:
    options: dict[str, Any] = {
        'modalities': ['rgb'],
        'chip_size': 32,
        'patch_size': 16,
        'batch_size': 8,
        'length': 16,
        'positive_fraction': 0.5,
    }
    datamodule = CachedRTSDataModule(**data, **{**options, **kwargs})
    datamodule.setup('fit')
    return datamodule


def test_images_given_as_a_list(tmp_path: Path) -> None:
    data = split_scene(tmp_path)
    as_list = cached({**data, 'images': [data['images']], 'labels': [data['labels']]})
    as_str = cached(data)
    assert len(as_list.chips) == len(as_str.chips) > 0
    for first, second in zip(as_list.chips, as_str.chips, strict=True):
        assert torch.equal(first['image'], second['image'])


def test_training_chips_stay_in_the_training_regions(tmp_path: Path) -> None:
    datamodule = cached(split_scene(tmp_path))
    assert datamodule.chips
    for chip in datamodule.chips:
        valid = chip['valid']
        # Only training-area values (1-3 for rgb); other pixels are nodata.
        assert torch.equal(chip['image'][:, valid].unique(), torch.tensor([1.0, 2, 3]))
        assert bool((chip['image'][:, ~valid] == 0).all())
    # Every training pixel once, no pixel of the validation area.
    assert sum(int(c['valid'].sum()) for c in datamodule.chips) == SIZE * TRAIN_COLS
    # Only the training slump, whole.
    assert sum(int(c['mask'].sum()) for c in datamodule.chips) == 36
    assert datamodule.stats is not None
    assert datamodule.stats['rgb']['mean'] == pytest.approx([1.0, 2.0, 3.0])
    for batch in datamodule.train_dataloader():
        assert float(batch['image'].max()) <= 3.0


def coordinate_scene(tmp_path: Path) -> dict[str, Any]:
    """A scene whose red band is 1 + row and green band 1 + column."""
    rows, cols = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    bands = np.stack([rows + 1, cols + 1, np.ones_like(rows), np.ones_like(rows)])
    return {
        'images': str(
            write_raster(tmp_path / 'scene.tif', bands, ('red', 'green', 'blue', 'nir'))
        ),
        'labels': str(write_labels(tmp_path / 'mask.tif')),
        'regions': str(write_regions(tmp_path / 'regions.gpkg')),
    }


def as_read(image: torch.Tensor, valid: torch.Tensor) -> bool:
    """Whether a window of :func:`coordinate_scene` is neither flipped nor turned."""
    down = valid[1:, :] & valid[:-1, :]
    right = valid[:, 1:] & valid[:, :-1]
    return bool(
        ((image[0, 1:, :] - image[0, :-1, :])[down] == 1).all()
        and ((image[1, :, 1:] - image[1, :, :-1])[right] == 1).all()
    )


def training_trainer() -> lightning.Trainer:
    trainer = lightning.Trainer(
        accelerator='cpu', logger=False, enable_checkpointing=False
    )
    trainer.training = True
    return trainer


def test_augment_false_leaves_windows_as_read(tmp_path: Path) -> None:
    datamodule = cached(coordinate_scene(tmp_path), augment=False)
    datamodule.trainer = training_trainer()
    assert datamodule.normalize is not None
    for batch in datamodule.train_dataloader():
        for image, valid in zip(batch['image'], batch['valid'], strict=True):
            assert as_read(image, valid)
        expected = datamodule.normalize(dict(batch, image=batch['image'].clone()))
        moved = datamodule.on_after_batch_transfer(batch, 0)
        assert torch.equal(moved['image'], expected['image'])


def test_augment_true_augments_each_window_once(tmp_path: Path) -> None:
    datamodule = cached(coordinate_scene(tmp_path), augment=True)
    datamodule.trainer = training_trainer()
    augment = datamodule.augment
    assert augment is not None
    calls = []

    def counted(batch: dict[str, Any]) -> dict[str, Any]:
        calls.append(len(batch['image']))
        return augment(batch)

    datamodule.augment = counted  # type: ignore[assignment]
    datamodule.normalize = None  # compare geometry only
    torch.manual_seed(0)
    batches = list(datamodule.train_dataloader())
    turned = 0
    for batch in batches:
        # The loader does not augment: the windows leave it as read ...
        assert all(
            as_read(i, v) for i, v in zip(batch['image'], batch['valid'], strict=True)
        )
        moved = datamodule.on_after_batch_transfer(batch, 0)
        turned += sum(
            not as_read(i, v)
            for i, v in zip(moved['image'], moved['valid'], strict=True)
        )
    # ... and the datamodule augments each batch once, on its device.
    assert calls == [len(b['image']) for b in batches]
    assert turned > 0


def test_cache_tells_sensors_apart(tmp_path: Path) -> None:
    data = split_scene(tmp_path)
    bands = np.ones((4, SIZE, SIZE), dtype=np.float32) * np.array(
        [10, 20, 30, 40], dtype=np.float32
    ).reshape(4, 1, 1)
    data['images'] = str(write_raster(tmp_path / 'plain.tif', bands))
    red = {}
    for sensor in ('rgbn', 'sentinel2'):  # band 1 is red, then blue
        chip = cached(data, sensor=sensor).chips[0]
        red[sensor] = chip['image'][0, chip['valid']].unique().tolist()
    assert red == {'rgbn': [10.0], 'sentinel2': [30.0]}


def test_cache_tells_extra_bands_apart(tmp_path: Path) -> None:
    data = split_scene(tmp_path)
    slopes = {}
    for value in (5.0, 7.0):
        band = np.full((1, SIZE, SIZE), value, dtype=np.float32)
        path = write_raster(tmp_path / f'slope{value:.0f}.tif', band, ('slope',))
        chip = cached(
            data, modalities=['rgb', 'slope'], extra={'slope': str(path)}
        ).chips[0]
        slopes[value] = chip['image'][3, chip['valid']].unique().tolist()
    assert slopes == {5.0: [5.0], 7.0: [7.0]}


def test_cached_training_chips_read_the_quality_mask(
    tmp_path: Path, data_dir: Path
) -> None:
    from tests.datamodules.test_rts import masked_chip_root

    chip = masked_chip_root(tmp_path, data_dir)
    datamodule = CachedRTSDataModule(
        root=str(tmp_path),
        patch_size=128,
        chip_size=256,
        quality_mask='scl={dir}/../scl/{stem}.tif',
    )
    datamodule.setup('fit')
    (trained,) = datamodule.chips
    unobserved = torch.from_numpy(chip.unobserved)
    assert not (trained['valid'] & unobserved).any()
    assert not (trained['mask'].bool() & unobserved).any()
    assert trained['mask'].any()  # the observed slumps are there
