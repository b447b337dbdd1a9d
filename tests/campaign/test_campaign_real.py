"""The campaign with the real ScenePredictor and a tiny untrained model.

Runs once rtsgeo.predict.scene is present (it is written beside this layer).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rtsgeo.cli.main import main

from .test_campaign_kill import _content

pytest.importorskip('rtsgeo.predict.scene')

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rtsgeo.models import build_model_from_preset, get_preset, save_trained_model

    name = 'nano_cascade_rgb_ndvi_nir'
    torch.manual_seed(0)
    model = build_model_from_preset(name).eval()
    stats = {
        m: {'mean': [0.0] * c, 'std': [1.0] * c}
        for m, c in (('rgb', 3), ('ndvi', 1), ('nir', 1))
    }
    path = tmp_path_factory.mktemp('model') / 'nano.pt'
    return save_trained_model(path, model, get_preset(name), stats, 'sentinel2', name)


@pytest.mark.slow
def test_real_ddp_matches_one_process(
    tmp_path: Path, synthetic_scenes: list[Path], checkpoint: Path
) -> None:
    single = tmp_path / 'single.gpkg'
    common = ['--checkpoint', str(checkpoint), '--no-progress']
    scenes = [str(p) for p in synthetic_scenes]
    assert main(['map', *scenes, '--out', str(single), *common]) == 0
    ddp = tmp_path / 'ddp.gpkg'
    command = [sys.executable, '-m', 'rtsgeo.cli.main', 'map', *scenes]
    command += ['--out', str(ddp), '--devices', '2', '--accelerator', 'cpu', *common]
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    got, want = _content(ddp), _content(single)
    # Same polygons (geometry, ids, order); scores may differ in the 4th decimal
    # because each DDP rank runs with its own intra-op thread count.
    got_scores = got['slumps'].pop('score')
    want_scores = want['slumps'].pop('score')
    assert got == want
    assert len(want['slumps']['polygon_id']) > 0
    assert got_scores == pytest.approx(want_scores, abs=1e-3)
