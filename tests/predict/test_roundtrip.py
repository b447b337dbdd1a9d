"""Acceptance: ground-truth masks of a real scene through tiling, merge, vectorise.

The RTS mask of ``s2-mosaic-tuktoyaktuk`` (949 x 949 px, 10 m, UTM 8N, nodata
holes) is cut into tiles as a detector would see it (each object cut by the
tile edges, labelled tile by tile), merged back and vectorised. The polygons
must rasterise to the mask, pixel for pixel, and keep that accuracy in every
output CRS tested.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import rasterio.features
import shapely
from scipy import ndimage

from rtsgeo.predict import (
    PredictorOptions,
    ScenePredictor,
    merge_tile_instances,
    tile_windows,
    vectorize_masks,
)

from .oracle import (
    ComponentOracle,
    oracle_info,
    oracle_tile_instances,
    write_mask_scene,
)

pytestmark = pytest.mark.data


@pytest.fixture(scope='module')
def truth(data_dir: Path) -> dict:
    folder = data_dir / 's2-mosaic-tuktoyaktuk'
    with rasterio.open(folder / 'mask.tif') as src:
        mask = src.read(1) > 0
        transform, crs = src.transform, src.crs
    with rasterio.open(folder / 'scene.tif') as src:
        valid = src.read_masks(1) > 0
    components, count = ndimage.label(mask, np.ones((3, 3)))
    # The reference polygons, straight from the mask (one per 8-connected object).
    pieces = [
        (shapely.geometry.shape(geom), int(value))
        for geom, value in rasterio.features.shapes(
            components.astype(np.int32), mask=mask, transform=transform
        )
    ]
    reference = gpd.GeoDataFrame(
        {'id': [v for _, v in pieces]}, geometry=[g for g, _ in pieces], crs=crs
    ).dissolve('id')
    return {
        'mask': mask,
        'valid': valid,
        'transform': transform,
        'crs': crs,
        'count': count,
        'reference': reference,
    }


def _rasterize(frame: gpd.GeoDataFrame, truth: dict) -> np.ndarray:
    shapes = ((g, 1) for g in frame.geometry)
    out = rasterio.features.rasterize(
        shapes, out_shape=truth['mask'].shape, transform=truth['transform']
    )
    return out.astype(bool)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def _check_exact(frame: gpd.GeoDataFrame, truth: dict) -> None:
    assert len(frame) == truth['count']
    assert frame.geometry.is_valid.all()
    back = _rasterize(frame, truth)
    assert _iou(back, truth['mask']) >= 0.99
    np.testing.assert_array_equal(back, truth['mask'])  # exact to the pixel
    # Every vertex lies on a pixel corner.
    inverse = ~truth['transform']
    coords = shapely.get_coordinates(frame.geometry.values)
    cols, rows = inverse * (coords[:, 0], coords[:, 1])
    np.testing.assert_allclose(cols, np.round(cols), atol=1e-6)
    np.testing.assert_allclose(rows, np.round(rows), atol=1e-6)


def test_mask_lies_on_valid_pixels(truth: dict) -> None:
    assert not (truth['mask'] & ~truth['valid']).any()


@pytest.mark.parametrize(('tile', 'overlap'), [(128, 32), (64, 16), (96, 20)])
def test_tiles_merge_back_to_the_mask(truth: dict, tile: int, overlap: int) -> None:
    height, width = truth['mask'].shape
    tiles = tile_windows(width, height, tile, overlap)
    merged = merge_tile_instances(oracle_tile_instances(truth['mask'], tiles))
    frame = vectorize_masks(merged, truth['transform'], truth['crs'])
    _check_exact(frame, truth)


# Areas in EPSG:4326 are in square degrees: fine for ratios over a 10 km scene.
@pytest.mark.filterwarnings('ignore:Geometry is in a geographic CRS')
def test_scene_predictor_round_trip_in_every_output_crs(
    truth: dict, tmp_path: Path
) -> None:
    path = write_mask_scene(
        tmp_path / 'tuk.tif',
        truth['mask'],
        truth['transform'],
        truth['crs'].to_string(),
        truth['valid'],
    )
    predictor = ScenePredictor(
        ComponentOracle(), oracle_info(128), PredictorOptions(overlap=32)
    )
    result = predictor.predict_scene(path)
    assert result.crs == truth['crs'] and result.transform == truth['transform']
    assert result.tiles_skipped > 0  # the mosaic has all-nodata corners
    _check_exact(result.polygons, truth)
    reference = truth['reference']
    for target in [truth['crs'].to_string(), 'EPSG:3413', 'EPSG:4326']:
        out = result.polygons.to_crs(target)
        ref = reference.to_crs(target)
        # Back on the scene's grid, the reprojected polygons rasterise exactly.
        back = _rasterize(out.to_crs(truth['crs']), truth)
        assert _iou(back, truth['mask']) >= 0.99
        np.testing.assert_array_equal(back, truth['mask'])
        # In the output CRS itself, each polygon matches its reference object.
        for geometry in out.geometry:
            overlaps = ref.geometry.intersection(geometry).area
            best = ref.geometry.iloc[int(np.argmax(overlaps.values))]
            iou = geometry.intersection(best).area / geometry.union(best).area
            assert iou >= 0.99
            assert geometry.centroid.distance(best.centroid) <= 1e-6 * max(
                1.0, abs(best.centroid.x)
            )
