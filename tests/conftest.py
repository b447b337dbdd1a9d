"""Shared fixtures: the real-data folder and small seeded rasters."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtsgeo._datadir import data_dir as _data_dir


@pytest.fixture(scope='session')
def data_dir() -> Path:
    """The real data under RTSGEO_DATA_DIR (default ../shared/data); skip if absent."""
    path = _data_dir()
    if path is None:
        pytest.skip(
            'real data not found: set RTSGEO_DATA_DIR to the shared data folder '
            '(default ../shared/data beside the checkout)'
        )
    return path
