"""Trained-model files: what training writes and what the scene predictor reads.

A trained model travels as one ``torch.save`` file holding only tensors and
plain Python values, so it loads with ``torch.load(weights_only=True)``:

* ``state_dict``: the detector's weights, each key prefixed with ``model.``
  (the layout of a Lightning checkpoint of the training task);
* ``rtsgeo``: a dict with ``format`` (``1``, or ``2`` with ``scene_norm``),
  ``config`` (the :class:`~rtsgeo.models.ModelConfig` fields as plain values),
  ``stats`` (per-modality normalisation, see
  :class:`rtsgeo.transforms.NormalizeModalities`),
  ``sensor`` (a :data:`rtsgeo.modalities.SENSORS` name or ``None``), ``name``
  and ``gsd_m``: the ground sampling distance of the training imagery in
  metres per pixel, or ``None`` when unknown (files written before it was
  recorded, chips without georeferencing and no GSD given); with a per-scene
  normalisation also ``scene_norm``: the stretch of every scene's reflectance
  bands onto the training set's percentiles
  (:meth:`rtsgeo.transforms.SceneStretch.to_dict`), which ``rtsgeo map``
  applies. Such files are format 2, so that a reader that does not know the
  stretch refuses them instead of mapping unstretched scenes;
* optionally ``calibration`` inside ``rtsgeo``: the score-to-probability
  mapping and confidence tiers that ``rtsgeo calibrate`` fitted
  (:meth:`rtsgeo.evaluation.ScoreCalibration.to_dict`). It adds columns to a
  map and changes no detection, so it keeps the format.

Lightning checkpoints written by the training task carry the same ``rtsgeo``
entry, so a ``.ckpt`` from training and a file from :func:`save_trained_model`
load alike with :func:`load_trained_model`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch

from ..errors import CheckpointError, ConfigError
from ._io import load_torch_file
from .config import ModelConfig

if TYPE_CHECKING:
    from ..evaluation.calibration import ScoreCalibration
    from ..transforms.scene_norm import SceneStretch
    from .detector import MultimodalCascadeMaskRCNN

__all__ = [
    'TrainedModelInfo',
    'checkpoint_metadata',
    'config_from_dict',
    'config_to_dict',
    'file_sha256',
    'load_trained_model',
    'read_calibration',
    'save_trained_model',
    'write_calibration',
]

_T = TypeVar('_T')
_FORMAT = 1
#: The format of files that record a per-scene normalisation.
_FORMAT_SCENE_NORM = 2
_PREFIX = 'model.'


@dataclass(frozen=True)
class TrainedModelInfo:
    """What a trained-model file says about its model.

    Attributes:
        config: the architecture (checkpoint paths inside it are not reloaded).
        stats: modality -> ``{'mean': [...], 'std': [...]}`` used in training.
        sensor: sensor preset of the training imagery, if one was used.
        name: a human-readable model name (a preset or config name).
        path: the file it was read from (an ensemble's: its members', see
            :func:`~rtsgeo.models.ensemble_info`).
        sha256: the file's SHA-256 hex digest, to record in outputs (an
            ensemble's: its members', comma separated in order).
        gsd_m: ground sampling distance of the training imagery (metres per
            pixel); None when unknown: scenes are then mapped at their own.
        scene_stretch: the per-scene stretch of the reflectance bands the
            model was trained with, applied to every scene mapped; None: none.
        calibration: the score-to-probability mapping fitted by ``rtsgeo
            calibrate``; None: maps write no probability.
    """

    config: ModelConfig
    stats: dict[str, dict[str, list[float]]]
    sensor: str | None
    name: str
    path: str
    sha256: str
    gsd_m: float | None = None
    scene_stretch: SceneStretch | None = None
    calibration: ScoreCalibration | None = None

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modalities the model expects, in stacking order."""
        return self.config.modalities


def config_to_dict(config: ModelConfig) -> dict[str, Any]:
    """The configuration as plain values (tuples become lists)."""
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in asdict(config).items()
    }


def config_from_dict(values: Mapping[str, Any]) -> ModelConfig:
    """A configuration from :func:`config_to_dict` output (unknown keys refused).

    Raises:
        CheckpointError: If a field is unknown.
        ConfigError: If a value does not validate.
    """
    known = {f.name for f in fields(ModelConfig)}
    unknown = set(values) - known
    if unknown:
        raise CheckpointError(
            f'model config has unknown field(s) {sorted(unknown)}: '
            'was it written by a newer rtsgeo?'
        )
    plain: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in values.items()
    }
    return ModelConfig(**plain)


def checkpoint_metadata(
    config: ModelConfig,
    stats: Mapping[str, Mapping[str, Any]],
    sensor: str | None,
    name: str,
    gsd_m: float | None = None,
    scene_stretch: SceneStretch | None = None,
) -> dict[str, Any]:
    """The ``rtsgeo`` entry of a trained-model file or Lightning checkpoint.

    The entry holds ``scene_norm`` (and is format 2) only with a stretch.

    Raises:
        ConfigError: If *gsd_m* is not a positive number.
    """
    if gsd_m is not None and not (math.isfinite(gsd_m) and gsd_m > 0):
        raise ConfigError(f'gsd_m={gsd_m}: give the training GSD in metres (> 0)')
    plain_stats = {
        mod: {key: [float(x) for x in values] for key, values in s.items()}
        for mod, s in stats.items()
    }
    meta: dict[str, Any] = {
        'format': _FORMAT,
        'config': config_to_dict(config),
        'stats': plain_stats,
        'sensor': sensor,
        'name': name,
        'gsd_m': None if gsd_m is None else float(gsd_m),
    }
    if scene_stretch is not None:
        meta.update(format=_FORMAT_SCENE_NORM, scene_norm=scene_stretch.to_dict())
    return meta


def save_trained_model(
    path: str | Path,
    model: torch.nn.Module,
    config: ModelConfig,
    stats: Mapping[str, Mapping[str, Any]],
    sensor: str | None = None,
    name: str = 'rtsgeo-model',
    gsd_m: float | None = None,
    scene_stretch: SceneStretch | None = None,
) -> Path:
    """Write a trained model that :func:`load_trained_model` reads back.

    Args:
        path: output file (``.pt`` by convention).
        model: the detector.
        config: its configuration.
        stats: normalisation statistics used in training.
        sensor: sensor preset of the training imagery.
        name: model name recorded in mapping outputs.
        gsd_m: ground sampling distance of the training imagery (metres per
            pixel); give it for chips without georeferencing (COCO).
        scene_stretch: the per-scene stretch used in training (the
            datamodule's ``scene_stretch``), applied again when mapping.

    Returns:
        The path written.

    Raises:
        ConfigError: If *gsd_m* is not a positive number.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {_PREFIX + k: v.detach().cpu() for k, v in model.state_dict().items()}
    meta = checkpoint_metadata(config, stats, sensor, name, gsd_m, scene_stretch)
    torch.save({'state_dict': state, 'rtsgeo': meta}, path)
    return path


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def load_trained_model(
    path: str | Path, map_location: str | torch.device = 'cpu'
) -> tuple[MultimodalCascadeMaskRCNN, TrainedModelInfo]:
    """Build a model from a trained-model file or training checkpoint, in eval mode.

    Args:
        path: a file from :func:`save_trained_model` or a Lightning ``.ckpt``
            of the training task.
        map_location: where to load the tensors.

    Returns:
        The model and what the file says about it.

    Raises:
        CheckpointError: If the file is missing, unreadable, or not an rtsgeo
            trained model.
    """
    from .detector import MultimodalCascadeMaskRCNN

    path = Path(path)
    raw, meta = _read_file(path, map_location)
    if meta.get('format') not in (_FORMAT, _FORMAT_SCENE_NORM):
        raise CheckpointError(f'{path}: unsupported format {meta.get("format")!r}')
    config = config_from_dict(meta['config']).with_overrides(
        unimodal_checkpoints=(), trunk_checkpoint=None
    )
    model = MultimodalCascadeMaskRCNN(config)
    state = {
        k[len(_PREFIX) :]: v
        for k, v in raw['state_dict'].items()
        if k.startswith(_PREFIX)
    }
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        msg = f'{path}: weights do not fit the recorded config: {error}'
        raise CheckpointError(msg) from error
    model.eval()
    info = TrainedModelInfo(
        config=config,
        stats={m: {k: list(v) for k, v in s.items()} for m, s in meta['stats'].items()},
        sensor=meta.get('sensor'),
        name=str(meta.get('name', path.stem)),
        path=str(path),
        sha256=file_sha256(path),
        gsd_m=None if meta.get('gsd_m') is None else float(meta['gsd_m']),
        scene_stretch=_scene_stretch(meta, path),
        calibration=_calibration(meta, path),
    )
    return model, info


def write_calibration(
    path: str | Path, calibration: ScoreCalibration, out: str | Path | None = None
) -> Path:
    """Store a fitted calibration in a trained-model file (replacing any).

    Args:
        path: a trained-model file or training checkpoint.
        calibration: the fit (``rtsgeo.evaluation.fit_calibration``).
        out: where to write the calibrated file; None: *path* itself,
            replaced atomically.

    Returns:
        The file written (its SHA-256 changes: a map records which it used).

    Raises:
        CheckpointError: If *path* is not an rtsgeo trained model.
    """
    path = Path(path)
    raw, meta = _read_file(path, 'cpu')
    raw['rtsgeo'] = {**meta, 'calibration': calibration.to_dict()}
    target = Path(out) if out is not None else path
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + '.partial')
    torch.save(raw, partial)
    partial.replace(target)
    return target


def read_calibration(path: str | Path) -> ScoreCalibration | None:
    """The calibration a trained-model file records, without building its model.

    Raises:
        CheckpointError: If *path* is not an rtsgeo trained model or its
            calibration record does not parse.
    """
    path = Path(path)
    return _calibration(_read_file(path, 'cpu')[1], path)


def _read_file(
    path: Path, map_location: str | torch.device
) -> tuple[dict[str, Any], Mapping[str, Any]]:
    """A trained-model file's contents (a new top-level dict) and its metadata.

    Raises:
        CheckpointError: If the file is missing, unreadable, or has no
            ``rtsgeo`` metadata and ``state_dict``.
    """
    raw = load_torch_file(path, map_location)
    meta = raw.get('rtsgeo') if isinstance(raw, Mapping) else None
    if not isinstance(meta, Mapping) or not isinstance(raw.get('state_dict'), Mapping):
        raise CheckpointError(
            f'{path} is not an rtsgeo trained model (no "rtsgeo" metadata): '
            'use a checkpoint written by `rtsgeo fit` or save_trained_model()'
        )
    return dict(raw), meta


def _calibration(meta: Mapping[str, Any], path: Path) -> ScoreCalibration | None:
    """The calibration a file records, or None."""
    from ..evaluation.calibration import ScoreCalibration

    return _record(meta, 'calibration', path, ScoreCalibration.from_dict)


def _scene_stretch(meta: Mapping[str, Any], path: Path) -> SceneStretch | None:
    """The per-scene stretch a file records, or None."""
    from ..transforms.scene_norm import SceneStretch

    return _record(meta, 'scene_norm', path, SceneStretch.from_dict)


def _record(
    meta: Mapping[str, Any], key: str, path: Path, parse: Callable[[Any], _T]
) -> _T | None:
    """The object the file's *key* entry records, or None without one.

    Raises:
        CheckpointError: If the entry does not parse.
    """
    record = meta.get(key)
    if record is None:
        return None
    try:
        return parse(record)
    except (ConfigError, TypeError) as error:
        raise CheckpointError(f'{path}: {key} record: {error}') from None
