"""RTSDataModule over the real Sentinel-2 chips and the synthetic scenes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import torch
from scipy import ndimage

from rtsgeo.datamodules import RTSDataModule
from rtsgeo.datasets import make_synthetic_dataset
from rtsgeo.errors import ConfigError

MODALITIES = ('rgb', 'ndvi', 'nir', 'slope')
BANDS = ('blue', 'green', 'red', 'nir')  # the synthetic scenes' band order


@pytest.fixture(scope='module')
def lubka(data_dir: Path) -> RTSDataModule:
    root = data_dir / 's2-rts-lubka1'
    if not root.is_dir():
        pytest.skip(f'{root} is absent')
    datamodule = RTSDataModule(
        root=str(root), modalities=MODALITIES, batch_size=4, length=16, stats_samples=8
    )
    datamodule.setup('fit')
    return datamodule


def chip_of(root: Path, bounds: Any, crs: rasterio.crs.CRS) -> Path:
    x, y = bounds[0], bounds[1]
    for path in sorted((root / 'val' / 'image').glob('*.tif')):
        with rasterio.open(path) as src:
            b = src.bounds
            if src.crs == crs and (b.left, b.bottom) == (x.start, y.start):
                return path
    raise AssertionError(f'no chip at {bounds}')


def test_training_batch(lubka: RTSDataModule) -> None:
    batch = next(iter(lubka.train_dataloader()))
    assert batch['image'].shape[1:] == (6, 256, 256)
    assert batch['channels'][0] == {
        'rgb': (0, 3),
        'ndvi': (3, 4),
        'nir': (4, 5),
        'slope': (5, 6),
    }
    ndvi = batch['image'][:, 3]
    assert float(ndvi.min()) >= -1.0
    assert float(ndvi.max()) <= 1.0
    for masks, boxes in zip(batch['mask'], batch['bbox_xyxy'], strict=True):
        for mask, (x0, y0, x1, y1) in zip(masks, boxes.int().tolist(), strict=True):
            assert mask.sum() == mask[y0:y1, x0:x1].sum() > 0
    # Half the windows are placed on slumps.
    assert sum(len(m) > 0 for m in batch['mask']) >= 1


def test_known_chip(lubka: RTSDataModule, data_dir: Path) -> None:
    root = data_dir / 's2-rts-lubka1'
    batch = next(iter(lubka.val_dataloader()))
    chip = chip_of(root, batch['bounds'][0], batch['crs'][0])
    with rasterio.open(chip) as src:
        blue, green, red, nir = src.read().astype(np.float64)
    image = batch['image'][0].double()
    np.testing.assert_array_equal(image[0].numpy(), red)
    np.testing.assert_array_equal(image[2].numpy(), blue)
    np.testing.assert_array_equal(image[4].numpy(), nir)
    row, col = 100, 57
    expected = (nir[row, col] - red[row, col]) / (nir[row, col] + red[row, col])
    assert float(image[3, row, col]) == pytest.approx(expected, abs=1e-6)
    valid = batch['valid'][0].numpy()
    np.testing.assert_array_equal(
        valid, (red > 0) & (green > 0) & (blue > 0) & (nir > 0)
    )
    with rasterio.open(root / 'val' / 'slope' / chip.name) as src:
        slope = src.read(1)
    np.testing.assert_allclose(image[5].numpy()[valid], slope[valid], rtol=1e-6)
    assert np.all(image[:, ~valid].numpy() == 0)  # nodata carries no signal
    with rasterio.open(root / 'val' / 'mask' / chip.name) as src:
        mask = src.read(1)
    _, components = ndimage.label(mask > 0, structure=np.ones((3, 3)))
    assert len(batch['mask'][0]) == components
    union = torch.stack(list(batch['mask'][0])).amax(0) if components else 0
    np.testing.assert_array_equal(np.asarray(union), (mask > 0).astype(np.uint8))


def test_synthetic_normalised_and_augmented(tmp_path: Path) -> None:
    make_synthetic_dataset(tmp_path / 'train', n_scenes=2, seed=0, size=192)
    make_synthetic_dataset(tmp_path / 'val', n_scenes=1, seed=9, size=192)
    datamodule = RTSDataModule(
        root=str(tmp_path), patch_size=96, batch_size=4, length=8, seed=3
    )
    datamodule.setup('fit')
    assert datamodule.gsd_m == pytest.approx(5.0)  # the synthetic scenes' pixels
    first = [b['bounds'] for b in datamodule.train_dataloader()]
    again = [b['bounds'] for b in datamodule.train_dataloader()]
    assert first == again  # seeded windows
    batch = next(iter(datamodule.train_dataloader()))
    normalised = datamodule.normalize(dict(batch, image=batch['image'].clone()))
    valid = batch['valid'].unsqueeze(1).expand_as(batch['image'])
    mean = normalised['image'][valid].mean()
    assert abs(float(mean)) < 1.0
    augmented = datamodule.augment(batch)
    for masks, boxes in zip(augmented['mask'], augmented['bbox_xyxy'], strict=True):
        for mask, (x0, y0, x1, y1) in zip(masks, boxes.int().tolist(), strict=True):
            assert mask.sum() == mask[y0:y1, x0:x1].sum()


def test_given_gsd_wins_over_the_rasters(tmp_path: Path) -> None:
    make_synthetic_dataset(tmp_path / 'train', n_scenes=1, seed=0, size=128, res=2.5)
    assert RTSDataModule(root=str(tmp_path)).training_gsd_m() == pytest.approx(2.5)
    given = RTSDataModule(root=str(tmp_path), gsd_m=3.0)
    assert given.training_gsd_m() == 3.0


def test_bad_configuration() -> None:
    with pytest.raises(ConfigError, match='either root='):
        RTSDataModule()
    with pytest.raises(ConfigError, match="unknown modality 'sar'"):
        RTSDataModule(root='x', modalities=('rgb', 'sar'))
    with pytest.raises(ConfigError, match="scene_norm='zscore' is unknown"):
        RTSDataModule(root='x', scene_norm='zscore')
    with pytest.raises(ConfigError, match='scene_reference= needs scene_norm'):
        RTSDataModule(root='x', scene_reference={'red': [1.0, 2.0]})


def test_scene_norm_stretches_training_and_mapping_alike(synthetic_root: Path) -> None:
    from rtsgeo.predict.reader import SceneReader
    from rtsgeo.predict.tiling import Tile
    from rtsgeo.transforms import measure_scene
    from rtsgeo.transforms.scene_norm import reference_percentiles

    datamodule = RTSDataModule(
        root=str(synthetic_root),
        patch_size=64,
        stats_samples=4,
        scene_norm='percentile',
    )
    datamodule.setup('test')
    stretch = datamodule.scene_stretch
    assert stretch is not None and datamodule.describe()['scene_norm'] == (
        stretch.to_dict()
    )
    bands = ('red', 'green', 'blue', 'nir')
    training = sorted((synthetic_root / 'train' / 'image').glob('*.tif'))
    measured = [measure_scene(path, BANDS, bands) for path in training]
    assert len(measured) == 2 and measured[0] != measured[1]
    assert stretch.ranges == reference_percentiles(measured)
    # A test scene read whole by the datamodule and by the scene predictor's reader
    test = datamodule.datasets['test']
    sample = test[0, test.datasets[0].bounds]
    assert sample['image'].shape[-2:] == (128, 128)
    batch = datamodule.normalize(
        {'image': sample['image'][None], 'valid': sample['valid'][None]}
    )
    path = synthetic_root / 'test' / 'image' / 'scene_000.tif'
    reader = SceneReader(
        path, datamodule.modalities, datamodule.stats, scene_stretch=stretch
    )
    with reader:
        image, valid = reader.read(Tile(0, 0, 0, 0, 128, (0, 128, 0, 128)))
    assert reader.scene_percentiles() == measure_scene(path, BANDS, bands)
    assert torch.equal(valid, sample['valid'])
    assert torch.equal(image, batch['image'][0])  # the same arithmetic
    # the statistics are those of stretched windows: not the raw ones
    plain = RTSDataModule(root=str(synthetic_root), patch_size=64, stats_samples=4)
    plain.setup('test')
    assert plain.stats is not None and datamodule.stats is not None
    assert plain.stats['rgb'] != datamodule.stats['rgb']
    assert 'scene_norm' not in plain.describe()


def test_split_by_region_polygons(tmp_path: Path) -> None:
    import geopandas as gpd
    import shapely

    scenes = make_synthetic_dataset(tmp_path / 'scenes', n_scenes=2, seed=4, size=192)
    boxes = [shapely.box(*scene.bounds) for scene in scenes]
    regions = gpd.GeoDataFrame(
        {'split': ['train', 'val'], 'region': ['west', 'east']},
        geometry=boxes,
        crs=scenes[0].crs,
    ).to_crs('EPSG:4326')  # regions may come in any CRS
    regions.to_file(tmp_path / 'regions.gpkg')
    datamodule = RTSDataModule(
        images=str(tmp_path / 'scenes' / 'image'),
        labels=[str(s.labels_path) for s in scenes],
        regions=str(tmp_path / 'regions.gpkg'),
        patch_size=64,
        batch_size=4,
        length=8,
    )
    datamodule.setup('fit')
    for batch in datamodule.train_dataloader():
        for bounds in batch['bounds']:
            centre = shapely.Point(
                (bounds[0].start + bounds[0].stop) / 2,
                (bounds[1].start + bounds[1].stop) / 2,
            )
            assert boxes[0].buffer(64 * scenes[0].res).contains(centre)
    val = next(iter(datamodule.val_dataloader()))
    assert set(val['region']) == {'east'}


def masked_chip_root(tmp_path: Path, data_dir: Path) -> Any:
    """A root with the real chip in every split and its SCL in ``<split>/scl/``.

    The chip's cloud cuts its largest slump; a second cloud hides its smallest.
    """
    from tests.campaign.test_quality_real import CHIP, _scl, _write, make_chip

    chip = make_chip(data_dir)
    labels, count = ndimage.label(chip.reference, np.ones((3, 3)))
    assert count >= 2
    hidden = labels == 1 + int(
        np.argmin(ndimage.sum(chip.reference, labels, range(1, count + 1)))
    )
    chip.classes['cloud'] |= ndimage.binary_dilation(hidden, iterations=2)
    root = data_dir / 's2-rts-lubka1'
    for split in ('train', 'val', 'test'):
        for kind in ('image', 'mask'):
            folder = tmp_path / split / kind
            folder.mkdir(parents=True)
            # A copy in the test's folder (not a link: files are found
            # through their resolved paths, where the template looks).
            shutil.copy(root / CHIP.format(kind), folder / chip.path.name)
        (tmp_path / split / 'scl').mkdir()
        _write(tmp_path / split / 'scl' / chip.path.name, _scl(chip), chip)
    return chip


def test_quality_mask_hides_pixels_and_labels(tmp_path: Path, data_dir: Path) -> None:
    chip = masked_chip_root(tmp_path, data_dir)
    stats = {
        m: {'mean': [0.0] * c, 'std': [1.0] * c}
        for m, c in (('rgb', 3), ('ndvi', 1), ('nir', 1))
    }
    common = {'root': str(tmp_path), 'patch_size': 256, 'batch_size': 1, 'stats': stats}
    masked = RTSDataModule(quality_mask='scl={dir}/../scl/{stem}.tif', **common)
    plain = RTSDataModule(**common)
    for module in (masked, plain):
        module.setup('test')
    got = next(iter(masked.test_dataloader()))
    want = next(iter(plain.test_dataloader()))
    assert 'unobserved' not in got
    unobserved = torch.from_numpy(chip.unobserved)
    np.testing.assert_array_equal(got['valid'][0], want['valid'][0] & ~unobserved)
    assert (got['image'][0][:, unobserved] == 0).all()
    masks = got['mask'][0]
    assert not (masks.bool() & unobserved).any()  # no label under a cloud
    assert len(masks) == len(want['mask'][0]) - 1  # the hidden slump is gone
    union = masks.amax(0).bool()
    expected = torch.from_numpy(chip.reference) & ~unobserved
    np.testing.assert_array_equal(union, expected)
    for mask, (x0, y0, x1, y1) in zip(
        masks, got['bbox_xyxy'][0].int().tolist(), strict=True
    ):
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        assert (x0, y0, x1, y1) == (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
