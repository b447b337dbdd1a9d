"""The scene reader's one-pass numpy path against the reference torch path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from rtsgeo.modalities import compute_modalities
from rtsgeo.predict.reader import SceneReader
from rtsgeo.predict.tiling import Tile, tile_windows
from rtsgeo.transforms import NormalizeModalities

MODALITIES = ('rgb', 'ndvi', 'nir')
STATS = {
    'rgb': {'mean': [310.5, 402.25, 280.0], 'std': [55.5, 61.0, 47.3]},
    'ndvi': {'mean': [0.31], 'std': [0.17]},
    'nir': {'mean': [900.0], 'std': [120.7]},
}


def _scene(path: Path, dtype: str, nodata: float | None, size: int = 70) -> Path:
    """Four bands with nodata pixels, NaNs (float only) and dark pixels."""
    rng = np.random.default_rng(3)
    data = rng.integers(0, 1200, (4, size, size)).astype(dtype)
    data[:, :5, :9] = 0  # red + nir sum to 0: NDVI's safe denominator
    if nodata is not None:
        data[2, 30:34, 10:40] = nodata  # nodata in one band only
    if dtype.startswith('float'):
        data[1, 50:52, 3:60] = np.nan
        data[3, 60, 60] = np.inf
    with rasterio.open(
        path,
        'w',
        driver='GTiff',
        width=size,
        height=size,
        count=4,
        dtype=dtype,
        crs='EPSG:32608',
        transform=from_origin(500000, 7600000, 10, 10),
        nodata=nodata,
    ) as dst:
        dst.write(data)
        for band, name in enumerate(('blue', 'green', 'red', 'nir'), start=1):
            dst.set_band_description(band, name)
    return path


def _reference(reader: SceneReader, tile: Tile) -> tuple[torch.Tensor, torch.Tensor]:
    """compute_modalities then NormalizeModalities, as the training data path."""
    size = tile.size
    data = np.zeros((len(reader.indexes), size, size), np.float32)
    valid = np.zeros((size, size), bool)
    with rasterio.open(reader.path) as src:
        r0, c0 = max(tile.row_off, 0), max(tile.col_off, 0)
        r1 = min(tile.row_off + size, src.height)
        c1 = min(tile.col_off + size, src.width)
        window = ((r0, r1), (c0, c1))
        block = src.read(reader.indexes, window=window, out_dtype='float32')
        ok = np.isfinite(block).all(0)
        if src.nodata is not None:
            ok &= (block != np.float32(src.nodata)).all(0)
        rows = slice(r0 - tile.row_off, r1 - tile.row_off)
        cols = slice(c0 - tile.col_off, c1 - tile.col_off)
        data[:, rows, cols] = np.where(ok, block, 0.0)
        valid[rows, cols] = ok
    bands = {name: torch.from_numpy(data[i]) for i, name in enumerate(reader.bands)}
    mask = torch.from_numpy(valid)
    image = compute_modalities(bands, MODALITIES, mask)
    batch = NormalizeModalities(STATS, MODALITIES)(
        {'image': image[None], 'valid': mask[None]}
    )
    return batch['image'][0], mask


@pytest.mark.parametrize(
    ('dtype', 'nodata'), [('uint16', 0), ('float32', -9999.0), ('float32', None)]
)
def test_read_equals_compute_modalities_then_normalise(
    tmp_path: Path, dtype: str, nodata: float | None
) -> None:
    path = _scene(tmp_path / 'scene.tif', dtype, nodata)
    with SceneReader(path, MODALITIES, STATS) as reader:
        assert reader.channels == 5
        # Tiles inside the scene and past each edge (padding).
        tiles = tile_windows(reader.width, reader.height, 32, 8, (5, 3))
        assert any(t.row_off < 0 for t in tiles)
        assert any(t.col_off + t.size > reader.width for t in tiles)
        for tile in tiles:
            image, valid = reader.read(tile)
            expected_image, expected_valid = _reference(reader, tile)
            assert torch.equal(valid, expected_valid), tile
            assert torch.equal(image, expected_image), tile
            assert bool(torch.isfinite(image).all())
            assert bool((image[:, ~valid] == 0).all())


def test_read_into_reused_arrays_leaves_nothing_of_the_last_tile(
    tmp_path: Path,
) -> None:
    path = _scene(tmp_path / 'scene.tif', 'uint16', 0)
    with SceneReader(path, MODALITIES, STATS) as reader:
        image = np.full((5, 32, 32), 7.0, np.float32)
        valid = np.ones((32, 32), bool)
        outside = Tile(0, 0, -40, -40, 32, (0, 0, 0, 0))
        assert not reader.read_into(outside, image, valid)
        assert not image.any() and not valid.any()
        edge = Tile(0, 0, 50, 50, 32, (50, 70, 50, 70))
        image.fill(7.0)
        valid.fill(True)
        assert reader.read_into(edge, image, valid)
        expected_image, expected_valid = _reference(reader, edge)
        assert np.array_equal(valid, expected_valid.numpy())
        assert np.array_equal(image, expected_image.numpy())


def test_scene_stretch_undoes_a_gain_and_offset_in_every_tile(tmp_path: Path) -> None:
    from rtsgeo.datasets import make_synthetic_scene
    from tests.datasets._rescaled import STRETCH, rescaled_scene

    scene = make_synthetic_scene(
        tmp_path, seed=4, size=96, n_slumps=2, nodata_hole=True
    )
    other = rescaled_scene(scene.image_path, tmp_path / 'other.tif')
    with (
        SceneReader(scene.image_path, MODALITIES, STATS, scene_stretch=STRETCH) as a,
        SceneReader(other, MODALITIES, STATS, scene_stretch=STRETCH) as b,
        SceneReader(other, MODALITIES, STATS) as raw,
    ):
        first = a.scene_percentiles()
        assert first is not None and set(first) == {'red', 'green', 'blue', 'nir'}
        assert a.scene_percentiles() is first  # measured once
        tiles = tile_windows(a.width, a.height, 40, 8, (5, 3))
        for tile in tiles:
            image, valid = a.read(tile)
            other_image, other_valid = b.read(tile)
            assert torch.equal(valid, other_valid), tile
            assert torch.allclose(image, other_image, atol=1e-4), tile
            if valid.any():
                assert not torch.allclose(raw.read(tile)[0], image, atol=0.5), tile
    assert raw.scene_percentiles() is None
