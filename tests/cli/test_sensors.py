"""``rtsgeo sensors``: the listing and its JSON form."""

from __future__ import annotations

import json

import pytest

from rtsgeo.cli.main import main
from rtsgeo.modalities import SENSORS


def test_text_lists_every_preset_with_its_band_order(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(['sensors']) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 * len(SENSORS)
    names = [line.split()[0] for line in lines[::2]]
    assert names == list(SENSORS)
    landsat = lines[2 * names.index('landsat_oli') :][:2]
    assert '7 bands  Landsat 8/9 OLI' in landsat[0]
    assert landsat[1].split() == [
        '1:coastal',
        '2:blue',
        '3:green',
        '4:red',
        '5:nir',
        '6:swir16',
        '7:swir22',
    ]


def test_json_round_trips_the_presets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(['sensors', '--json']) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row['name']: tuple(row['bands']) for row in rows} == {
        name: preset.bands for name, preset in SENSORS.items()
    }
    paper = next(row for row in rows if row['name'] == 'paper_sample')
    assert paper['bands'] == ['red', 'green', 'blue', 'ndvi', 'nir']
    assert 'NDVI' in paper['description']


def test_presets_with_a_mask_band_name_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(['sensors', '--json']) == 0
    rows = {row['name']: row for row in json.loads(capsys.readouterr().out)}
    assert rows['sentinel2_scl']['quality'] == 'scl'
    assert rows['sentinel2_scl']['bands'][-1] == 'scl'
    assert rows['landsat_oli_qa']['quality'] == 'qa_pixel'
    assert rows['sentinel2']['quality'] is None
    assert main(['sensors']) == 0
    assert '[quality mask: scl]' in capsys.readouterr().out
