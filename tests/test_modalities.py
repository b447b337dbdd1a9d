"""rtsgeo.modalities: the one source of band and channel order."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from rtsgeo.errors import BandNotFoundError, ConfigError
from rtsgeo.modalities import (
    MODALITIES,
    SENSORS,
    Modality,
    SensorPreset,
    canonical_band_name,
    channel_layout,
    compute_modalities,
    get_modality,
    get_sensor,
    modality_channel_names,
    normalized_difference,
    reflectance_bands,
    required_bands,
    resolve_band_names,
)


def test_reflectance_bands_are_those_a_scene_stretch_changes() -> None:
    assert reflectance_bands(['rgb', 'ndvi', 'nir', 'slope']) == (
        'red',
        'green',
        'blue',
        'nir',
    )
    assert reflectance_bands(['ndvi']) == ('nir', 'red')  # derived from them
    assert reflectance_bands(['slope', 'dem']) == ()
    assert reflectance_bands([Modality('swir', ('swir16',))]) == ()  # opt in
    assert reflectance_bands([Modality('swir', ('swir16',), reflectance=True)]) == (
        'swir16',
    )


def test_lookups_by_name() -> None:
    assert get_modality('NDVI') is MODALITIES['ndvi']
    custom = Modality('swir', ('swir1',))
    assert get_modality(custom) is custom
    assert get_sensor('Sentinel2').bands == ('blue', 'green', 'red', 'nir')
    assert get_sensor('rgbn').bands == ('red', 'green', 'blue', 'nir')
    preset = SensorPreset('mine', ('nir', 'red'))
    assert get_sensor(preset) is preset


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(
        ConfigError, match="unknown modality 'sar': choose one of dem, ndvi, nir, rgb"
    ):
        get_modality('sar')
    with pytest.raises(
        ConfigError,
        match="unknown sensor preset 'landsat': choose one of landsat_oli, "
        'landsat_oli_qa, naip, paper_sample, planetscope, planetscope_8band, rgb, '
        'rgbn, sentinel2, ',
    ):
        get_sensor('landsat')


def test_channel_counts() -> None:
    counts = {name: m.channels for name, m in MODALITIES.items()}
    assert counts == {'rgb': 3, 'nir': 1, 'ndvi': 1, 'slope': 1, 'dem': 1}


def test_channel_layout_follows_the_given_order() -> None:
    assert channel_layout(['rgb', 'ndvi', 'nir']) == {
        'rgb': slice(0, 3),
        'ndvi': slice(3, 4),
        'nir': slice(4, 5),
    }
    layout = channel_layout(['slope', 'RGB'])
    assert list(layout) == ['slope', 'rgb']
    assert layout == {'slope': slice(0, 1), 'rgb': slice(1, 4)}


def test_channel_layout_errors() -> None:
    with pytest.raises(ConfigError, match='at least one modality is needed'):
        channel_layout([])
    with pytest.raises(ConfigError, match=r"modality 'rgb' is listed twice"):
        channel_layout(['rgb', 'nir', 'RGB'])
    with pytest.raises(ConfigError, match="unknown modality 'swir'"):
        channel_layout(['rgb', 'swir'])


def test_required_bands_once_in_first_use_order() -> None:
    assert required_bands(['ndvi', 'rgb', 'nir']) == ('nir', 'red', 'green', 'blue')
    assert required_bands(['rgb', 'slope']) == ('red', 'green', 'blue', 'slope')


@pytest.mark.parametrize(
    ('description', 'name'),
    [
        ('B04', 'red'),
        ('b4', 'red'),
        (' B8 ', 'nir'),
        ('B02', 'blue'),
        ('Near-Infrared', 'nir'),
        ('G', 'green'),
        ('elevation', 'dem'),
        ('Slope', 'slope'),  # unknown names pass through, lower-cased
    ],
)
def test_canonical_band_names(description: str, name: str) -> None:
    assert canonical_band_name(description) == name


def test_descriptions_win_over_the_sensor() -> None:
    names = resolve_band_names(['B2', 'B3', 'B4', 'B8'], 'a.tif', sensor='rgbn')
    assert names == ('blue', 'green', 'red', 'nir')


def test_sensor_order_when_descriptions_are_missing() -> None:
    assert resolve_band_names([None] * 4, 'a.tif', 'rgbn') == (
        'red',
        'green',
        'blue',
        'nir',
    )
    # One missing description is as good as none: the preset decides.
    assert resolve_band_names(['red', None, None, None], 'a.tif', 'planetscope') == (
        'blue',
        'green',
        'red',
        'nir',
    )
    assert resolve_band_names([None], 'slope/a.tif', default_single='Slope') == (
        'slope',
    )


def test_band_name_errors_name_the_file_and_the_fix() -> None:
    with pytest.raises(
        BandNotFoundError,
        match=r"scene\.tif has 3 bands but sensor preset 'sentinel2' expects 4 "
        r'\(blue, green, red, nir\): choose the preset',
    ):
        resolve_band_names([None] * 3, 'scene.tif', 'sentinel2')
    with pytest.raises(
        BandNotFoundError,
        match=r'scene\.tif has 4 bands without descriptions: pass sensor= one of '
        'landsat_oli, landsat_oli_qa, naip, paper_sample, planetscope, ',
    ):
        resolve_band_names([None] * 4, 'scene.tif')
    with pytest.raises(BandNotFoundError, match='1 bands without descriptions'):
        resolve_band_names([None], 'scene.tif')  # no folder name to fall back on


def test_normalized_difference_values() -> None:
    nir = torch.tensor([3.0, 1.0, 0.0, 5.0, 3.0, 2000])
    red = torch.tensor([1.0, 3.0, 0.0, -5.0, -1.0, 1000], dtype=torch.float64)
    ndvi = normalized_difference(nir, red)
    assert ndvi.dtype == torch.float32
    # 0/0 and x/0 are 0, never NaN or inf; out-of-range ratios are clamped.
    assert ndvi.tolist() == pytest.approx([0.5, -0.5, 0.0, 0.0, 1.0, 1 / 3])


def test_compute_modalities_stacks_in_layout_order() -> None:
    bands = {
        'blue': torch.full((2, 2), 1.0),
        'nir': torch.tensor([[6.0, 2.0], [0.0, 9.0]]),
        'green': torch.full((2, 2), 2.0),
        'red': torch.tensor([[2.0, 2.0], [0.0, 3.0]]),
        'slope': torch.full((2, 2), 12.5),
    }
    image = compute_modalities(bands, ['ndvi', 'rgb', 'nir'])
    assert image.shape == (5, 2, 2)
    assert image.dtype == torch.float32
    assert image[0].flatten().tolist() == pytest.approx([0.5, 0.0, 0.0, 0.5])
    assert torch.equal(image[1], bands['red'])
    assert torch.equal(image[2], bands['green'])
    assert torch.equal(image[3], bands['blue'])
    assert torch.equal(image[4], bands['nir'])
    assert modality_channel_names(['ndvi', 'rgb', 'nir']) == [
        'ndvi',
        'rgb:red',
        'rgb:green',
        'rgb:blue',
        'nir',
    ]


def test_nodata_pixels_are_zero_in_every_channel() -> None:
    bands = {b: torch.full((2, 3), 7.0) for b in ('red', 'green', 'blue', 'nir')}
    valid = torch.tensor([[True, False, True], [False, True, True]])
    image = compute_modalities(bands, ['rgb', 'ndvi'], valid)
    assert bool((image[:, ~valid] == 0).all())
    assert bool((image[:3, valid] == 7).all())


def test_missing_band_names_the_modality() -> None:
    bands = {'red': torch.ones(2, 2), 'green': torch.ones(2, 2)}
    with pytest.raises(
        BandNotFoundError,
        match=r"modality 'ndvi' needs band\(s\) \['nir'\]; available: "
        r"\['green', 'red'\]",
    ):
        compute_modalities(bands, ['ndvi'])


# --- sensor presets against generated files -------------------------------------

# Where each preset keeps red, green, blue and nir (1-based band numbers in the
# file), written down from the products' documentation independently of SENSORS.
PRESET_POSITIONS = {
    'planetscope': {'red': 3, 'green': 2, 'blue': 1, 'nir': 4},
    'planetscope_8band': {'red': 6, 'green': 4, 'blue': 2, 'nir': 8},
    'sentinel2': {'red': 3, 'green': 2, 'blue': 1, 'nir': 4},
    'sentinel2_10band': {'red': 3, 'green': 2, 'blue': 1, 'nir': 7},
    'sentinel2_12band': {'red': 4, 'green': 3, 'blue': 2, 'nir': 8},
    'landsat_oli': {'red': 4, 'green': 3, 'blue': 2, 'nir': 5},
    'landsat_oli_qa': {'red': 4, 'green': 3, 'blue': 2, 'nir': 5},
    'sentinel2_scl': {'red': 3, 'green': 2, 'blue': 1, 'nir': 4},
    'worldview_8band': {'red': 5, 'green': 3, 'blue': 2, 'nir': 7},
    'worldview_4band': {'red': 3, 'green': 2, 'blue': 1, 'nir': 4},
    'naip': {'red': 1, 'green': 2, 'blue': 3, 'nir': 4},
    'paper_sample': {'red': 1, 'green': 2, 'blue': 3, 'nir': 5},
    'rgbn': {'red': 1, 'green': 2, 'blue': 3, 'nir': 4},
}
PRESET_COUNTS = {
    'planetscope': 4,
    'planetscope_8band': 8,
    'sentinel2': 4,
    'sentinel2_10band': 10,
    'sentinel2_12band': 12,
    'landsat_oli': 7,
    'landsat_oli_qa': 8,
    'sentinel2_scl': 5,
    'worldview_8band': 8,
    'worldview_4band': 4,
    'naip': 4,
    'paper_sample': 5,
    'rgbn': 4,
}


def _write_tif(
    path: Path, data: np.ndarray, descriptions: Sequence[str] | None = None
) -> Path:
    count, height, width = data.shape
    profile = {
        'driver': 'GTiff',
        'width': width,
        'height': height,
        'count': count,
        'dtype': data.dtype,
        'crs': 'EPSG:32608',
        'transform': from_origin(500000.0, 7600000.0, 3.0, 3.0),
    }
    with rasterio.open(path, 'w', **profile) as dst:
        dst.write(data)
        if descriptions:
            dst.descriptions = tuple(descriptions)
    return path


def _read_modalities(
    path: Path, modalities: Sequence[str], sensor: str | None = None
) -> torch.Tensor:
    with rasterio.open(path) as src:
        names = resolve_band_names(src.descriptions, str(path), sensor)
        data = torch.from_numpy(src.read().astype(np.float32))
    needed = required_bands(modalities, names)
    bands = {name: data[i] for i, name in enumerate(names) if name in needed}
    return compute_modalities(bands, modalities)


def test_every_preset_has_a_generated_file_test() -> None:
    assert set(SENSORS) == {*PRESET_POSITIONS, 'rgb'}
    assert all(preset.description for preset in SENSORS.values())


@pytest.mark.parametrize('sensor', sorted(PRESET_POSITIONS))
def test_presets_pick_the_right_bands(tmp_path: Path, sensor: str) -> None:
    count = PRESET_COUNTS[sensor]
    # Band k holds the constant 100 * k: a value names the band it came from.
    data = np.stack([np.full((4, 6), 100 * k, np.uint16) for k in range(1, count + 1)])
    if sensor == 'paper_sample':
        data[3] = 0  # the stored NDVI band, checked in its own test
    path = _write_tif(tmp_path / f'{sensor}.tif', data)
    image = _read_modalities(path, ['rgb', 'nir'], sensor)
    where = PRESET_POSITIONS[sensor]
    expected = [100.0 * where[band] for band in ('red', 'green', 'blue', 'nir')]
    assert image.shape == (4, 4, 6)
    assert [float(image[c].unique()) for c in range(4)] == expected
    if sensor != 'paper_sample':
        ndvi = _read_modalities(path, ['ndvi'], sensor)
        red, nir = 100.0 * where['red'], 100.0 * where['nir']
        assert float(ndvi.unique()) == pytest.approx((nir - red) / (nir + red))


def test_rgb_preset_picks_the_right_bands(tmp_path: Path) -> None:
    data = np.stack([np.full((3, 3), v, np.uint8) for v in (7, 8, 9)])
    image = _read_modalities(_write_tif(tmp_path / 'rgb.tif', data), ['rgb'], 'rgb')
    assert [float(image[c].unique()) for c in range(3)] == [7.0, 8.0, 9.0]


def test_a_preset_that_does_not_fit_the_file_says_so(tmp_path: Path) -> None:
    path = _write_tif(tmp_path / 'wv.tif', np.ones((8, 2, 2), np.uint16))
    with pytest.raises(
        BandNotFoundError, match=r"8 bands but sensor preset 'landsat_oli' expects 7"
    ):
        _read_modalities(path, ['rgb'], 'landsat_oli')


@pytest.mark.parametrize(
    ('description', 'name'),
    [
        ('SR_B4', 'red'),
        ('SR_B5', 'nir'),
        ('SR_B7', 'swir22'),
        ('Red', 'red'),
        ('NIR1', 'nir'),
        ('Coastal Blue', 'coastal'),
        ('Red Edge', 'rededge'),
        ('B8A', 'nir08'),
        ('B05', 'rededge1'),
        ('B11', 'swir16'),
        ('NDVI', 'ndvi'),
        ('B5', 'b5'),  # red edge on Sentinel-2, NIR on Landsat: left alone
    ],
)
def test_more_band_description_aliases(description: str, name: str) -> None:
    assert canonical_band_name(description) == name


@pytest.mark.parametrize(
    ('descriptions', 'sensor'),
    [
        ([f'SR_B{k}' for k in range(1, 8)], 'landsat_oli'),
        (
            [
                'B01',
                'B02',
                'B03',
                'B04',
                'B05',
                'B06',
                'B07',
                'B08',
                'B8A',
                'B09',
                'B11',
                'B12',
            ],
            'sentinel2_12band',
        ),
        (
            ['B2', 'B3', 'B4', 'B05', 'B06', 'B07', 'B8', 'B8A', 'B11', 'B12'],
            'sentinel2_10band',
        ),
    ],
)
def test_described_files_agree_with_their_preset(
    tmp_path: Path, descriptions: list[str], sensor: str
) -> None:
    data = np.stack([np.full((2, 2), k, np.uint16) for k in range(len(descriptions))])
    path = _write_tif(tmp_path / 'described.tif', data, descriptions)
    with rasterio.open(path) as src:
        assert resolve_band_names(src.descriptions, str(path)) == SENSORS[sensor].bands


# --- NDVI stored as a band (the paper's samples) ---------------------------------


def _paper_sample(path: Path, seed: int = 0) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(seed)
    data = rng.uniform(0.0, 0.5, (5, 16, 16)).astype(np.float32)
    # Deliberately unlike (nir - red) / (nir + red), so reading and deriving differ.
    data[3] = rng.uniform(-1.0, 1.0, (16, 16)).astype(np.float32)
    return _write_tif(path, data), data


def test_stored_ndvi_replaces_nir_and_red_when_the_file_has_it() -> None:
    ndvi = MODALITIES['ndvi']
    assert ndvi.source_bands() == ('nir', 'red')
    assert ndvi.source_bands(['red', 'green', 'blue', 'nir']) == ('nir', 'red')
    assert ndvi.source_bands(['red', 'ndvi', 'nir']) == ('ndvi',)
    assert required_bands(['rgb', 'ndvi'], ['red', 'green', 'blue', 'ndvi']) == (
        'red',
        'green',
        'blue',
        'ndvi',
    )
    bands = {
        'red': torch.full((2, 2), 1.0),
        'nir': torch.full((2, 2), 3.0),
        'ndvi': torch.tensor([[0.25, -0.5], [0.0, 0.9]]),
    }
    assert torch.equal(compute_modalities(bands, ['ndvi'])[0], bands['ndvi'])
    del bands['ndvi']
    assert compute_modalities(bands, ['ndvi'])[0].unique().tolist() == [0.5]


def test_paper_sample_ndvi_is_read_not_derived(tmp_path: Path) -> None:
    path, data = _paper_sample(tmp_path / 'sample.tif')
    image = _read_modalities(path, ['rgb', 'ndvi', 'nir'], 'paper_sample')
    assert torch.equal(image[3], torch.from_numpy(data[3]))
    assert torch.equal(image[:3], torch.from_numpy(data[:3]))
    assert torch.equal(image[4], torch.from_numpy(data[4]))
    # A file described as red, green, blue, NDVI, nir reads the same way.
    described = _write_tif(
        tmp_path / 'described.tif', data, ['red', 'green', 'blue', 'NDVI', 'nir']
    )
    assert torch.equal(_read_modalities(described, ['ndvi'])[0], image[3])


def test_paper_sample_ndvi_in_the_training_dataset(tmp_path: Path) -> None:
    from rtsgeo.datasets import MultimodalRasterDataset

    path, data = _paper_sample(tmp_path / 'sample.tif')
    dataset = MultimodalRasterDataset(
        path, modalities=('rgb', 'ndvi', 'nir'), sensor='paper_sample'
    )
    sample = dataset[dataset.bounds]
    assert sample['image'].shape == (5, 16, 16)
    assert torch.allclose(sample['image'][3], torch.from_numpy(data[3]))
    assert torch.allclose(sample['image'][4], torch.from_numpy(data[4]))


def test_paper_sample_ndvi_in_the_scene_reader(tmp_path: Path) -> None:
    from rtsgeo.predict.reader import SceneReader
    from rtsgeo.predict.tiling import Tile

    path, data = _paper_sample(tmp_path / 'sample.tif')
    modalities = ('rgb', 'ndvi', 'nir')
    stats = {
        'rgb': {'mean': [0.0] * 3, 'std': [1.0] * 3},
        'ndvi': {'mean': [0.0], 'std': [1.0]},
        'nir': {'mean': [0.0], 'std': [1.0]},
    }
    with SceneReader(path, modalities, stats, sensor='paper_sample') as reader:
        assert reader.bands == ('red', 'green', 'blue', 'ndvi', 'nir')
        image, valid = reader.read(Tile(0, 0, 0, 0, 16, (0, 16, 0, 16)))
    assert bool(valid.all())
    assert torch.allclose(image[3], torch.from_numpy(data[3]))
