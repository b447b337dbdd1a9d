"""The paper's two-stage training recipe (section 4.2).

Stage 1 trains one unimodal model per modality; stage 2 trains the multimodal
model initialised from the stage-1 checkpoints (each modality's trunk and
pyramid), with the trunks frozen. A recipe file names a LightningCLI config
shared by every run and what each stage changes::

    base: ../tiny/rgb.yaml          # relative to the recipe file
    output_dir: runs/tiny-recipe
    modalities: [rgb, ndvi, nir]    # stage 1 runs once per modality
    stage1: {}                      # nested overrides of the base config
    stage2:                         # name the fused model's preset or fusion
      model: {init_args: {model_options: {fusion: residual_cross_attention}}}

Each run writes its config and checkpoints under ``output_dir/stage1-<m>/``
and ``output_dir/stage2/``; ``output_dir/recipe.json`` records which
checkpoints fed stage 2, with their SHA-256, and every run's metrics.
Stage 2 reuses the stage-1 normalisation statistics so the frozen trunks see
the inputs they were trained on.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import CheckpointError, ConfigError

__all__ = ['load_recipe', 'run_recipe', 'stage1_config', 'stage2_config']

MANIFEST = 'recipe.json'


def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_recipe(path: str | Path) -> dict[str, Any]:
    """Read a recipe file, resolving ``base`` against the file's folder.

    Raises:
        ConfigError: If a key is missing or the base config cannot be read.
    """
    path = Path(path)
    recipe = yaml.safe_load(path.read_text()) or {}
    for key in ('base', 'modalities'):
        if key not in recipe:
            raise ConfigError(f'recipe {path} needs a "{key}" entry')
    base = (path.parent / recipe['base']).resolve()
    if not base.is_file():
        raise ConfigError(f'recipe {path}: base config {base} does not exist')
    recipe['base_config'] = yaml.safe_load(base.read_text())
    recipe.setdefault('output_dir', f'runs/{path.stem}')
    return recipe


def _set_run(config: dict[str, Any], modalities: list[str], root: Path) -> None:
    options = config['model']['init_args'].setdefault('model_options', {}) or {}
    config['model']['init_args']['model_options'] = options
    options['modalities'] = list(modalities)
    config['data']['init_args']['modalities'] = list(modalities)
    config.setdefault('trainer', {})['default_root_dir'] = str(root)


def stage1_config(recipe: Mapping[str, Any], modality: str) -> dict[str, Any]:
    """The LightningCLI config of one stage-1 (unimodal) run."""
    config = _merge(recipe['base_config'], recipe.get('stage1') or {})
    root = Path(recipe['output_dir']) / f'stage1-{modality}'
    _set_run(config, [modality], root)
    options = config['model']['init_args']['model_options']
    options.update(primary=modality, fusion='none', unimodal_checkpoints=[])
    options['freeze_trunks'] = False
    return config


def stage2_config(
    recipe: Mapping[str, Any], checkpoints: Mapping[str, str]
) -> dict[str, Any]:
    """The LightningCLI config of the stage-2 (multimodal) run.

    Raises:
        CheckpointError: If a modality's stage-1 checkpoint is missing.
    """
    modalities = list(recipe['modalities'])
    for modality in modalities:
        path = checkpoints.get(modality)
        if not path or not Path(path).is_file():
            msg = (
                f'stage 2 needs the stage-1 checkpoint of {modality!r}, '
                f'{path or "none recorded"} does not exist: run stage 1 first '
                f'(rtsgeo recipe --stage 1) or list it under stage1_checkpoints'
            )
            raise CheckpointError(msg)
    config = _merge(recipe['base_config'], recipe.get('stage2') or {})
    _set_run(config, modalities, Path(recipe['output_dir']) / 'stage2')
    options = config['model']['init_args']['model_options']
    options['unimodal_checkpoints'] = [checkpoints[m] for m in modalities]
    options['freeze_trunks'] = True
    config['data']['init_args']['stats'] = _stage1_stats(checkpoints, modalities)
    return config


def _stage1_stats(
    checkpoints: Mapping[str, str], modalities: list[str]
) -> dict[str, Any]:
    from ..models._io import load_torch_file

    stats = {}
    for modality in modalities:
        raw = load_torch_file(checkpoints[modality])
        meta = raw.get('rtsgeo', {}) if isinstance(raw, Mapping) else {}
        if modality not in meta.get('stats', {}):
            msg = f'{checkpoints[modality]} has no {modality!r} statistics: is it '
            raise CheckpointError(msg + 'a stage-1 checkpoint of rtsgeo fit?')
        stats[modality] = meta['stats'][modality]
    return stats


def _fit(config: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Write a run's config, train it, return its checkpoint and metrics."""
    from ..models import file_sha256
    from .lightning_cli import build_cli

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / 'config.yaml'
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    cli = build_cli(['fit', '--config', str(path)])
    callback = cli.trainer.checkpoint_callback
    best = getattr(callback, 'best_model_path', '') or getattr(
        callback, 'last_model_path', ''
    )
    if not best:
        msg = f'the run in {folder} wrote no checkpoint: enable checkpointing'
        raise CheckpointError(msg + ' (no fast_dev_run in a recipe)')
    metrics = {k: float(v) for k, v in cli.trainer.callback_metrics.items()}
    return {
        'config': str(path),
        'checkpoint': str(Path(best).resolve()),
        'sha256': file_sha256(best),
        'metrics': metrics,
    }


def run_recipe(path: str | Path, stage: str = 'all') -> dict[str, Any]:
    """Run stage 1, stage 2 or both from a recipe file.

    Args:
        path: the recipe YAML.
        stage: ``'1'``, ``'2'`` or ``'all'``.

    Returns:
        The manifest (also written to ``output_dir/recipe.json``).

    Raises:
        ConfigError: If the recipe is incomplete.
        CheckpointError: If stage 2 lacks a stage-1 checkpoint.
    """
    if stage not in ('1', '2', 'all'):
        raise ConfigError(f'stage={stage!r}: use 1, 2 or all')
    recipe = load_recipe(path)
    out = Path(recipe['output_dir'])
    manifest_path = out / MANIFEST
    manifest: dict[str, Any] = {'recipe': str(Path(path).resolve())}
    if manifest_path.is_file():
        manifest = {**json.loads(manifest_path.read_text()), **manifest}
    manifest['modalities'] = list(recipe['modalities'])
    if stage in ('1', 'all'):
        manifest['stage1'] = {}
        for modality in recipe['modalities']:
            config = stage1_config(recipe, modality)
            run = _fit(config, out / f'stage1-{modality}')
            manifest['stage1'][modality] = run
            _write(manifest_path, manifest)
    if stage in ('2', 'all'):
        given = recipe.get('stage1_checkpoints') or {}
        done = {m: r['checkpoint'] for m, r in manifest.get('stage1', {}).items()}
        checkpoints = {**done, **given}
        config = stage2_config(recipe, checkpoints)
        manifest['stage2'] = _fit(config, out / 'stage2')
        manifest['stage2']['unimodal_checkpoints'] = {
            m: checkpoints[m] for m in recipe['modalities']
        }
    _write(manifest_path, manifest)
    return manifest


def _write(path: Path, manifest: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=2))
