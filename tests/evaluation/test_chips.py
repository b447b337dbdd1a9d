"""The chip table: footprints, zones and slump counts of chip folders and files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from rtsgeo.errors import (
    ConfigError,
    CorruptRasterError,
    DataNotFoundError,
    InvalidImageryError,
)
from rtsgeo.evaluation import CHIP_SUFFIXES, read_chips, zone_label
from tests.evaluation._chips import SITES, SLUMPS, by_chip


def test_chip_table(chip_root: Path) -> None:
    chips = read_chips(chip_root)
    assert list(chips['chip']) == sorted(SITES)
    assert by_chip(chips, 'slumps') == SLUMPS
    assert by_chip(chips, 'split')['val/f'] == 'val'
    zones = by_chip(chips, 'zone')
    assert (zones['train/a'], zones['val/f'], zones['test/g'], zones['train/h']) == (
        'UTM 8N',
        'UTM 9N',
        'UTM 1N',
        'UTM 60N',
    )
    assert by_chip(chips, 'chip_crs')['val/f'] == 'EPSG:32609'
    masks = by_chip(chips, 'mask')
    assert masks['train/c'] == ''
    assert masks['train/b'] == str(chip_root / 'train' / 'mask' / 'b.tif')
    assert by_chip(chips, 'path')['test/a'] == str(
        chip_root / 'test' / 'image' / 'a.tif'
    )
    assert chips.crs == 'EPSG:4326'
    assert chips['footprint'].iloc[0].area == pytest.approx(160.0**2)
    # The outline in degrees has the chip's area on the ground.
    area = chips.set_index('chip').geometry.to_crs('EPSG:32608')['train/a'].area
    assert area == pytest.approx(160.0**2, rel=1e-6)


def test_outline_across_the_antimeridian_stays_small(chip_root: Path) -> None:
    chips = read_chips(chip_root).set_index('chip')
    for chip in ('test/g', 'train/h'):
        west, _, east, _ = chips.geometry[chip].bounds
        assert west < 180 < east
        assert east - west < 0.01


def test_connectivity(chip_root: Path) -> None:
    from rtsgeo.datasets import instances_from_mask

    four = by_chip(read_chips(chip_root, connectivity=4), 'slumps')
    assert four == {**SLUMPS, 'train/a': 3}
    # The default counts what the training datasets make instances of.
    with rasterio.open(chip_root / 'train' / 'mask' / 'a.tif') as src:
        mask = src.read(1)
    assert len(instances_from_mask(mask)['label']) == SLUMPS['train/a']


def test_suffixes_are_those_the_datasets_read() -> None:
    from rtsgeo.datasets._files import RASTER_SUFFIXES

    assert CHIP_SUFFIXES == RASTER_SUFFIXES


def test_zone_label() -> None:
    assert zone_label('EPSG:32608') == 'UTM 8N'
    assert zone_label('EPSG:32758') == 'UTM 58S'
    assert zone_label('EPSG:3413') == 'EPSG:3413'


def test_user_chips(chip_root: Path, tmp_path: Path) -> None:
    files = [
        chip_root / 'train' / 'image' / 'b.tif',
        chip_root / 'val' / 'image' / 'f.tif',
    ]
    chips = read_chips(files)
    # Masks from the mask/ folder beside the image folder.
    assert by_chip(chips, 'slumps') == {'b': 4, 'f': 1}
    assert set(chips['split']) == {''}
    plain = tmp_path / 'plain'
    plain.mkdir()
    for path in files:
        (plain / path.name).write_bytes(path.read_bytes())
    # No mask/ beside plain/: no slumps; a folder and a file in it: one chip each.
    again = read_chips([plain, plain / 'b.tif'])
    assert by_chip(again, 'slumps') == {'b': 0, 'f': 0}
    assert by_chip(read_chips(chip_root / 'val'), 'slumps') == {'a2': 0, 'f': 1}


def test_read_errors(chip_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match='nowhere does not exist'):
        read_chips(tmp_path / 'nowhere')
    with pytest.raises(DataNotFoundError, match='no chip found in'):
        read_chips(tmp_path)
    same = [
        chip_root / 'train' / 'image' / 'a.tif',
        chip_root / 'test' / 'image' / 'a.tif',
    ]
    with pytest.raises(ConfigError, match="are both chip 'a': rename one"):
        read_chips(same)
    with pytest.raises(ConfigError, match='connectivity=6 is not supported'):
        read_chips(chip_root, connectivity=6)
    bare = tmp_path / 'bare.tif'
    with rasterio.open(
        bare, 'w', driver='GTiff', width=4, height=4, count=1, dtype='uint8',
        transform=from_origin(0, 4, 1, 1),
    ) as dst:  # fmt: skip
        dst.write(np.zeros((1, 4, 4), np.uint8))
    with pytest.raises(InvalidImageryError, match=r'bare\.tif has no CRS'):
        read_chips(bare)
    broken = tmp_path / 'broken.tif'
    broken.write_bytes(b'not a tiff')
    with pytest.raises(CorruptRasterError, match=r'broken\.tif cannot be read'):
        read_chips(broken)


@pytest.mark.data
def test_lubka_four_connected(lubka_root: Path) -> None:
    chips = read_chips(lubka_root, connectivity=4)
    assert chips.groupby('split')['slumps'].sum().to_dict() == {
        'train': 459,
        'val': 42,
        'test': 46,
    }
