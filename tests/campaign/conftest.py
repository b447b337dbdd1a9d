from __future__ import annotations

from pathlib import Path

import pytest

from rtsgeo.datasets import make_synthetic_dataset


@pytest.fixture(scope='session')
def synthetic_scenes(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three small synthetic scenes (one with a nodata hole)."""
    root = tmp_path_factory.mktemp('campaign-scenes')
    scenes = make_synthetic_dataset(root, n_scenes=3, seed=5, size=128, n_slumps=2)
    return [s.image_path for s in scenes]
