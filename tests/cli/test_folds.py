"""``rtsgeo folds``: the fold table, its summary and one-line errors."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from rtsgeo.cli.main import main
from tests.evaluation._chips import SITES, SLUMPS, write_chips


@pytest.fixture(scope='module')
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_chips(tmp_path_factory.mktemp('chips'))


def test_csv_by_sites(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / 'folds.csv'
    assert main(['folds', str(root), '--k', '3', '--out', str(out)]) == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns) == [
        'chip',
        'split',
        'site',
        'zone',
        'slumps',
        'fold',
        'path',
    ]
    assert dict(zip(table['chip'], table['site'], strict=True)) == SITES
    assert dict(zip(table['chip'], table['slumps'], strict=True)) == SLUMPS
    assert (table.groupby('site')['fold'].nunique() == 1).all()
    assert table.groupby('fold')['slumps'].sum().tolist() == [6, 7, 7]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == '11 chips, 7 sites, 4 zones, 20 slumps; 3 folds by sites'
    assert lines[-1] == f'wrote {out}'


def test_gpkg_by_zones(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / 'folds.gpkg'
    assert main(['folds', str(root), '--by', 'zones', '--out', str(out)]) == 0
    table = gpd.read_file(out, layer='folds')
    assert table.crs == 'EPSG:4326'
    assert len(table) == 11
    fold = dict(zip(table['chip'], table['fold'], strict=True))
    assert fold['val/f'] == fold['train/e'] == 1  # UTM 9N goes with its site
    assert 'UTM 1N, UTM 60N' in capsys.readouterr().out


def error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(['folds', *argv]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith('rtsgeo folds: error: ')
    return lines[0]


def test_errors(root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / 'folds.csv')
    line = error([str(tmp_path / 'nowhere'), '--out', out], capsys)
    assert 'nowhere does not exist: give a chip folder or image file' in line
    (tmp_path / 'empty').mkdir()
    assert 'no chip found in' in error([str(tmp_path / 'empty'), '--out', out], capsys)
    line = error([str(root), '--k', '8', '--out', out], capsys)
    assert 'k=8 folds of 7 sites: give k from 2 to 7' in line
    line = error([str(root), '--out', str(tmp_path / 'folds.txt')], capsys)
    assert 'give a path ending in .csv or .gpkg' in line
    line = error([str(root), '--out', str(tmp_path / 'absent' / 'folds.csv')], capsys)
    assert 'absent does not exist; create it first' in line
    assert not (tmp_path / 'folds.csv').exists()
