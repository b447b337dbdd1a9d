"""Quality masks read window by window: own rasters on other grids, bands, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.features
import rasterio.warp
from affine import Affine
from scipy import ndimage

from rtsgeo.errors import (
    BandNotFoundError,
    ConfigError,
    DataNotFoundError,
    InvalidImageryError,
)
from rtsgeo.predict import PredictorOptions, ScenePredictor
from rtsgeo.predict.coverage import CoverageAccumulator
from rtsgeo.predict.tiling import tile_windows
from rtsgeo.predict.vectorize import vectorize_mask
from rtsgeo.quality import QualityMask

from .oracle import ComponentOracle, oracle_info, whole_blocks, write_mask_scene

TRANSFORM = Affine(5.0, 0, 500000.0, 0, -5.0, 7600000.0)
SIZE = 160


def _scene(tmp_path: Path) -> Path:
    truth = np.zeros((SIZE, SIZE), bool)
    truth[20:40, 20:40] = True  # under the cloud
    truth[100:130, 60:90] = True  # in the clear
    return write_mask_scene(tmp_path / 'scene.tif', truth, TRANSFORM, 'EPSG:32608')


def _cloud() -> np.ndarray:
    cloud = np.zeros((SIZE, SIZE), bool)
    cloud[:64, :64] = True  # one whole 64 px tile and parts of others
    return cloud


def _write_scl(
    path: Path, scl: np.ndarray, transform: Affine, crs: str = 'EPSG:32608'
) -> Path:
    with rasterio.open(
        path,
        'w',
        driver='GTiff',
        width=scl.shape[1],
        height=scl.shape[0],
        count=1,
        dtype='uint8',
        crs=crs,
        transform=transform,
    ) as dst:
        dst.write(scl, 1)
    return path


def _predict(path: Path, mask: str | None, **options: object) -> object:
    predictor = ScenePredictor(
        ComponentOracle(),
        oracle_info(64),
        PredictorOptions(overlap=16, workers=0, quality_mask=mask, **options),  # type: ignore[arg-type]
    )
    return predictor.predict_scene(path)


def _coverage(geometry: object) -> np.ndarray:
    return rasterio.features.rasterize(
        [(geometry, 1)], out_shape=(SIZE, SIZE), transform=TRANSFORM
    ).astype(bool)


def test_all_unobserved_tiles_are_skipped_and_areas_counted(tmp_path: Path) -> None:
    path = _scene(tmp_path)
    scl = np.where(_cloud(), 9, 4).astype(np.uint8)
    _write_scl(tmp_path / 'scene_SCL.tif', scl, TRANSFORM)
    plain = _predict(path, None)
    masked = _predict(path, 'scl={dir}/{stem}_SCL.tif')
    assert masked.tiles_skipped == plain.tiles_skipped + 1  # type: ignore[attr-defined]
    np.testing.assert_array_equal(_coverage(masked.coverage), ~_cloud())  # type: ignore[attr-defined]
    assert masked.unobserved_area_m2 == pytest.approx(_cloud().sum() * 25.0)  # type: ignore[attr-defined]
    assert plain.unobserved_area_m2 is None  # type: ignore[attr-defined]
    assert len(masked.polygons) == 1  # type: ignore[attr-defined]
    assert len(plain.polygons) == 2  # type: ignore[attr-defined]


def test_mask_on_another_crs_and_resolution_is_warped(tmp_path: Path) -> None:
    path = _scene(tmp_path)
    # The cloud as a 20 m raster in EPSG:3413, twice as large as the scene.
    scene_bounds = rasterio.transform.array_bounds(SIZE, SIZE, TRANSFORM)
    left, bottom, right, top = rasterio.warp.transform_bounds(
        'EPSG:32608', 'EPSG:3413', *scene_bounds
    )
    pad = 0.5 * (right - left)
    transform = Affine(20.0, 0, left - pad, 0, -20.0, top + pad)
    width = int((right - left + 2 * pad) / 20) + 1
    height = int((top - bottom + 2 * pad) / 20) + 1
    scl = np.full((height, width), 4, np.uint8)
    rasterio.warp.reproject(
        np.where(_cloud(), 9, 4).astype(np.uint8),
        scl,
        src_transform=TRANSFORM,
        src_crs='EPSG:32608',
        dst_transform=transform,
        dst_crs='EPSG:3413',
        resampling=rasterio.enums.Resampling.nearest,
        init_dest_nodata=False,
    )
    _write_scl(tmp_path / 'polar.tif', scl, transform, 'EPSG:3413')
    masked = _predict(path, f'scl={tmp_path}/polar.tif')
    covered = _coverage(masked.coverage)  # type: ignore[attr-defined]
    # Nearest-neighbour warping moves the cloud's edge by at most a 20 m pixel.
    assert not covered[4:60, 4:60].any()
    assert covered[:, 68:].all() and covered[68:, :].all()


def test_mask_that_covers_part_of_the_scene_hides_the_rest(tmp_path: Path) -> None:
    path = _scene(tmp_path)
    clear = np.full((SIZE // 2, SIZE), 4, np.uint8)  # only the upper half
    _write_scl(tmp_path / 'half.tif', clear, TRANSFORM)
    # Pixel-exact, on request.
    masked = _predict(path, f'scl={tmp_path}/half.tif', coverage_block=1)
    expected = np.zeros((SIZE, SIZE), bool)
    expected[: SIZE // 2] = True
    np.testing.assert_array_equal(_coverage(masked.coverage), expected)  # type: ignore[attr-defined]


def test_scene_band_mask_and_preset(tmp_path: Path) -> None:
    path = _scene(tmp_path)
    with rasterio.open(path) as src:
        profile, data = src.profile, src.read()
    scl = np.where(_cloud(), 8, 5).astype(np.uint16)[None]
    five = tmp_path / 'five.tif'
    with rasterio.open(five, 'w', **(profile | {'count': 5})) as dst:
        dst.write(np.concatenate([data, scl]))
    # Without descriptions, the preset names the fifth band and applies it.
    got = _predict(five, None, sensor='sentinel2_scl')
    np.testing.assert_array_equal(_coverage(got.coverage), ~_cloud())  # type: ignore[attr-defined]
    # With it, the classes can be changed: cloud_medium (8) no longer counts.
    mask = QualityMask('scl', ('cloud_high',))
    clear = _predict(five, mask, sensor='sentinel2_scl')  # type: ignore[arg-type]
    assert clear.unobserved_area_m2 == 0  # type: ignore[attr-defined]


def test_errors_are_one_line(tmp_path: Path) -> None:
    path = _scene(tmp_path)
    far = Affine(5.0, 0, 900000.0, 0, -5.0, 7600000.0)
    _write_scl(tmp_path / 'far.tif', np.full((SIZE, SIZE), 4, np.uint8), far)
    cases = [
        (f'scl={tmp_path}/far.tif', InvalidImageryError, 'does not overlap scene'),
        (f'scl={tmp_path}/none.tif', DataNotFoundError, 'does not exist'),
        ('scl', BandNotFoundError, "has no band 'scl' for the scl quality mask"),
        (f'udm2={tmp_path}/far.tif', BandNotFoundError, 'needs 8'),
    ]
    for mask, error, message in cases:
        predictor = ScenePredictor(
            ComponentOracle(), oracle_info(64), PredictorOptions(quality_mask=mask)
        )
        with pytest.raises(error, match=message) as caught:
            predictor.check_scene(path)
        assert '\n' not in str(caught.value)
    with pytest.raises(ConfigError, match=r"unknown scl class\(es\) \['cloud'\]"):
        PredictorOptions(quality_mask=QualityMask('scl', ('cloud',)))


def _accumulated(
    valid: np.ndarray, transform: Affine, tile: int = 4, block: int = 1
) -> CoverageAccumulator:
    """A coverage of *valid* gathered tile by tile, as the predictor does."""
    height, width = valid.shape
    coverage = CoverageAccumulator(transform, shape=valid.shape, block=block)
    for t in tile_windows(width, height, tile, tile // 4, (1, 1)):
        window = np.zeros((t.size, t.size), bool)
        r0, c0 = max(t.row_off, 0), max(t.col_off, 0)
        r1, c1 = min(t.row_off + t.size, height), min(t.col_off + t.size, width)
        window[r0 - t.row_off : r1 - t.row_off, c0 - t.col_off : c1 - t.col_off] = (
            valid[r0:r1, c0:c1]
        )
        coverage.add(t, window)
    return coverage


def test_rim_fraction_counts_pixels_around_the_polygon() -> None:
    transform = Affine(10.0, 0, 0.0, 0, -10.0, 100.0)
    square = np.zeros((10, 10), bool)
    square[3:6, 3:6] = True  # its rim: 16 pixels
    observed = np.ones((10, 10), bool)
    observed[2, :] = False  # the rim's top row: 5 pixels
    coverage = _accumulated(observed, transform)
    fractions = coverage.rim_unobserved_fractions([vectorize_mask(square, transform)])
    assert fractions.tolist() == pytest.approx([5 / 16])
    # At the scene's edge, the rim outside the footprint counts.
    corner = np.zeros((10, 10), bool)
    corner[0, 0] = True
    coverage = _accumulated(np.ones((10, 10), bool), transform)
    fractions = coverage.rim_unobserved_fractions(
        [vectorize_mask(corner, transform), None]
    )
    assert fractions.tolist() == pytest.approx([5 / 8, 0.0])


def test_rim_fractions_match_the_geometric_rim_on_random_shapes() -> None:
    """Pixel counting equals the area share of the rim (the polygon grown by
    one pixel, mitred, less itself) outside the valid footprint."""
    rng = np.random.default_rng(3)
    transform = Affine(10.0, 0, 500000.0, 0, -10.0, 7000000.0)
    valid = rng.random((40, 50)) < 0.8
    coverage = _accumulated(valid, transform, tile=16)
    footprint = vectorize_mask(valid, transform)
    shapes = []
    for _ in range(12):
        blob = np.zeros((40, 50), bool)
        r, c = rng.integers(0, 36), rng.integers(0, 46)
        blob[r : r + rng.integers(1, 5), c : c + rng.integers(1, 5)] = True
        blob &= rng.random(blob.shape) < 0.9
        if blob.any():
            shapes.append(vectorize_mask(blob, transform))
    # A ring with a hole (its rim includes the hole), pixels touching only
    # by their corners, and one at the scene's corner.
    ring = np.zeros((40, 50), bool)
    ring[10:17, 20:27] = True
    ring[12:15, 22:25] = False
    chequer = np.zeros((40, 50), bool)
    chequer[30:33, 5:8] = np.indices((3, 3)).sum(axis=0) % 2 == 0
    corner = np.zeros((40, 50), bool)
    corner[0, 0] = True
    shapes += [vectorize_mask(m, transform) for m in (ring, chequer, corner)]
    got = coverage.rim_unobserved_fractions(shapes)
    assert 0 < got[-1] < 1  # the corner's rim is mostly past the scene's edge
    for shape, fraction in zip(shapes, got, strict=True):
        grown = shape.buffer(10.0, join_style='mitre', mitre_limit=2.0)
        rim = grown.difference(shape)
        want = 1 - rim.intersection(footprint).area / rim.area
        assert fraction == pytest.approx(want, abs=1e-9)


@pytest.mark.parametrize('block', [2, 4, 5])
def test_block_coverage_holds_only_valid_ground(block: int) -> None:
    rng = np.random.default_rng(block)
    transform = Affine(10.0, 0, 500000.0, 0, -10.0, 7000000.0)
    # Ragged clouds over a scene whose sides are not multiples of the block.
    valid = ndimage.uniform_filter(rng.random((61, 83)), 9) < 0.5
    exact = _accumulated(valid, transform, tile=16)
    coarse = _accumulated(valid, transform, tile=16, block=block)
    assert coarse.valid_pixels == exact.valid_pixels == valid.sum()
    drawn = rasterio.features.rasterize(
        [(coarse.result(), 1)], out_shape=valid.shape, transform=transform
    ).astype(bool)
    assert not (drawn & ~valid).any()  # never an invalid pixel
    # Exactly the blocks of the scene's grid whose pixels are all valid (a
    # block reaching past the scene's edge is not).
    want = whole_blocks(valid, block)
    np.testing.assert_array_equal(drawn, want)
    assert want.any()
    assert exact.result().area == pytest.approx(valid.sum() * 100.0)


def test_scene_band_mask_of_a_resampled_scene_keeps_its_classes(
    tmp_path: Path,
) -> None:
    from dataclasses import replace

    # A 2.5 m scene with its SCL as a fifth band, mapped by a 5 m model: the
    # mask is read on the model's grid with the bands, by nearest neighbour.
    fine = Affine(2.5, 0, TRANSFORM.c, 0, -2.5, TRANSFORM.f)
    truth = np.zeros((2 * SIZE, 2 * SIZE), bool)
    path = write_mask_scene(tmp_path / 'fine.tif', truth, fine, 'EPSG:32608')
    with rasterio.open(path) as src:
        profile, data = src.profile, src.read()
    cloud = np.kron(_cloud(), np.ones((2, 2), bool))
    scl = np.where(cloud, 9, 4).astype(np.uint16)
    with rasterio.open(path, 'w', **(profile | {'count': 5})) as dst:
        dst.write(np.concatenate([data, scl[None]]))
        for band, name in enumerate(('blue', 'green', 'red', 'nir', 'scl'), 1):
            dst.set_band_description(band, name)
    info = replace(oracle_info(64), gsd_m=5.0)
    options = PredictorOptions(overlap=16, workers=0, quality_mask='scl')
    got = ScenePredictor(ComponentOracle(), info, options).predict_scene(path)
    assert (got.scene_gsd_m, got.mapped_gsd_m) == (2.5, 5.0)
    np.testing.assert_array_equal(_coverage(got.coverage), ~_cloud())
    assert got.unobserved_area_m2 == pytest.approx(_cloud().sum() * 25.0)


def test_nested_mask_reads_as_its_warp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 2x coarser mask, offset by whole pixels and partly outside, reads
    at its own resolution exactly as the nearest-neighbour warp gives it."""
    from rtsgeo.predict import masking
    from rtsgeo.predict.masking import QualityWindowReader

    path = _scene(tmp_path)
    rng = np.random.default_rng(0)
    scl = rng.choice(np.array([4, 5, 9], np.uint8), size=(70, 90))
    # Origin 6 scene pixels right of and 10 above the scene's: it starts
    # outside the scene, and ends before the scene's lower edge.
    transform = TRANSFORM * Affine.translation(6, -10) * Affine.scale(2)
    _write_scl(tmp_path / 'coarse.tif', scl, transform)
    with rasterio.open(tmp_path / 'coarse.tif', 'r+') as dst:
        dst.nodata = 5  # here: bare soil reads as nodata, so unobserved
    mask = QualityMask('scl', path=f'{tmp_path}/coarse.tif')
    windows = [
        rasterio.windows.Window(c, r, w, h)
        for r, c, w, h in [(0, 0, 64, 64), (37, 5, 51, 64), (100, 130, 30, 60)]
    ]
    with rasterio.open(path) as src:
        nested = QualityWindowReader(mask, str(path), src, src, ['b', 'g', 'r', 'n'])
        assert nested._nested == (2, -10, 6)
        got = [nested.read(window) for window in windows]
        nested.close()
        monkeypatch.setattr(masking, '_aligned', lambda *_: None)
        warped = QualityWindowReader(mask, str(path), src, src, ['b', 'g', 'r', 'n'])
        want = [warped.read(window) for window in windows]
        warped.close()
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
    assert got[0].any() and not got[0].all()
    assert got[2][30:].all()  # rows 130 on: below the mask's extent


def test_block_cache_counts_a_mask_raster(tmp_path: Path) -> None:
    # GDAL's block cache is one per process: a mask raster of its own gets
    # its share of it beside the scene's row of tiles; scene bands do not.
    path = _scene(tmp_path)
    scl = np.full((SIZE // 2, SIZE // 2), 4, np.uint8)
    _write_scl(tmp_path / 'scene_SCL.tif', scl, TRANSFORM * Affine.scale(2))
    options = PredictorOptions(quality_mask='scl={dir}/{stem}_SCL.tif')
    predictor = ScenePredictor(ComponentOracle(), oracle_info(64), options)
    with predictor.open(path) as masked:
        with rasterio.open(tmp_path / 'scene_SCL.tif') as own:
            rows = 64 // 2 + 2 * own.block_shapes[0][0]
            share = own.width * rows
        with ScenePredictor(ComponentOracle(), oracle_info(64)).open(path) as plain:
            bare = plain.tile_row_cache_bytes(64)
        assert masked.tile_row_cache_bytes(64) == bare + share
