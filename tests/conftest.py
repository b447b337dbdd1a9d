"""Shared fixtures: the real-data folder and small seeded rasters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from rtsgeo._datadir import data_dir as _data_dir
from rtsgeo.datasets import make_synthetic_dataset
from tests.datamodules._coco import write_coco_chips


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


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two training scenes, one validation and one test scene (128 px)."""
    root = tmp_path_factory.mktemp('synthetic')
    for i, (split, count) in enumerate((('train', 2), ('val', 1), ('test', 1))):
        make_synthetic_dataset(root / split, n_scenes=count, seed=i, size=128)
    return root


@pytest.fixture(scope='session')
def coco_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four training and two valtest RGB chips (60-100 px) with COCO annotations."""
    return write_coco_chips(tmp_path_factory.mktemp('coco'))


@pytest.fixture
def keep_torch_threads() -> Iterator[None]:
    """Restore torch's thread count after the test (scripts set their own)."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)
