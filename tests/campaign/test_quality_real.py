"""Quality masks on a real lubka1 chip: cloud, snow and shadow leave the map.

The chip's own reference slumps are "detected" by a stand-in model that
returns the connected components of the reference mask where its input tile
is not blank (unobserved pixels are 0 in the input), so what is checked is
the masking: the coverage layer, polygons under the cloud, the rim fraction
of the slump the cloud cuts, the areas in ``runs``. SCL, UDM2 and QA_PIXEL
rasters are generated with their real class values and bit layouts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
import rasterio.features
import shapely
import torch
from affine import Affine
from scipy import ndimage
from torch import Tensor

from rtsgeo.campaign import run_campaign
from rtsgeo.campaign.stac import stac_scenes
from rtsgeo.predict import PredictorOptions, ScenePredictor
from rtsgeo.predict.vectorize import vectorize_mask
from tests.predict.oracle import oracle_info, whole_blocks

CHIP = 'test/{}/20180706T222019_w_4.tif'
SIZE = 256
# UDM2 bands (1-based) and QA_PIXEL values of the Landsat Collection 2 layout.
UDM2 = {'clear': 1, 'snow': 2, 'shadow': 3, 'light_haze': 4, 'cloud': 6}
QA = {'clear': 21824, 'cloud': 22280, 'shadow': 23888, 'snow': 30048}


class ReferenceDetector:
    """Finds the reference slumps of one 256 px tile where its input is not blank."""

    def __init__(self, reference: np.ndarray) -> None:
        self.reference = reference

    def __call__(self, images: Tensor) -> list[dict[str, Tensor]]:
        outputs = []
        for image in images:
            seen = image.abs().sum(0).numpy() > 0
            labels, count = ndimage.label(self.reference & seen, np.ones((3, 3)))
            masks = torch.from_numpy(
                labels[None] == np.arange(1, count + 1)[:, None, None]
            )
            outputs.append(
                {
                    'masks': masks[:, None].float(),
                    'scores': torch.full((count,), 0.9),
                    'boxes': torch.zeros(count, 4),
                    'labels': torch.ones(count, dtype=torch.int64),
                }
            )
        return outputs


@dataclass
class Chip:
    path: Path
    reference: np.ndarray
    data: np.ndarray
    transform: Affine
    crs: Any
    classes: dict[str, np.ndarray]  # 'cloud', 'snow', 'shadow', 'haze', 'water'
    cut: shapely.Geometry  # the reference slump the cloud cuts

    @property
    def unobserved(self) -> np.ndarray:
        return self.classes['cloud'] | self.classes['snow'] | self.classes['shadow']

    def geometry(self, mask: np.ndarray) -> shapely.Geometry:
        return vectorize_mask(mask, self.transform)


@pytest.fixture(scope='module')
def chip(data_dir: Path) -> Chip:
    return make_chip(data_dir)


def make_chip(data_dir: Path) -> Chip:
    """The chip with its reference, a cloud over its largest slump, snow, a shadow."""
    root = data_dir / 's2-rts-lubka1'
    path = root / CHIP.format('image')
    if not path.is_file():
        pytest.skip(f'{path} is absent')
    with rasterio.open(root / CHIP.format('mask')) as src:
        reference = src.read(1) > 0
    with rasterio.open(path) as src:
        data = (src.read() != 0).all(0)
        transform, crs = src.transform, src.crs
    labels, count = ndimage.label(reference, np.ones((3, 3)))
    sizes = ndimage.sum(reference, labels, range(1, count + 1))
    target = labels == 1 + int(np.argmax(sizes))
    rows, cols = np.flatnonzero(target.any(1)), np.flatnonzero(target.any(0))
    # Every edge on an even pixel, so a 20 m raster holds the same classes.
    even = lambda v: int(v) // 2 * 2  # noqa: E731
    middle = even((rows[0] + rows[-1]) / 2)
    classes = {name: np.zeros((SIZE, SIZE), bool) for name in ('cloud', 'snow')}
    # The cloud covers the upper half of the largest slump and some land beside.
    classes['cloud'][
        even(rows[0]) - 6 : middle, even(cols[0]) - 6 : even(cols[-1]) + 8
    ] = 1
    classes['snow'][:40, :40] = True
    shadow = np.zeros((SIZE, SIZE), bool)
    free = [r for r in range(0, SIZE - 10, 2) if not reference[r : r + 12].any()]
    shadow[free[len(free) // 2] : free[len(free) // 2] + 10] = True
    classes['shadow'] = shadow & ~classes['cloud'] & ~classes['snow']
    haze = np.zeros((SIZE, SIZE), bool)
    haze[200:230, 200:230] = True  # light haze and water stay observed
    classes['haze'] = haze & ~classes['shadow']
    classes['water'] = classes['haze']
    assert (target & classes['cloud']).any() and (target & ~classes['cloud']).any()
    cut = vectorize_mask(target, transform)
    return Chip(path, reference, data, transform, crs, classes, cut)


def _write(path: Path, bands: np.ndarray, chip: Chip, step: int = 1) -> Path:
    transform = chip.transform @ Affine.scale(step)
    bands = bands[:, ::step, ::step]
    profile = {
        'driver': 'GTiff',
        'width': bands.shape[2],
        'height': bands.shape[1],
        'count': bands.shape[0],
        'dtype': bands.dtype,
        'crs': chip.crs,
        'transform': transform,
    }
    with rasterio.open(path, 'w', **profile) as dst:
        dst.write(bands)
    return path


def _scl(chip: Chip) -> np.ndarray:
    scl = np.full((SIZE, SIZE), 4, np.uint8)  # vegetation
    scl[chip.classes['water']] = 6
    scl[chip.classes['shadow']] = 3
    scl[chip.classes['snow']] = 11
    scl[chip.classes['cloud']] = 9
    return scl[None]


def _udm2(chip: Chip) -> np.ndarray:
    udm2 = np.zeros((8, SIZE, SIZE), np.uint8)
    for name in ('snow', 'shadow', 'cloud'):
        udm2[UDM2[name] - 1][chip.classes[name]] = 1
    udm2[UDM2['light_haze'] - 1][chip.classes['haze']] = 1
    udm2[UDM2['clear'] - 1] = ~chip.unobserved & ~chip.classes['haze']
    udm2[6] = 100  # confidence
    return udm2


def _qa_pixel(chip: Chip) -> np.ndarray:
    qa = np.full((SIZE, SIZE), QA['clear'], np.uint16)
    for name in ('shadow', 'snow', 'cloud'):
        qa[chip.classes[name]] = QA[name]
    return qa[None]


def _predictor(chip: Chip, mask: str, drop: bool = False) -> ScenePredictor:
    options = PredictorOptions(
        tile_size=SIZE, workers=0, quality_mask=mask, drop_touching_unobserved=drop
    )
    return ScenePredictor(ReferenceDetector(chip.reference), oracle_info(SIZE), options)


def _layers(out: Path) -> dict[str, gpd.GeoDataFrame]:
    return {
        name: pyogrio.read_dataframe(out, layer=name)
        for name in ('slumps', 'coverage', 'runs')
    }


def _check_map(chip: Chip, layers: dict[str, gpd.GeoDataFrame]) -> None:
    slumps, coverage, runs = layers['slumps'], layers['coverage'], layers['runs']
    assert runs['status'].tolist() == ['done']
    footprint = coverage.geometry.iloc[0]
    cloud = chip.geometry(chip.classes['cloud'])
    unobserved = chip.geometry(chip.unobserved)
    # The cloud, the snow and the shadow are missing from the coverage; the
    # light haze and the water are in it, on the default blocks of 4 x 4
    # pixels: exactly the blocks whose pixels are all observed.
    assert footprint.intersection(unobserved).area == pytest.approx(0.0, abs=1e-3)
    observed = chip.data & ~chip.unobserved
    drawn = rasterio.features.rasterize(
        [footprint], (SIZE, SIZE), transform=chip.transform
    ).astype(bool)
    np.testing.assert_array_equal(drawn, whole_blocks(observed, 4))
    assert (drawn & chip.classes['haze']).sum() > 0.5 * chip.classes['haze'].sum()
    pixel = 100.0
    assert runs['unobserved_area_m2'].iloc[0] == pytest.approx(
        (chip.data & chip.unobserved).sum() * pixel, rel=1e-3
    )
    assert runs['observed_area_m2'].iloc[0] == pytest.approx(
        observed.sum() * pixel, rel=1e-3
    )
    # No polygon inside the cloud, the snow or the shadow.
    assert len(slumps) > 0
    for geometry in slumps.geometry:
        assert geometry.intersection(unobserved).area == pytest.approx(0.0, abs=1e-3)
    # The slump the cloud cuts is mapped in part, with its rim on the cloud.
    cut = slumps[slumps.intersects(chip.cut.buffer(-1.0))]
    assert len(cut) == 1
    assert 0.0 < cut.geometry.iloc[0].area < chip.cut.area
    assert cut.geometry.iloc[0].buffer(1.0).intersects(cloud)
    # Its rim fraction, counted in pixels: the 8-neighbours outside the slump.
    inside = rasterio.features.rasterize(
        [cut.geometry.iloc[0]], (SIZE, SIZE), transform=chip.transform
    ).astype(bool)
    rim = ndimage.binary_dilation(inside, np.ones((3, 3))) & ~inside
    expected = (rim & ~observed).sum() / rim.sum()
    assert expected > 0.1
    assert cut['unobserved_fraction'].iloc[0] == pytest.approx(expected)


@pytest.mark.parametrize(
    ('fmt', 'make'), [('scl', _scl), ('udm2', _udm2), ('qa_pixel', _qa_pixel)]
)
def test_clouds_leave_coverage_and_slumps(
    tmp_path: Path, chip: Chip, fmt: str, make: Any
) -> None:
    _write(tmp_path / f'{chip.path.stem}_{fmt}.tif', make(chip), chip)
    out = tmp_path / 'map.gpkg'
    predictor = _predictor(chip, f'{fmt}={tmp_path}/{{stem}}_{fmt}.tif')
    run_campaign([chip.path], predictor, out, crs=chip.crs)
    _check_map(chip, _layers(out))
    # Without the mask, the same chip is mapped whole: the cut slump is whole.
    plain = tmp_path / 'plain.gpkg'
    run_campaign([chip.path], _predictor(chip, None), plain, crs=chip.crs)  # type: ignore[arg-type]
    layers = _layers(plain)
    assert layers['coverage'].geometry.iloc[0].area == pytest.approx(
        chip.data.sum() * 100.0
    )
    assert layers['runs']['unobserved_area_m2'].isna().all()
    assert len(layers['slumps']) >= len(_layers(out)['slumps'])


def test_dropping_slumps_that_touch_unobserved(tmp_path: Path, chip: Chip) -> None:
    _write(tmp_path / 'scl.tif', _scl(chip), chip)
    out = tmp_path / 'drop.gpkg'
    predictor = _predictor(chip, f'scl={tmp_path}/scl.tif', drop=True)
    run_campaign([chip.path], predictor, out, crs=chip.crs)
    slumps = _layers(out)['slumps']
    assert (slumps['unobserved_fraction'] == 0).all()
    assert not slumps.intersects(chip.cut.buffer(-1.0)).any()


def _stac_item(tmp_path: Path, chip: Chip, mask: Path, key: str = 'SCL') -> Path:
    names = ('blue', 'green', 'red', 'nir')
    item = {
        'type': 'Feature',
        'stac_version': '1.0.0',
        'stac_extensions': [],
        'id': 'S2_lubka1_chip',
        'geometry': {'type': 'Point', 'coordinates': [120.0, 70.0]},
        'bbox': [120.0, 70.0, 120.0, 70.0],
        'properties': {'datetime': '2018-07-06T22:20:19Z'},
        'links': [],
        'assets': {
            'visual': {
                'href': str(chip.path),
                'eo:bands': [{'name': n, 'common_name': n} for n in names],
            },
            key: {'href': str(mask), 'type': 'image/tiff; application=geotiff'},
        },
    }
    path = tmp_path / 'items.json'
    path.write_text(json.dumps({'type': 'FeatureCollection', 'features': [item]}))
    return path


def test_stac_item_with_its_scl_at_20_m_maps_the_same(
    tmp_path: Path, chip: Chip
) -> None:
    scl = _write(tmp_path / 'SCL_20m.tif', _scl(chip), chip, step=2)
    with rasterio.open(scl) as src:
        assert src.res == (20.0, 20.0)
    direct = tmp_path / 'direct.gpkg'
    run_campaign([chip.path], _predictor(chip, f'scl={scl}'), direct, crs=chip.crs)
    items = _stac_item(tmp_path, chip, scl)
    mapping = 'blue=visual:1,green=visual:2,red=visual:3,nir=visual:4,scl=SCL'
    scenes = stac_scenes(items, tmp_path / 'vrt', mapping)
    out = tmp_path / 'stac.gpkg'
    run_campaign(scenes, _predictor(chip, 'scl'), out, crs=chip.crs)
    got, want = _layers(out), _layers(direct)
    _check_map(chip, got)
    assert got['coverage'].geometry.iloc[0].equals(want['coverage'].geometry.iloc[0])
    assert len(got['slumps']) == len(want['slumps'])
    for a, b in zip(got['slumps'].normalize(), want['slumps'].normalize(), strict=True):
        assert a.equals(b)
    assert got['slumps']['unobserved_fraction'].tolist() == pytest.approx(
        want['slumps']['unobserved_fraction'].tolist()
    )


@pytest.mark.parametrize(
    ('fmt', 'make', 'key'), [('udm2', _udm2, 'udm2'), ('qa_pixel', _qa_pixel, 'QA')]
)
def test_stac_item_with_a_udm2_or_qa_pixel_asset(
    tmp_path: Path, chip: Chip, fmt: str, make: Any, key: str
) -> None:
    mask = _write(tmp_path / f'{fmt}.tif', make(chip), chip)
    items = _stac_item(tmp_path, chip, mask, key)
    mapping = f'blue=visual:1,green=visual:2,red=visual:3,nir=visual:4,{fmt}={key}'
    scenes = stac_scenes(items, tmp_path / 'vrt', mapping)
    if fmt == 'udm2':  # all eight bands of the asset, in order
        with rasterio.open(scenes[0].path) as src:
            assert src.descriptions[4:] == tuple(f'udm2_{i}' for i in range(1, 9))
    out = tmp_path / 'stac.gpkg'
    run_campaign(scenes, _predictor(chip, fmt), out, crs=chip.crs)
    _check_map(chip, _layers(out))


def test_stac_item_without_its_mask_asset_fails_alone(
    tmp_path: Path, chip: Chip
) -> None:
    scl = _write(tmp_path / 'SCL_20m.tif', _scl(chip), chip, step=2)
    items = _stac_item(tmp_path, chip, scl)
    mapping = 'blue=visual:1,green=visual:2,red=visual:3,nir=visual:4,scl=CLOUDS'
    scenes = stac_scenes(items, tmp_path / 'vrt', mapping)
    out = tmp_path / 'stac.gpkg'
    summary = run_campaign(scenes, _predictor(chip, 'scl'), out, crs=chip.crs)
    assert summary.failed
    message = _layers(out)['runs']['message'].iloc[0]
    assert "has no asset 'CLOUDS' for the quality mask band 'scl'" in message
    assert "'SCL'" in message and '\n' not in message


def test_report_shows_observed_and_unobserved_ground(
    tmp_path: Path, chip: Chip
) -> None:
    from rtsgeo.campaign.report import build_map, read_campaign, write_report

    _write(tmp_path / 'scl.tif', _scl(chip), chip)
    out = tmp_path / 'map.gpkg'
    run_campaign([chip.path], _predictor(chip, f'scl={tmp_path}/scl.tif'), out)
    summary = write_report(out, tmp_path / 'report.html')
    hidden = (chip.data & chip.unobserved).sum() * 100.0
    assert summary.unobserved_area_m2 == pytest.approx(hidden, rel=1e-3)
    page = summary.out.read_text()
    assert 'area unobserved (cloud, shadow, snow)' in page
    assert f'{hidden / 1e6:,.3f} km²' in page  # in the figures and the scene's row
    assert '<th>unobserved area</th>' in page
    # On the map, the cloud is a hole in the footprint, drawn in its own trace.
    slumps, coverage, _ = read_campaign(out)
    figure = build_map(slumps, coverage)
    names = [trace.name for trace in figure.data]
    assert 'not observed (cloud, shadow, snow or nodata)' in names
    # Without a mask, the report has no unobserved figure.
    plain = tmp_path / 'plain.gpkg'
    run_campaign([chip.path], _predictor(chip, None), plain)  # type: ignore[arg-type]
    assert write_report(plain, tmp_path / 'plain.html').unobserved_area_m2 is None


def test_rtsgeo_map_with_a_quality_mask_end_to_end(tmp_path: Path, chip: Chip) -> None:
    from rtsgeo.cli.main import main
    from rtsgeo.models import build_model_from_preset, get_preset, save_trained_model

    name = 'nano_cascade_rgb_ndvi_nir'
    torch.manual_seed(0)
    stats = {
        m: {'mean': [0.0] * c, 'std': [1.0] * c}
        for m, c in (('rgb', 3), ('ndvi', 1), ('nir', 1))
    }
    checkpoint = save_trained_model(
        tmp_path / 'nano.pt',
        build_model_from_preset(name).eval(),
        get_preset(name),
        stats,
        'sentinel2',
        name,
    )
    _write(tmp_path / f'{chip.path.stem}_SCL.tif', _scl(chip), chip)
    out = tmp_path / 'map.gpkg'
    argv = ['map', str(chip.path), '--checkpoint', str(checkpoint)]
    argv += ['--out', str(out), '--crs', str(chip.crs), '--no-progress']
    argv += ['--quality-mask', f'scl={tmp_path}/{{stem}}_SCL.tif']
    assert main(argv) == 0
    layers = _layers(out)
    footprint = layers['coverage'].geometry.iloc[0]
    drawn = rasterio.features.rasterize(
        [footprint], (SIZE, SIZE), transform=chip.transform
    ).astype(bool)
    observed = chip.data & ~chip.unobserved
    np.testing.assert_array_equal(drawn, whole_blocks(observed, 4))
    unobserved = chip.geometry(chip.unobserved)
    for geometry in layers['slumps'].geometry:  # whatever the untrained model finds
        assert geometry.intersection(unobserved).area == pytest.approx(0.0, abs=1e-3)
    assert layers['runs']['unobserved_area_m2'].iloc[0] == pytest.approx(
        (chip.data & chip.unobserved).sum() * 100.0
    )
