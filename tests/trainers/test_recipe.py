"""The two-stage recipe: file format, data folder, and end to end runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from rtsgeo.cli.main import main
from rtsgeo.errors import ConfigError
from rtsgeo.models import load_trained_model
from rtsgeo.trainers.recipe import (
    _merge,
    load_recipe,
    resolve_data_dir,
    stage1_config,
    stage2_config,
    stage2_stats_sources,
)

CONFIGS = Path(__file__).parents[2] / 'rtsgeo' / 'configs'
BASE = CONFIGS / 'tiny' / 'rgb.yaml'
REAL = CONFIGS / 'recipes' / 'yang2023_lubka1.yaml'
COCO = 'rtsgeo.datamodules.COCODataModule'


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


def test_a_new_class_path_replaces_its_section() -> None:
    base = {
        'data': {'class_path': 'A', 'init_args': {'root': 'a', 'chip_size': 256}},
        'trainer': {'max_epochs': 2},
    }
    same = _merge(base, {'data': {'class_path': 'A', 'init_args': {'root': 'b'}}})
    assert same['data']['init_args'] == {'root': 'b', 'chip_size': 256}
    other = _merge(base, {'data': {'class_path': 'B', 'init_args': {'root': 'c'}}})
    assert other == {
        'data': {'class_path': 'B', 'init_args': {'root': 'c'}},
        'trainer': {'max_epochs': 2},
    }


def test_stage1_by_modality(tmp_path: Path) -> None:
    path = tmp_path / 'recipe.yaml'
    recipe = {
        'base': str(BASE),
        'modalities': ['rgb', 'nir'],
        'stage1': {'trainer': {'max_epochs': 1}},
        'stage1_by_modality': {
            'rgb': {
                'data': {'class_path': COCO, 'init_args': {'root': 'chips'}},
                'trainer': {'max_epochs': 3},
            }
        },
    }
    path.write_text(yaml.safe_dump(recipe))
    loaded = load_recipe(path)
    rgb, nir = stage1_config(loaded, 'rgb'), stage1_config(loaded, 'nir')
    assert rgb['data'] == {
        'class_path': COCO,
        'init_args': {'root': 'chips', 'modalities': ['rgb']},
    }
    assert rgb['trainer']['max_epochs'] == 3 and nir['trainer']['max_epochs'] == 1
    assert nir['data']['init_args']['root'] == 'data/synthetic'
    assert stage2_stats_sources(loaded) == {'rgb': 'stage2-data', 'nir': 'stage1'}

    recipe['stage1_by_modality']['ndvi'] = {}
    path.write_text(yaml.safe_dump(recipe))
    with pytest.raises(ConfigError, match=r"names \['ndvi'\], which are not among"):
        load_recipe(path)


def test_inline_base(tmp_path: Path) -> None:
    path = tmp_path / 'recipe.yaml'
    base = yaml.safe_load(BASE.read_text())
    path.write_text(yaml.safe_dump({'base': base, 'modalities': ['rgb', 'ndvi']}))
    assert load_recipe(path)['base_config'] == base


def test_data_dir_placeholder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = {'data': {'init_args': {'root': '${RTSGEO_DATA_DIR}/lubka1', 'n': 1}}}
    monkeypatch.setenv('RTSGEO_DATA_DIR', str(tmp_path))
    resolved = resolve_data_dir(config)
    assert resolved['data']['init_args'] == {'root': f'{tmp_path}/lubka1', 'n': 1}
    assert config['data']['init_args']['root'] == '${RTSGEO_DATA_DIR}/lubka1'
    monkeypatch.setenv('RTSGEO_DATA_DIR', str(tmp_path / 'absent'))
    assert resolve_data_dir({'root': 'data/synthetic'}) == {'root': 'data/synthetic'}
    with pytest.raises(ConfigError, match='set RTSGEO_DATA_DIR'):
        resolve_data_dir(config)


def test_real_data_recipe_file() -> None:
    recipe = load_recipe(REAL)
    rgb = stage1_config(recipe, 'rgb')['data']
    assert rgb['class_path'] == COCO
    assert rgb['init_args']['root'] == '${RTSGEO_DATA_DIR}/rgb-rts-coco-yang2023'
    assert (rgb['init_args']['chip_gsd_m'], rgb['init_args']['gsd_m']) == (3.0, 10.0)
    for modality in ('ndvi', 'nir'):
        data = stage1_config(recipe, modality)['data']['init_args']
        assert data['root'] == '${RTSGEO_DATA_DIR}/s2-rts-lubka1'
    assert stage2_stats_sources(recipe) == {
        'rgb': 'stage2-data',
        'ndvi': 'stage1',
        'nir': 'stage1',
    }


def test_stage2_takes_stage1_stats_of_the_same_data(tmp_path: Path) -> None:
    recipe = load_recipe(REAL)
    checkpoints = {}
    for index, modality in enumerate(recipe['modalities']):
        path = tmp_path / f'{modality}.ckpt'
        stats = {modality: {'mean': [float(index)], 'std': [1.0]}}
        torch.save({'rtsgeo': {'stats': stats}}, path)
        checkpoints[modality] = str(path)
    config = stage2_config(recipe, checkpoints)
    # RGB trained on yang2023 chips: stage 2 computes it from lubka1.
    assert config['data']['init_args']['stats'] == {
        'ndvi': {'mean': [1.0], 'std': [1.0]},
        'nir': {'mean': [2.0], 'std': [1.0]},
    }
    options = config['model']['init_args']['model_options']
    assert options['unimodal_checkpoints'] == [
        checkpoints[m] for m in ('rgb', 'ndvi', 'nir')
    ]
    assert options['freeze_trunks'] and options['fusion'] == 'residual_cross_attention'


def _shortened(recipe: dict, tmp_path: Path) -> dict:
    """The recipe with two steps per run, a batch or two of validation, no figures."""
    short = {
        'model': {'init_args': {'warmup_steps': 1, 'plot_samples': 0}},
        'data': {'init_args': {'length': 8, 'batch_size': 4}},
        'trainer': {
            'max_epochs': 1,
            # All batches of the few chips of _few_chips (one or two each).
            'limit_val_batches': 1.0,
            'num_sanity_val_steps': 0,
            'log_every_n_steps': 1,
            'enable_progress_bar': False,
        },
    }
    rgb = recipe['stage1_by_modality']['rgb']
    # Crops placed anywhere: positive crops would decode all 756 chips first.
    few = {'length': 8, 'stats_samples': 4, 'positive_fraction': 0.0}
    return {
        **recipe,
        'output_dir': str(tmp_path / 'runs'),
        'stage1': _merge(recipe['stage1'] or {}, short),
        'stage1_by_modality': {'rgb': _merge(rgb, {'data': {'init_args': few}})},
        'stage2': _merge(recipe['stage2'], short),
    }


def _few_chips(data_dir: Path, out: Path) -> Path:
    """A data folder of links to a few chips of lubka1 and yang2023 (fast reads)."""
    lubka1 = data_dir / 's2-rts-lubka1'
    for split, count in (('train', 6), ('val', 2), ('test', 2)):
        for image in sorted((lubka1 / split / 'image').glob('*.tif'))[:count]:
            for kind in ('image', 'mask'):
                folder = out / 's2-rts-lubka1' / split / kind
                folder.mkdir(parents=True, exist_ok=True)
                (folder / image.name).symlink_to(lubka1 / split / kind / image.name)
    yang = data_dir / 'rgb-rts-coco-yang2023'
    (out / yang.name).mkdir()
    for name, count in (('coco_rts_train.json', 8), ('coco_rts_valtest.json', 4)):
        coco = json.loads((yang / name).read_text())
        coco['images'] = coco['images'][:count]
        ids = {image['id'] for image in coco['images']}
        for image in coco['images']:
            image['file_name'] = str((yang / 'images' / image['file_name']).resolve())
        coco['annotations'] = [a for a in coco['annotations'] if a['image_id'] in ids]
        (out / yang.name / name).write_text(json.dumps(coco))
    return out


@pytest.mark.data
@pytest.mark.slow
def test_real_data_recipe(
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stage 1 RGB on yang2023 at 10 m, NDVI and NIR on lubka1, stage 2 on lubka1."""
    for name in ('rgb-rts-coco-yang2023', 's2-rts-lubka1'):
        if not (data_dir / name).is_dir():
            pytest.skip(f'{data_dir / name} not found: set RTSGEO_DATA_DIR')
    # the recipe's own file, on a few chips of each dataset (RTSGEO_DATA_DIR)
    data_dir = _few_chips(data_dir, tmp_path / 'data')
    monkeypatch.setenv('RTSGEO_DATA_DIR', str(data_dir))
    recipe = yaml.safe_load(REAL.read_text())
    path = tmp_path / 'recipe.yaml'
    path.write_text(yaml.safe_dump(_shortened(recipe, tmp_path)))
    assert main(['recipe', '--config', str(path)]) == 0
    out = capsys.readouterr().out
    assert '(data: rgb-rts-coco-yang2023)' in out
    assert out.count('(data: s2-rts-lubka1)') == 3

    manifest = json.loads((tmp_path / 'runs' / 'recipe.json').read_text())
    assert manifest['stage1']['rgb']['data'] == {
        'class_path': COCO,
        'root': str(data_dir / 'rgb-rts-coco-yang2023'),
        'train_annotations': 'coco_rts_train.json',
        'chip_gsd_m': 3.0,
        'gsd_m': 10.0,
    }
    lubka1 = str(data_dir / 's2-rts-lubka1')
    for modality in ('ndvi', 'nir'):
        assert manifest['stage1'][modality]['data']['root'] == lubka1
    assert manifest['stage2']['data']['root'] == lubka1
    assert manifest['stage2']['stats'] == {
        'rgb': 'stage2-data',
        'ndvi': 'stage1',
        'nir': 'stage1',
    }

    fed = manifest['stage2']['unimodal_checkpoints']
    stage2 = _trunks(manifest['stage2']['checkpoint'])
    for modality, checkpoint in fed.items():
        stage1 = _trunks(checkpoint)
        assert stage1 and all(f'branches.{modality}.' in k for k in stage1)
        for key, value in stage1.items():
            torch.testing.assert_close(stage2[key], value, rtol=0, atol=0)

    fused = load_trained_model(manifest['stage2']['checkpoint'])[1]
    rgb = load_trained_model(fed['rgb'])[1]
    assert rgb.gsd_m == 10.0 and fused.gsd_m == pytest.approx(10.0, rel=0.01)
    # yang2023 JPEG values (0-255) against lubka1 reflectance (x 1e4).
    assert max(rgb.stats['rgb']['mean']) < 255 < min(fused.stats['rgb']['mean'])
    for modality in ('ndvi', 'nir'):
        unimodal = load_trained_model(fed[modality])[1]
        assert fused.stats[modality] == unimodal.stats[modality]
