from __future__ import annotations

import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import rasterio.features
import shapely
from rasterio.crs import CRS
from scipy import ndimage

from rtsgeo.datasets.synthetic import (
    SyntheticScene,
    make_synthetic_dataset,
    make_synthetic_scene,
    make_synthetic_splits,
)
from rtsgeo.errors import ConfigError


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


def ring_around(mask: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Pixels 3-10 px away from any slump: the slumps' surroundings."""
    near = ndimage.binary_dilation(mask, iterations=10)
    return near & ~ndimage.binary_dilation(mask, iterations=2) & valid


@pytest.fixture(scope='module')
def scene(tmp_path_factory: pytest.TempPathFactory) -> SyntheticScene:
    return make_synthetic_scene(tmp_path_factory.mktemp('scene'), seed=3)


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    a = make_synthetic_scene(tmp_path / 'a', seed=7, size=128, n_slumps=3)
    b = make_synthetic_scene(tmp_path / 'b', seed=7, size=128, n_slumps=3)
    c = make_synthetic_scene(tmp_path / 'c', seed=8, size=128, n_slumps=3)
    assert np.array_equal(read(a.image_path), read(b.image_path))
    assert np.array_equal(read(a.mask_path), read(b.mask_path))
    polys_a = gpd.read_file(a.labels_path).geometry
    polys_b = gpd.read_file(b.labels_path).geometry
    assert all(pa.equals_exact(pb, 0) for pa, pb in zip(polys_a, polys_b, strict=True))
    assert not np.array_equal(read(a.image_path), read(c.image_path))
    assert not np.array_equal(read(a.mask_path), read(c.mask_path))


def test_raster_metadata(scene: SyntheticScene) -> None:
    with rasterio.open(scene.image_path) as src:
        assert src.crs == CRS.from_epsg(32608)
        assert src.count == 4
        assert src.dtypes == ('uint16',) * 4
        assert src.descriptions == ('blue', 'green', 'red', 'nir')
        assert src.nodata == 0
        assert src.transform == rasterio.Affine(5.0, 0, 500000.0, 0, -5.0, 7600000.0)
        assert (src.width, src.height) == (384, 384)
        assert src.block_shapes[0] == (256, 256)
        assert src.compression is not None
        assert src.compression.value == 'DEFLATE'
        assert tuple(src.bounds) == scene.bounds
        image = src.read()
    # Sentinel-2-like reflectance x 1e4 and vegetated tundra: NIR well above red.
    assert 100 < image[2].mean() < 1500
    assert image[3].mean() > 2 * image[2].mean()
    with rasterio.open(scene.mask_path) as src:
        assert src.dtypes == ('uint16',)
        assert src.transform == rasterio.Affine(5.0, 0, 500000.0, 0, -5.0, 7600000.0)
        assert src.crs == CRS.from_epsg(32608)
    labels = gpd.read_file(scene.labels_path, layer='slumps')
    assert labels.crs == CRS.from_epsg(32608)
    assert list(labels['id']) == list(range(1, scene.n_slumps + 1))
    assert set(labels['shape']) <= {'horseshoe', 'teardrop', 'lobate'}
    assert np.allclose(labels['area_m2'], labels.geometry.area)


def test_polygons_rasterise_exactly_to_mask(scene: SyntheticScene) -> None:
    labels = gpd.read_file(scene.labels_path, layer='slumps')
    mask = read(scene.mask_path)[0]
    redrawn = rasterio.features.rasterize(
        zip(labels.geometry, labels['id'], strict=True),
        out_shape=mask.shape,
        transform=scene.transform,
        dtype='uint16',
    )
    assert np.array_equal(redrawn, mask)
    for slump_id, geom in zip(labels['id'], labels.geometry, strict=True):
        alone = rasterio.features.rasterize(
            [geom], out_shape=mask.shape, transform=scene.transform
        )
        union = np.logical_or(alone, mask == slump_id).sum()
        assert np.logical_and(alone, mask == slump_id).sum() / union == 1.0


def test_slump_count_size_and_inside(scene: SyntheticScene) -> None:
    mask = read(scene.mask_path)[0]
    assert scene.n_slumps == 8
    assert sorted(np.unique(mask)) == list(range(9))
    box = shapely.box(*scene.bounds)
    labels = gpd.read_file(scene.labels_path)
    assert labels.geometry.within(box).all()
    assert not labels.geometry.union_all().is_empty
    assert labels.geometry.is_valid.all()
    # No two slumps touch: each is its own 8-connected component.
    _, components = ndimage.label(mask > 0, structure=np.ones((3, 3)))
    assert components == 8
    for i in range(1, 9):
        rows, cols = np.nonzero(mask == i)
        across = max(np.ptp(rows), np.ptp(cols)) + 1
        assert 8 <= across <= 70, f'slump {i} is {across} px across'


def test_ndvi_lower_inside_slumps(scene: SyntheticScene) -> None:
    image = read(scene.image_path).astype(float)
    mask = read(scene.mask_path)[0] > 0
    ndvi = (image[3] - image[2]) / (image[3] + image[2])
    assert ndvi[mask].mean() < ndvi[~mask].mean() - 0.3
    ring = ring_around(mask, image.sum(0) > 0)
    # visibility='all': slumps are much brighter in RGB than their surroundings.
    for band in range(3):
        assert image[band][mask].mean() > 1.3 * image[band][ring].mean()


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_nir_only_hides_slumps_in_rgb(tmp_path: Path, seed: int) -> None:
    scene = make_synthetic_scene(tmp_path, seed=seed, visibility='nir_only')
    image = read(scene.image_path).astype(float)
    mask = read(scene.mask_path)[0] > 0
    ring = ring_around(mask, image.sum(0) > 0)
    # Same distribution, but spatially correlated texture: the means of a few
    # thousand pixels differ by a few percent (visibility='all': over 30 %).
    for band in range(3):
        inside, around = image[band][mask], image[band][ring]
        assert abs(inside.mean() - around.mean()) < 0.06 * around.mean()
        assert abs(inside.std() - around.std()) < 0.15 * around.std()
    assert image[3][mask].mean() < 0.7 * image[3][ring].mean()
    ndvi = (image[3] - image[2]) / (image[3] + image[2])
    assert ndvi[mask].mean() < ndvi[ring].mean() - 0.1


def test_nir_only_leaves_rgb_untouched(tmp_path: Path) -> None:
    hidden = make_synthetic_scene(tmp_path / 'a', seed=4, visibility='nir_only')
    shown = make_synthetic_scene(tmp_path / 'b', seed=4, visibility='all')
    image_hidden, image_shown = read(hidden.image_path), read(shown.image_path)
    mask = read(hidden.mask_path)[0] > 0
    assert np.array_equal(mask, read(shown.mask_path)[0] > 0)
    # Same seed: NIR is the same everywhere, RGB the same outside the slumps,
    # and inside them RGB differs only where visibility='all' painted soil.
    assert np.array_equal(image_hidden[3], image_shown[3])
    assert np.array_equal(image_hidden[:3, ~mask], image_shown[:3, ~mask])
    assert (image_hidden[:3, mask] < image_shown[:3, mask]).mean() > 0.95


def test_nodata_hole_has_no_slump(tmp_path: Path) -> None:
    scene = make_synthetic_scene(tmp_path, seed=2, nodata_hole=True)
    image = read(scene.image_path)
    mask = read(scene.mask_path)[0]
    hole = (image == 0).all(axis=0)
    assert 0.01 < hole.mean() < 0.3
    assert not (image == 0).any(axis=0)[~hole].any()
    assert not (mask[hole] > 0).any()
    assert scene.n_slumps == 8


def test_edge_slumps_cut_by_the_edge(tmp_path: Path) -> None:
    scene = make_synthetic_scene(
        tmp_path, seed=0, size=128, n_slumps=6, edge_slumps=True
    )
    labels = gpd.read_file(scene.labels_path)
    box = shapely.box(*scene.bounds)
    assert (~labels.geometry.within(box)).any()
    mask = read(scene.mask_path)[0]
    redrawn = rasterio.features.rasterize(
        zip(labels.geometry, labels['id'], strict=True),
        out_shape=mask.shape,
        transform=scene.transform,
        dtype='uint16',
    )
    assert np.array_equal(redrawn, mask)


def test_fast(tmp_path: Path) -> None:
    start = time.perf_counter()
    make_synthetic_scene(tmp_path, seed=11)
    assert time.perf_counter() - start < 3.0


def test_dataset_scenes_differ_and_do_not_overlap(tmp_path: Path) -> None:
    scenes = make_synthetic_dataset(tmp_path, n_scenes=3, seed=5, size=128, n_slumps=2)
    assert [s.image_path.name for s in scenes] == [
        'scene_000.tif',
        'scene_001.tif',
        'scene_002.tif',
    ]
    assert len({s.seed for s in scenes}) == 3
    boxes = [shapely.box(*s.bounds) for s in scenes]
    for i in range(3):
        for j in range(i + 1, 3):
            assert not boxes[i].intersects(boxes[j])
    assert not np.array_equal(read(scenes[0].image_path), read(scenes[1].image_path))
    again = make_synthetic_dataset(tmp_path / 'again', n_scenes=1, seed=5, size=128)
    assert again[0].seed == scenes[0].seed


def test_splits_layout_and_seeds(tmp_path: Path) -> None:
    root = make_synthetic_splits(
        tmp_path / 'data', seed=2, counts=(2, 1, 3), size=128, n_slumps=2
    )
    assert root == tmp_path / 'data'
    for split, count in (('train', 2), ('val', 1), ('test', 3)):
        assert len(list((root / split / 'image').glob('*.tif'))) == count
        assert len(list((root / split / 'mask').glob('*.tif'))) == count
    # Split i is make_synthetic_dataset with seed 10 * seed + i.
    test = make_synthetic_dataset(
        tmp_path / 'test', n_scenes=3, seed=22, size=128, n_slumps=2
    )
    for scene in test:
        mine = root / 'test' / 'image' / scene.image_path.name
        assert np.array_equal(read(mine), read(scene.image_path))
    with pytest.raises(ConfigError, match='counts needs three'):
        make_synthetic_splits(tmp_path / 'bad', counts=(1, 1))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match='counts needs three'):
        make_synthetic_splits(tmp_path / 'bad', counts=(1, 0, 1))


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match='visibility'):
        make_synthetic_scene(tmp_path, visibility='rgb')  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match='n_slumps=200'):
        make_synthetic_scene(tmp_path, size=64, n_slumps=200)
    with pytest.raises(ConfigError, match='name'):
        make_synthetic_dataset(tmp_path, n_scenes=2, seed=1, name='x')
