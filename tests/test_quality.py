"""Quality-mask formats: class values, UDM2 bands and QA_PIXEL bits."""

from __future__ import annotations

import numpy as np
import pytest

from rtsgeo.errors import ConfigError
from rtsgeo.quality import MASK_FORMATS, QualityMask, parse_quality_mask


def test_scl_default_hides_clouds_shadow_snow_but_not_water() -> None:
    values = np.arange(12, dtype=np.uint8).reshape(1, 1, 12)
    hidden = QualityMask('scl').flags(values)[0]
    assert np.flatnonzero(hidden).tolist() == [0, 1, 3, 8, 9, 10, 11]
    # The same classes from a wider integer type (a VRT of UInt16).
    assert (QualityMask('scl').flags(values.astype(np.uint16))[0] == hidden).all()


def test_scl_classes_are_configurable() -> None:
    values = np.arange(12, dtype=np.uint8).reshape(1, 1, 12)
    mask = parse_quality_mask('SCL', 'cloud_high, water')
    assert mask.unobserved == ('cloud_high', 'water')
    assert np.flatnonzero(mask.flags(values)[0]).tolist() == [6, 9]


def test_udm2_hides_unusable_and_the_default_bands_light_haze_optional() -> None:
    block = np.zeros((8, 1, 8), dtype=np.uint8)
    for band in range(8):  # pixel k has band k + 1 set
        block[band, 0, band] = 1
    hidden = QualityMask('udm2').flags(block)[0]
    # snow (2), shadow (3), heavy haze (5), cloud (6), unusable (8); not clear
    # (1), light haze (4) or the confidence band (7).
    assert np.flatnonzero(hidden).tolist() == [1, 2, 4, 5, 7]
    hazy = parse_quality_mask('udm2', [*MASK_FORMATS['udm2'].default, 'light_haze'])
    assert np.flatnonzero(hazy.flags(block)[0]).tolist() == [1, 2, 3, 4, 5, 7]
    # Only the bands of the classes counted need reading.
    mask = QualityMask('udm2')
    assert mask.needed_bands == (2, 3, 5, 6, 8)
    rows = [band - 1 for band in mask.needed_bands]
    assert (mask.flags(block[rows], mask.needed_bands) == hidden).all()
    # UDM1 bits in band 8 other than bit 0 count as unusable too.
    block[:] = 0
    block[7, 0, 0] = 0b10
    assert QualityMask('udm2').flags(block)[0, 0]


def test_qa_pixel_bits() -> None:
    # Values of the Landsat Collection 2 layout: 21824 clear land (bits 6, 8,
    # 10, 12, 14), 21952 clear water (bit 7 too), 22280 cloud (bit 3), 23888
    # cloud shadow (bit 4), 30048 snow (bit 5), 55052 cirrus and cloud
    # (bits 2, 3), 1 fill (bit 0).
    values = np.array([[[21824, 21952, 22280, 23888, 30048, 55052, 1]]], np.uint16)
    hidden = QualityMask('qa_pixel').flags(values)[0]
    assert hidden.tolist() == [False, False, True, True, True, True, True]
    only_cloud = QualityMask('qa_pixel', ('cloud',)).flags(values)[0]
    assert only_cloud.tolist() == [False, False, True, False, False, True, False]


def test_nonzero_mask() -> None:
    values = np.array([[[0, 1, 255]]], np.uint8)
    assert QualityMask('nonzero').flags(values)[0].tolist() == [False, True, True]


def test_paths_and_templates() -> None:
    mask = parse_quality_mask('scl={dir}/{stem}_SCL.tif')
    assert mask.format == 'scl'
    assert mask.raster_path('/data/s2/T08WMB.tif') == '/data/s2/T08WMB_SCL.tif'
    assert parse_quality_mask('scl').raster_path('/data/s2/T08WMB.tif') is None
    with pytest.raises(ConfigError, match=r'unknown field .*use \{stem\} and \{dir\}'):
        parse_quality_mask('scl=masks/{scene}.tif')


@pytest.mark.parametrize(
    ('text', 'classes', 'message'),
    [
        ('fmask', None, "unknown quality mask format 'fmask': choose one of scl, "),
        ('scl', 'clouds', r"unknown scl class\(es\) \['clouds'\]: choose from no_data"),
        ('qa_pixel', 'clear', r"unknown qa_pixel class\(es\) \['clear'\]"),
        ('scl=', None, 'has an empty path: use FORMAT or FORMAT=PATH'),
    ],
)
def test_bad_masks_are_one_line_errors(
    text: str, classes: str | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_quality_mask(text, classes)
    assert '\n' not in str(caught.value)
