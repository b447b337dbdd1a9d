"""rtsgeo.modalities: the one source of band and channel order."""

from __future__ import annotations

import pytest
import torch

from rtsgeo.errors import BandNotFoundError, ConfigError
from rtsgeo.modalities import (
    MODALITIES,
    Modality,
    SensorPreset,
    canonical_band_name,
    channel_layout,
    compute_modalities,
    get_modality,
    get_sensor,
    modality_channel_names,
    normalized_difference,
    required_bands,
    resolve_band_names,
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
        match="unknown sensor preset 'landsat': choose one of planetscope, rgb, rgbn",
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
        'planetscope, rgb, rgbn, sentinel2',
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
