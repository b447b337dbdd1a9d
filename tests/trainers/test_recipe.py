"""The two-stage recipe end to end on tiny configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from rtsgeo.cli.main import main
from rtsgeo.models import load_trained_model

BASE = Path(__file__).parents[2] / 'rtsgeo' / 'configs' / 'tiny' / 'rgb.yaml'


def _trunks(path: str) -> dict[str, torch.Tensor]:
    state = torch.load(path, map_location='cpu', weights_only=True)['state_dict']
    return {k: v for k, v in state.items() if '.trunk.' in k}


@pytest.mark.slow
def test_two_stage_recipe(synthetic_root: Path, tmp_path: Path) -> None:
    short = {
        'data': {'init_args': {'root': str(synthetic_root), 'length': 16}},
        'trainer': {
            'max_epochs': 1,
            'limit_val_batches': 1,
            'enable_progress_bar': False,
        },
    }
    recipe = tmp_path / 'recipe.yaml'
    recipe.write_text(
        yaml.safe_dump(
            {
                'base': str(BASE),
                'output_dir': str(tmp_path / 'runs'),
                'modalities': ['rgb', 'ndvi', 'nir'],
                'stage1': short,
                'stage2': {
                    **short,
                    'model': {
                        'init_args': {
                            'model_options': {'fusion': 'residual_cross_attention'}
                        }
                    },
                },
            }
        )
    )
    assert main(['recipe', '--config', str(recipe)]) == 0
    manifest = json.loads((tmp_path / 'runs' / 'recipe.json').read_text())
    fed = manifest['stage2']['unimodal_checkpoints']
    assert fed == {
        m: manifest['stage1'][m]['checkpoint'] for m in ('rgb', 'ndvi', 'nir')
    }

    stage2 = _trunks(manifest['stage2']['checkpoint'])
    assert stage2
    for modality, path in fed.items():
        stage1 = _trunks(path)
        assert stage1 and all(f'branches.{modality}.' in k for k in stage1)
        for key, value in stage1.items():
            torch.testing.assert_close(stage2[key], value, rtol=0, atol=0)
    info = load_trained_model(manifest['stage2']['checkpoint'])[1]
    assert (
        info.config.freeze_trunks and info.config.fusion == 'residual_cross_attention'
    )
    assert info.config.modalities == ('rgb', 'ndvi', 'nir')
    assert set(info.stats) == {'rgb', 'ndvi', 'nir'}
    rgb = load_trained_model(fed['rgb'])[1]
    assert info.stats['rgb'] == rgb.stats['rgb']
