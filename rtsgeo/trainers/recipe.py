"""The paper's two-stage training recipe (section 4.2).

Stage 1 trains one unimodal model per modality; stage 2 trains the multimodal
model initialised from the stage-1 checkpoints (each modality's trunk and
pyramid), with the trunks frozen. A recipe file names a LightningCLI config
shared by every run and what each stage changes::

    base: ../tiny/rgb.yaml          # relative to the recipe file, or the config itself
    output_dir: runs/tiny-recipe
    modalities: [rgb, ndvi, nir]    # stage 1 runs once per modality
    stage1: {}                      # nested overrides of the base config
    stage1_by_modality:             # optional: one modality's stage-1 run only
      rgb: {data: {class_path: rtsgeo.datamodules.COCODataModule, init_args: ...}}
    stage2:                         # name the fused model's preset or fusion
      model: {init_args: {model_options: {fusion: residual_cross_attention}}}

Overrides are merged key by key, except that a section naming another
``class_path`` than the one it overrides replaces it whole (a datamodule of
another class takes other arguments). A stage-1 run's config is the base, then
``stage1``, then its ``stage1_by_modality`` entry; stage 2's is the base, then
``stage2``. ``${RTSGEO_DATA_DIR}`` in any string is replaced, when a run starts,
by the real-data folder (``RTSGEO_DATA_DIR``, see :func:`rtsgeo._datadir.data_dir`),
so recipe files name no machine's paths.

Each run writes its config and checkpoints under ``output_dir/stage1-<m>/``
and ``output_dir/stage2/``; ``output_dir/recipe.json`` records which
checkpoints fed stage 2, with their SHA-256, every run's data (datamodule class
and folder) and every run's metrics.
Stage 2 reuses the stage-1 normalisation statistics of every modality whose
stage-1 run read the same data as stage 2, so the frozen trunks see the inputs
they were trained on; a modality trained on other data in stage 1 (another
sensor, another product) is standardised with statistics of stage 2's own
training data instead, as its stage-1 data were standardised with theirs.
The manifest says which (``stage2.stats``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import CheckpointError, ConfigError

__all__ = [
    'DATA_DIR',
    'load_recipe',
    'resolve_data_dir',
    'run_recipe',
    'stage1_config',
    'stage2_config',
    'stage2_stats_sources',
]

MANIFEST = 'recipe.json'
#: Stands for the real-data folder in recipe strings (see :func:`resolve_data_dir`).
DATA_DIR = '${RTSGEO_DATA_DIR}'
#: Datamodule arguments that say which data a run reads (not how it samples it).
_DATA_SOURCE = (
    'root',
    'images',
    'labels',
    'regions',
    'extra',
    'sensor',
    'train_annotations',
    'chip_gsd_m',
    'gsd_m',
)


def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """*base* with *update* merged in; a new ``class_path`` replaces its section."""
    if 'class_path' in update and update['class_path'] != base.get('class_path'):
        return copy.deepcopy(dict(update))
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve_data_dir(value: Any) -> Any:
    """*value* with ``${RTSGEO_DATA_DIR}`` in its strings replaced by the data folder.

    Raises:
        ConfigError: If a string names it and no data folder is found.
    """
    if isinstance(value, Mapping):
        return {k: resolve_data_dir(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_data_dir(v) for v in value]
    if not isinstance(value, str) or DATA_DIR not in value:
        return value
    from .._datadir import data_dir

    folder = data_dir()
    if folder is None:
        msg = (
            f'{value!r} needs the real-data folder: set RTSGEO_DATA_DIR to the '
            'folder that holds the data sets (it must exist)'
        )
        raise ConfigError(msg)
    return value.replace(DATA_DIR, str(folder))


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
    if isinstance(recipe['base'], Mapping):
        recipe['base_config'] = copy.deepcopy(recipe['base'])
    else:
        base = (path.parent / recipe['base']).resolve()
        if not base.is_file():
            raise ConfigError(f'recipe {path}: base config {base} does not exist')
        recipe['base_config'] = yaml.safe_load(base.read_text())
    unknown = set(recipe.get('stage1_by_modality') or {}) - set(recipe['modalities'])
    if unknown:
        msg = (
            f'recipe {path}: stage1_by_modality names {sorted(unknown)}, which '
            f'are not among the modalities {list(recipe["modalities"])}'
        )
        raise ConfigError(msg)
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
    by_modality = recipe.get('stage1_by_modality') or {}
    config = _merge(config, by_modality.get(modality) or {})
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

    The model starts from the stage-1 checkpoints with frozen trunks; each
    modality's normalisation statistics come from its checkpoint or from
    stage 2's training data (see :func:`stage2_stats_sources`).

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
    reused = [m for m, s in stage2_stats_sources(recipe).items() if s == 'stage1']
    config['data']['init_args']['stats'] = _stage1_stats(checkpoints, reused) or None
    return config


def _data_source(config: Mapping[str, Any]) -> dict[str, Any]:
    args = config['data'].get('init_args') or {}
    return {key: args.get(key) for key in _DATA_SOURCE}


def stage2_stats_sources(recipe: Mapping[str, Any]) -> dict[str, str]:
    """Where stage 2 takes each modality's normalisation statistics from.

    Returns:
        ``'stage1'`` (the stage-1 checkpoint's) for a modality whose stage-1
        run reads the data stage 2 reads (same folder, files, sensor and
        GSD), else ``'stage2-data'`` (computed from stage 2's training data).
    """
    stage2 = _merge(recipe['base_config'], recipe.get('stage2') or {})
    source = _data_source(stage2)
    return {
        m: 'stage1'
        if _data_source(stage1_config(recipe, m)) == source
        else 'stage2-data'
        for m in recipe['modalities']
    }


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

    config = resolve_data_dir(config)
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
    args = config['data'].get('init_args') or {}
    data = {'class_path': config['data'].get('class_path')}
    data.update({k: args[k] for k in _DATA_SOURCE if args.get(k) is not None})
    return {
        'config': str(path),
        'data': data,
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
        manifest['stage2']['stats'] = stage2_stats_sources(recipe)
    _write(manifest_path, manifest)
    return manifest


def _write(path: Path, manifest: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=2))
