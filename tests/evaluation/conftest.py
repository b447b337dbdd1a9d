"""Tiny chips with known sites, and the lubka1 chips grouped into sites."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest

from rtsgeo.evaluation import assign_sites, read_chips
from tests.evaluation._chips import write_chips


@pytest.fixture(scope='module')
def chip_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The chips of tests/evaluation/_chips.py."""
    return write_chips(tmp_path_factory.mktemp('chips'))


@pytest.fixture(scope='module')
def chip_sites(chip_root: Path) -> gpd.GeoDataFrame:
    """Their table with sites."""
    return assign_sites(read_chips(chip_root))


@pytest.fixture(scope='module')
def lubka_root(data_dir: Path) -> Path:
    """The lubka1 chips; skip when absent."""
    root = data_dir / 's2-rts-lubka1'
    if not root.is_dir():
        pytest.skip(f'{root} is absent')
    return root


@pytest.fixture(scope='module')
def lubka(lubka_root: Path) -> gpd.GeoDataFrame:
    """The lubka1 chip table with sites."""
    return assign_sites(read_chips(lubka_root))
