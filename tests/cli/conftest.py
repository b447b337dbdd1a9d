"""Synthetic train/val/test scenes shared by the trainer and CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtsgeo.datasets import make_synthetic_dataset


def make_splits(root: Path, size: int = 128, **kwargs: object) -> Path:
    """Two training scenes, one validation and one test scene."""
    for i, (split, count) in enumerate((('train', 2), ('val', 1), ('test', 1))):
        make_synthetic_dataset(
            root / split, n_scenes=count, seed=i, size=size, **kwargs
        )
    return root


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_splits(tmp_path_factory.mktemp('synthetic'))
