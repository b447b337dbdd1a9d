"""MultimodalRasterDataset, InstanceMaskDataset and their errors on bad input."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
import torch
from pyproj import CRS
from rasterio.transform import from_origin

from rtsgeo.datasets import (
    InstanceMaskDataset,
    MultimodalRasterDataset,
    build_instance_dataset,
)
from rtsgeo.errors import (
    BandNotFoundError,
    CorruptRasterError,
    CRSMismatchError,
    DataNotFoundError,
    InvalidImageryError,
    LabelsOutsideImageryWarning,
)

ORIGIN = (500000.0, 7600000.0)


def write(
    path: Path,
    data: np.ndarray,
    crs: str = 'EPSG:32608',
    res: float = 10.0,
    origin: tuple[float, float] = ORIGIN,
    descriptions: tuple[str, ...] | None = None,
    nodata: float | None = None,
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    count, height, width = data.shape
    profile = {
        'driver': 'GTiff',
        'width': width,
        'height': height,
        'count': count,
        'dtype': data.dtype,
        'crs': crs,
        'transform': from_origin(*origin, res, res),
        'nodata': nodata,
    }
    with rasterio.open(path, 'w', **profile) as dst:
        dst.write(data)
        if descriptions:
            dst.descriptions = descriptions
    return path


def bgrn(height: int = 32, width: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(100, 5000, size=(4, height, width)).astype(np.uint16)


BGRN = ('blue', 'green', 'red', 'nir')


def first_query(ds: MultimodalRasterDataset) -> tuple[slice, slice]:
    x, y, _ = ds.bounds
    return slice(x.start, x.stop), slice(y.start, y.stop)


def test_channel_order_and_ndvi(tmp_path: Path) -> None:
    data = bgrn()
    path = write(tmp_path / 'scene.tif', data, descriptions=BGRN)
    ds = MultimodalRasterDataset(path, modalities=('rgb', 'ndvi', 'nir'))
    sample = ds[first_query(ds)]
    image = sample['image']
    assert image.shape == (5, 32, 32)
    assert sample['channels'] == {'rgb': (0, 3), 'ndvi': (3, 4), 'nir': (4, 5)}
    red, green, blue, nir = (data[i].astype(np.float32) for i in (2, 1, 0, 3))
    np.testing.assert_array_equal(image[0].numpy(), red)
    np.testing.assert_array_equal(image[1].numpy(), green)
    np.testing.assert_array_equal(image[2].numpy(), blue)
    np.testing.assert_allclose(image[3].numpy(), (nir - red) / (nir + red), rtol=1e-5)
    np.testing.assert_array_equal(image[4].numpy(), nir)
    assert bool(sample['valid'].all())


def test_sensor_preset_for_undescribed_bands(tmp_path: Path) -> None:
    data = bgrn()
    rgbn = data[[2, 1, 0, 3]]
    path = write(tmp_path / 'rgbn.tif', rgbn)
    ds = MultimodalRasterDataset(path, modalities=('rgb',), sensor='rgbn')
    image = ds[first_query(ds)]['image']
    np.testing.assert_array_equal(image[0].numpy(), data[2].astype(np.float32))


def test_nodata_is_zero_and_invalid(tmp_path: Path) -> None:
    data = bgrn()
    data[:, :4, :4] = 0
    path = write(tmp_path / 'scene.tif', data, descriptions=BGRN, nodata=0)
    ds = MultimodalRasterDataset(path, modalities=('rgb', 'ndvi'))
    sample = ds[first_query(ds)]
    assert not sample['valid'][:4, :4].any()
    assert sample['valid'][4:, 4:].all()
    assert torch.all(sample['image'][:, :4, :4] == 0)


def test_extra_modality_is_aligned_from_another_crs(tmp_path: Path) -> None:
    write(tmp_path / 'image' / 'a.tif', bgrn(), descriptions=BGRN)
    slope = np.full((1, 40, 40), 7.5, dtype=np.float32)
    # The same ground in UTM 7N instead of 8N.
    crs8, crs7 = rasterio.crs.CRS.from_epsg(32608), rasterio.crs.CRS.from_epsg(32607)
    x, y = rasterio.warp.transform(crs8, crs7, [ORIGIN[0] - 40], [ORIGIN[1] + 40])
    write(tmp_path / 'slope' / 'a.tif', slope, crs='EPSG:32607', origin=(x[0], y[0]))
    ds = MultimodalRasterDataset(
        {'image': tmp_path / 'image', 'slope': tmp_path / 'slope'},
        modalities=('rgb', 'slope'),
    )
    sample = ds[first_query(ds)]
    assert ds.crs.to_epsg() == 32608
    centre = sample['image'][3, 8:24, 8:24]
    np.testing.assert_allclose(centre.numpy(), 7.5, rtol=1e-5)


def test_instances_from_binary_mask(tmp_path: Path) -> None:
    mask = np.zeros((1, 32, 32), dtype=np.uint8)
    mask[0, 2:6, 2:6] = 1
    mask[0, 6, 6] = 1  # touches the first one diagonally: same object
    mask[0, 20:30, 10:12] = 1
    mask[0, 0, 31] = 1  # one pixel
    path = write(tmp_path / 'mask.tif', mask)
    labels = InstanceMaskDataset(path, min_area=2)
    x, y, _ = labels.bounds
    sample = labels[slice(x.start, x.stop), slice(y.start, y.stop)]
    assert sample['mask'].shape == (2, 32, 32)
    assert sample['bbox_xyxy'].tolist() == [[2, 2, 7, 7], [10, 20, 12, 30]]
    assert sample['label'].tolist() == [1, 1]


def test_setting_crs_and_res_moves_the_labels_onto_the_new_grid(
    tmp_path: Path,
) -> None:
    # What IntersectionDataset does to its second dataset.
    mask = np.zeros((1, 64, 64), dtype=np.uint8)
    mask[0, 20:40, 20:40] = 1
    crs8, crs7 = rasterio.crs.CRS.from_epsg(32608), rasterio.crs.CRS.from_epsg(32607)
    x, y = rasterio.warp.transform(crs8, crs7, [ORIGIN[0]], [ORIGIN[1]])
    path = write(tmp_path / 'mask.tif', mask, crs='EPSG:32607', origin=(x[0], y[0]))
    labels = InstanceMaskDataset(path)
    labels.crs = CRS.from_epsg(32608)
    labels.res = 5.0
    assert labels.crs.to_epsg() == 32608 and labels.res == (5.0, 5.0)
    bounds = labels.index.total_bounds
    assert abs(bounds[0] - ORIGIN[0]) < 100 and abs(bounds[3] - ORIGIN[1]) < 100
    sample = labels[
        ORIGIN[0] : ORIGIN[0] + 640 : 5.0, ORIGIN[1] - 640 : ORIGIN[1] : 5.0
    ]
    assert sample['mask'].shape[1:] == (128, 128)
    assert len(sample['mask']) == 1
    # 200 m x 200 m, give or take the warp's edge pixels.
    assert 1500 <= int(sample['mask'][0].sum()) <= 1700


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r'nope\.tif does not exist'):
        MultimodalRasterDataset(tmp_path / 'nope.tif')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(DataNotFoundError, match='holds no raster file'):
        MultimodalRasterDataset(tmp_path / 'empty')


def test_missing_band_named(tmp_path: Path) -> None:
    path = write(
        tmp_path / 'rgb.tif', bgrn()[:3], descriptions=('blue', 'green', 'red')
    )
    with pytest.raises(
        BandNotFoundError, match=r"modality 'nir' needs band 'nir'.*rgb\.tif"
    ):
        MultimodalRasterDataset(path, modalities=('rgb', 'nir'))


def test_undescribed_bands_without_sensor(tmp_path: Path) -> None:
    path = write(tmp_path / 'plain.tif', bgrn())
    with pytest.raises(
        BandNotFoundError, match=r'plain\.tif has 4 bands without descriptions'
    ):
        MultimodalRasterDataset(path)


def test_scenes_on_several_crs_refused(tmp_path: Path) -> None:
    write(tmp_path / 'a.tif', bgrn(), descriptions=BGRN)
    write(tmp_path / 'b.tif', bgrn(), crs='EPSG:32607', descriptions=BGRN)
    with pytest.raises(CRSMismatchError, match=r'on 2 CRSs.*EPSG:32607.*EPSG:32608'):
        MultimodalRasterDataset(tmp_path)


def test_corrupt_file(tmp_path: Path) -> None:
    bad = tmp_path / 'bad.tif'
    bad.write_bytes(b'not a tiff at all')
    with pytest.raises(CorruptRasterError, match=r'bad\.tif cannot be opened'):
        MultimodalRasterDataset(bad)


def test_truncated_file(tmp_path: Path) -> None:
    data = np.random.default_rng(0).integers(1, 5000, (4, 256, 256)).astype(np.uint16)
    path = write(tmp_path / 'cut.tif', data, descriptions=BGRN)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    # GDAL notices the truncation when it opens the file (the IFD is written
    # last) or, for other layouts, when it reads the missing tiles.
    with pytest.raises(
        CorruptRasterError, match=r'cut\.tif .*(cannot be opened|failed)'
    ):
        ds = MultimodalRasterDataset(path)
        ds[first_query(ds)]


def test_nan_in_float_imagery(tmp_path: Path) -> None:
    data = bgrn().astype(np.float32)
    data[3, 5, 5] = np.nan
    path = write(tmp_path / 'float.tif', data, descriptions=BGRN)
    ds = MultimodalRasterDataset(path, modalities=('rgb', 'nir'))
    with pytest.raises(InvalidImageryError, match=r'float.tif holds 1 NaN values'):
        ds[first_query(ds)]
    ds = MultimodalRasterDataset(path, modalities=('rgb', 'nir'), nan_as_nodata=True)
    sample = ds[first_query(ds)]
    assert not sample['valid'][5, 5]
    assert int((~sample['valid']).sum()) == 1


def test_labels_outside_imagery_warn_with_counts(tmp_path: Path) -> None:
    image = write(tmp_path / 'scene.tif', bgrn(), descriptions=BGRN)
    inside = shapely.box(
        ORIGIN[0] + 50, ORIGIN[1] - 100, ORIGIN[0] + 100, ORIGIN[1] - 50
    )
    outside = shapely.box(
        ORIGIN[0] + 1e4, ORIGIN[1], ORIGIN[0] + 1e4 + 50, ORIGIN[1] + 50
    )
    labels = tmp_path / 'labels.gpkg'
    gpd.GeoDataFrame(geometry=[inside, outside, outside], crs='EPSG:32608').to_file(
        labels
    )
    with pytest.warns(LabelsOutsideImageryWarning, match='2 of 3 label polygons'):
        dataset = build_instance_dataset(image, labels, modalities=('rgb',))
    assert len(dataset) == 1


def handles_on(path: Path) -> int:
    """File descriptors of this process open on *path* (Linux)."""
    fds = Path('/proc/self/fd')
    return sum(1 for fd in fds.iterdir() if fd.resolve() == path.resolve())


def test_uncached_reads_match_cached(tmp_path: Path) -> None:
    path = write(tmp_path / 'scene.tif', bgrn(), descriptions=BGRN)
    uncached = MultimodalRasterDataset(path, modalities=('rgb', 'ndvi'), cache=False)
    query = first_query(uncached)
    image = uncached[query]['image']
    assert handles_on(path) == 0  # every file is closed after the read
    cached = MultimodalRasterDataset(path, modalities=('rgb', 'ndvi'))
    torch.testing.assert_close(cached[query]['image'], image)
    assert handles_on(path) == 1  # kept open for the next read
    torch.testing.assert_close(cached[query]['image'], image)
    assert handles_on(path) == 1


def test_forked_worker_opens_its_own_handles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GDAL handles opened before a DataLoader forks its workers share their
    # file offsets with the parent: a worker must open its own.
    import os

    from rtsgeo.datasets import _reader

    path = write(tmp_path / 'scene.tif', bgrn(), descriptions=BGRN)
    dataset = MultimodalRasterDataset(path, modalities=('rgb', 'ndvi'))
    query = first_query(dataset)
    image = dataset[query]['image']
    assert handles_on(path) == 1
    # The parent process keeps its handle (here: this reference to it).
    parents = list(dataset._sources[0]._handles.values())
    parent = os.getpid()
    monkeypatch.setattr(_reader.os, 'getpid', lambda: parent + 1)
    torch.testing.assert_close(dataset[query]['image'], image)
    assert handles_on(path) == 2  # the "worker's" own handle beside the parent's
    torch.testing.assert_close(dataset[query]['image'], image)
    assert handles_on(path) == 2  # and it is reused
    assert all(not h.closed for h in parents)
    assert all(h not in parents for h in dataset._sources[0]._handles.values())


def test_close_releases_handles_and_reads_again(tmp_path: Path) -> None:
    path = write(tmp_path / 'scene.tif', bgrn(), descriptions=BGRN)
    dataset = MultimodalRasterDataset(path, modalities=('rgb', 'ndvi'))
    query = first_query(dataset)
    image = dataset[query]['image']
    assert handles_on(path) == 1
    dataset._sources[0].close()
    assert handles_on(path) == 0 and dataset._sources[0].open_files == []
    torch.testing.assert_close(dataset[query]['image'], image)  # opens it again
    assert handles_on(path) == 1


def test_quality_mask_of_part_of_the_scene(tmp_path: Path) -> None:
    path = write(tmp_path / 'scene.tif', bgrn(), descriptions=BGRN)
    # A 20 m non-zero mask over the upper half only, its left half set.
    mask = np.zeros((1, 8, 16), np.uint8)
    mask[0, :, :8] = 1
    write(tmp_path / 'scene_clouds.tif', mask, res=20.0)
    ds = MultimodalRasterDataset(
        path, modalities=('rgb',), quality_mask='nonzero={dir}/{stem}_clouds.tif'
    )
    sample = ds[first_query(ds)]
    expected = np.zeros((32, 32), bool)
    expected[:16, :16] = True  # the clouds
    expected[16:] = True  # beyond the mask raster: not observed
    np.testing.assert_array_equal(sample['unobserved'], expected)
    np.testing.assert_array_equal(sample['valid'], ~expected)
    assert (sample['image'][:, torch.from_numpy(expected)] == 0).all()
    with pytest.raises(DataNotFoundError, match=r'quality mask .*none\.tif'):
        MultimodalRasterDataset(path, quality_mask='nonzero=none.tif')
    with pytest.raises(BandNotFoundError, match="has no band 'scl'"):
        MultimodalRasterDataset(path, quality_mask='scl')


def test_scene_stretch_undoes_a_gain_and_offset(tmp_path: Path) -> None:
    from rtsgeo.datasets import make_synthetic_scene

    from ._rescaled import STRETCH, rescaled_scene

    scene = make_synthetic_scene(
        tmp_path, seed=4, size=96, n_slumps=2, nodata_hole=True
    )
    other = rescaled_scene(scene.image_path, tmp_path / 'other.tif')
    samples = []
    for path in (scene.image_path, other):
        for stretch in (STRETCH, None):
            ds = MultimodalRasterDataset(
                path, ('rgb', 'ndvi', 'nir'), scene_stretch=stretch
            )
            samples.append(ds[ds.bounds])
    stretched, raw, other_stretched, other_raw = samples
    ok = stretched['valid']
    assert torch.equal(ok, other_stretched['valid']) and not ok.all()
    assert torch.allclose(
        stretched['image'][:, ok], other_stretched['image'][:, ok], rtol=1e-4, atol=1e-3
    )
    assert not torch.allclose(raw['image'][:, ok], other_raw['image'][:, ok], rtol=0.05)
    assert (stretched['image'][:, ~ok] == 0).all()
    # each band's 2nd and 98th percentiles land on the reference
    for channel, band in enumerate(('red', 'green', 'blue')):
        values = stretched['image'][channel][ok].double().numpy()
        expected = STRETCH.ranges[band]
        assert tuple(np.percentile(values, [2, 98])) == pytest.approx(
            expected, rel=1e-4
        )


def test_each_file_of_a_window_gets_its_own_stretch(tmp_path: Path) -> None:
    from ._rescaled import STRETCH

    data = bgrn(32, 32, seed=5)
    brighter = (data.astype(np.float32) * 1.8 + 300.0).astype(np.float32)
    left = write(tmp_path / 'scenes' / 'a.tif', data, descriptions=BGRN)
    right_origin = (ORIGIN[0] + 320.0, ORIGIN[1])
    right = write(
        tmp_path / 'scenes' / 'b.tif', brighter, origin=right_origin, descriptions=BGRN
    )
    both = MultimodalRasterDataset(
        tmp_path / 'scenes', ('rgb', 'nir'), scene_stretch=STRETCH
    )
    window = both[both.bounds]['image']
    assert window.shape == (4, 32, 64)
    for path, part in ((left, window[..., :32]), (right, window[..., 32:])):
        alone = MultimodalRasterDataset(path, ('rgb', 'nir'), scene_stretch=STRETCH)
        assert torch.equal(part, alone[alone.bounds]['image'])
    # one file is the other with a gain and an offset: after the stretch, alike
    assert torch.allclose(window[..., :32], window[..., 32:], rtol=1e-4, atol=1e-2)
