"""Trained-model files: save, load, refuse what is not one."""

from pathlib import Path

import pytest
import torch

from rtsgeo.errors import CheckpointError
from rtsgeo.models import (
    build_model_from_preset,
    get_preset,
    load_trained_model,
    save_trained_model,
)


def test_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = get_preset('nano_cascade_rgb')
    model = build_model_from_preset('nano_cascade_rgb').eval()
    stats = {'rgb': {'mean': [1.0, 2.0, 3.0], 'std': [0.5, 0.5, 0.5]}}
    path = save_trained_model(tmp_path / 'm.pt', model, config, stats, 'rgb', 'tiny')
    loaded, info = load_trained_model(path)
    assert info.config == config
    assert info.stats == stats
    assert (info.sensor, info.name, info.modalities) == ('rgb', 'tiny', ('rgb',))
    assert len(info.sha256) == 64
    assert not loaded.training
    x = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        a, b = model([x[0]]), loaded([x[0]])
    assert torch.equal(a[0]['boxes'], b[0]['boxes'])


def test_refuses_plain_state_dict(tmp_path: Path) -> None:
    path = tmp_path / 'plain.pt'
    torch.save({'state_dict': {'w': torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError, match='not an rtsgeo trained model'):
        load_trained_model(path)
    with pytest.raises(CheckpointError, match='does not exist'):
        load_trained_model(tmp_path / 'missing.pt')
