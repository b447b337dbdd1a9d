"""The packaged configs build valid models and the index lists every one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from rtsgeo.trainers import build_config
from rtsgeo.trainers.recipe import load_recipe, stage1_config

CONFIGS = Path(__file__).parents[2] / 'rtsgeo' / 'configs'
FIT = sorted(p for p in CONFIGS.rglob('*.yaml') if not p.name.endswith('recipe.yaml'))
FIT = [p for p in FIT if p.parent.name != 'recipes']
RECIPES = sorted(CONFIGS.rglob('*.recipe.yaml')) + sorted(
    (CONFIGS / 'recipes').glob('*.yaml')
)


def _check(config: dict) -> None:
    task = config['model']['init_args']
    model = build_config(task['model'], task.get('model_options') or {})
    assert list(model.modalities) == config['data']['init_args']['modalities']
    assert max(model.anchor_sizes) <= config['data']['init_args']['patch_size']
    if model.backbone.startswith('mvitv2'):
        assert model.image_size == config['data']['init_args']['patch_size']


@pytest.mark.parametrize('path', FIT, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_fit_config(path: Path) -> None:
    _check(yaml.safe_load(path.read_text()))


@pytest.mark.parametrize('path', RECIPES, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_recipe(path: Path) -> None:
    recipe = load_recipe(path)
    for modality in recipe['modalities']:
        _check(stage1_config(recipe, modality))
    # Stage 2 as it will be built, without checkpoints (those come from stage 1).
    stage2 = yaml.safe_load(yaml.safe_dump(recipe['base_config']))
    from rtsgeo.trainers.recipe import _merge

    stage2 = _merge(stage2, recipe.get('stage2') or {})
    options = stage2['model']['init_args']['model_options']
    options['modalities'] = stage2['data']['init_args']['modalities'] = recipe[
        'modalities'
    ]
    options['freeze_trunks'] = True
    _check(stage2)
    assert len(recipe['modalities']) > 1


def test_index_lists_every_paper_config() -> None:
    index = (CONFIGS / 'README.md').read_text()
    listed = set(re.findall(r'`((?:paper|tiny|recipes)/[^`]+\.yaml)`', index))
    on_disk = {str(p.relative_to(CONFIGS)) for p in CONFIGS.rglob('*.yaml')}
    assert listed == on_disk
