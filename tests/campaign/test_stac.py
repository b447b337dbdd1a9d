"""STAC scene lists: items as scenes, both asset layouts, bad items failing alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import pytest
import rasterio
from affine import Affine

from rtsgeo.campaign import run_campaign
from rtsgeo.campaign.stac import parse_asset_mapping, stac_scenes
from rtsgeo.datasets import make_synthetic_scene
from rtsgeo.errors import ConfigError, DataNotFoundError
from rtsgeo.predict import PredictorOptions, ScenePredictor
from tests.predict.oracle import ComponentOracle, oracle_info, write_mask_scene

BANDS = (('B02', 'blue'), ('B03', 'green'), ('B04', 'red'), ('B08', 'nir'))
WHEN = '2021-07-15T10:20:30Z'


def _scene(folder: Path, name: str, seed: int, crs: str = 'EPSG:32608') -> Path:
    scene = make_synthetic_scene(folder / 'synth', seed=seed, size=128, n_slumps=4)
    with rasterio.open(scene.mask_path) as src:
        truth = src.read(1) > 0
    if crs == 'EPSG:4326':
        transform = Affine(0.0001, 0, 130.0, 0, -0.0001, 70.0)
    else:
        transform = Affine(5.0, 0, 500000.0 + 10000 * seed, 0, -5.0, 7600000.0)
    return write_mask_scene(folder / f'{name}.tif', truth, transform, crs)


def _split_bands(path: Path) -> dict[str, Path]:
    """One undescribed single-band file per band of a four-band scene."""
    files = {}
    with rasterio.open(path) as src:
        profile = src.profile | {'count': 1}
        for index, (key, _) in enumerate(BANDS, start=1):
            files[key] = path.with_name(f'{path.stem}_{key}.tif')
            with rasterio.open(files[key], 'w', **profile) as dst:
                dst.write(src.read(index), 1)
    return files


def _item(item_id: str, assets: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {
        'type': 'Feature',
        'stac_version': '1.0.0',
        'stac_extensions': [],
        'id': item_id,
        'geometry': {'type': 'Point', 'coordinates': [130.0, 70.0]},
        'bbox': [130.0, 70.0, 130.0, 70.0],
        'properties': {'datetime': WHEN, **properties},
        'links': [],
        'assets': assets,
    }


def _band_asset(href: str, key: str, common: bool = True) -> dict[str, Any]:
    band = {'name': key, 'common_name': dict(BANDS)[key]} if common else {'name': key}
    return {'href': href, 'type': 'image/tiff', 'eo:bands': [band]}


@pytest.fixture
def items(tmp_path: Path) -> dict[str, Any]:
    """An ItemCollection: one multi-band item, one per-band item, two bad items."""
    data = tmp_path / 'data'
    multi = _scene(data, 'S2_A', seed=1)
    per_band = _scene(data, 'S2_B', seed=2)
    degrees = _scene(data, 'BAD_4326', seed=3, crs='EPSG:4326')
    no_nir = _split_bands(_scene(data, 'BAD_NONIR', seed=4))
    eo = [{'name': key, 'common_name': name} for key, name in BANDS]
    features = [
        _item('S2_A', {'image': {'href': 'data/S2_A.tif', 'eo:bands': eo}}),
        _item(
            'S2_B',
            {
                **{
                    key: _band_asset(str(path), key, common=False)
                    for key, path in _split_bands(per_band).items()
                },
                'thumbnail': {'href': 'data/S2_B.png', 'type': 'image/png'},
            },
        ),
        _item(
            'BAD_4326',
            {'image': {'href': str(degrees), 'eo:bands': eo}},
            **{'proj:epsg': 4326},
        ),
        _item(
            'BAD_NONIR',
            {k: _band_asset(str(p), k) for k, p in no_nir.items() if k != 'B08'},
        ),
    ]
    path = tmp_path / 'items.json'
    path.write_text(json.dumps({'type': 'FeatureCollection', 'features': features}))
    return {'path': path, 'files': [multi, per_band]}


def _slumps(path: Path) -> dict[str, list[str]]:
    frame = pyogrio.read_dataframe(path, layer='slumps')
    return {
        scene: sorted(group.polygon_id) for scene, group in frame.groupby('scene_id')
    }


def test_stac_campaign_matches_file_campaign(
    items: dict[str, Any], tmp_path: Path
) -> None:
    scenes = stac_scenes(items['path'], tmp_path / 'vrt')
    assert [s.scene_id for s in scenes] == ['BAD_4326', 'BAD_NONIR', 'S2_A', 'S2_B']
    oracle = ComponentOracle()
    predictor = ScenePredictor(oracle, oracle_info(64), PredictorOptions(overlap=16))
    out = tmp_path / 'stac.gpkg'
    summary = run_campaign(scenes, predictor, out)
    assert (summary.done, summary.failed) == (2, 2)

    files = tmp_path / 'files.gpkg'
    run_campaign(items['files'], predictor, files)
    stac, plain = _slumps(out), _slumps(files)
    assert stac == plain  # same ids: same scene ids and geometries (1 cm)
    assert all(len(ids) >= 2 for ids in stac.values())
    slumps = pyogrio.read_dataframe(out, layer='slumps')
    assert set(slumps.acquired) == {'2021-07-15'}  # the items' datetime

    runs = pyogrio.read_dataframe(out, layer='runs').set_index('scene_id')
    assert runs.loc['BAD_4326', 'status'] == 'failed'
    assert runs.loc['BAD_4326', 'message'].startswith('InvalidImageryError: STAC')
    assert 'EPSG:4326' in runs.loc['BAD_4326', 'message']
    assert runs.loc['BAD_NONIR', 'status'] == 'failed'
    assert "lacks band(s) ['nir']" in runs.loc['BAD_NONIR', 'message']
    assert runs.loc['S2_B', 'scene_path'].endswith('S2_B.vrt')

    # A rerun maps nothing again: done items are skipped, bad ones retried.
    calls = oracle.calls
    again = run_campaign(stac_scenes(items['path'], tmp_path / 'vrt'), predictor, out)
    assert (again.resumed, again.done, again.failed) == (2, 0, 2)
    assert oracle.calls == calls


def test_asset_mapping_and_folder_of_items(tmp_path: Path) -> None:
    files = _split_bands(_scene(tmp_path, 'S2_C', seed=5))
    bare = {key: {'href': str(path)} for key, path in files.items()}
    (tmp_path / 'items').mkdir()
    (tmp_path / 'items' / 'S2_C.json').write_text(json.dumps(_item('S2_C', bare)))
    unnamed = stac_scenes(tmp_path / 'items', tmp_path / 'vrt')
    assert unnamed[0].problem is not None
    assert 'no usable band' in unnamed[0].problem and '--assets' in unnamed[0].problem
    mapping = 'blue=B02,green=B03,red=B04,nir=B08'
    (scene,) = stac_scenes(tmp_path / 'items', tmp_path / 'vrt', mapping)
    assert scene.problem is None
    with rasterio.open(scene.path) as src, rasterio.open(tmp_path / 'S2_C.tif') as ref:
        assert src.descriptions == ('blue', 'green', 'red', 'nir')
        assert src.transform == ref.transform and src.crs == ref.crs
        np.testing.assert_array_equal(src.read(), ref.read())
        assert src.tags()['ACQUISITION_DATE'] == '2021-07-15'


def test_bad_inputs() -> None:
    assert parse_asset_mapping('B04=red_asset, nir=img:4') == {
        'red': ('red_asset', 1),
        'nir': ('img', 4),
    }
    with pytest.raises(ConfigError, match='BAND=ASSET'):
        parse_asset_mapping('red')
    with pytest.raises(DataNotFoundError, match='does not exist'):
        stac_scenes('/nowhere/items.json', '/tmp')


def test_bands_at_several_resolutions_on_the_finest_grid(tmp_path: Path) -> None:
    files = _split_bands(_scene(tmp_path, 'S2_D', seed=6))
    with rasterio.open(files['B08']) as src:  # NIR at 10 m, as Sentinel-2's B8A
        profile = src.profile | {
            'width': src.width // 2,
            'height': src.height // 2,
            'transform': src.transform @ Affine.scale(2),
        }
        profile = {k: v for k, v in profile.items() if not k.startswith('block')}
        coarse = src.read(1, out_shape=(src.height // 2, src.width // 2))
    nir10 = tmp_path / 'S2_D_B08_10m.tif'
    with rasterio.open(nir10, 'w', **profile) as dst:
        dst.write(coarse, 1)
    assets = {k: _band_asset(str(p), k) for k, p in files.items() if k != 'B08'}
    assets['B08'] = _band_asset(str(nir10), 'B08')
    (tmp_path / 'item.json').write_text(json.dumps(_item('S2_D', assets)))
    (scene,) = stac_scenes(tmp_path / 'item.json', tmp_path / 'vrt')
    with rasterio.open(scene.path) as src, rasterio.open(tmp_path / 'S2_D.tif') as ref:
        assert (src.transform, src.shape) == (ref.transform, ref.shape)  # 5 m grid
        assert src.descriptions == ('blue', 'green', 'red', 'nir')
        np.testing.assert_array_equal(src.read(3), ref.read(3))
        nir = src.read(4, window=((0, 64), (0, 64)))  # windowed, resampled on read
        assert nir.shape == (64, 64) and 100 <= nir.mean() <= 1000


def test_asset_hrefs_to_gdal_paths(tmp_path: Path) -> None:
    from rtsgeo.campaign.stac import _gdal_path

    assert _gdal_path('https://e.org/a.tif', tmp_path) == '/vsicurl/https://e.org/a.tif'
    assert _gdal_path('s3://bucket/key.tif', tmp_path) == '/vsis3/bucket/key.tif'
    assert _gdal_path('file:///data/a.tif', tmp_path) == '/data/a.tif'
    assert _gdal_path('b/a.tif', tmp_path) == str(tmp_path.resolve() / 'b' / 'a.tif')
