"""Mapping campaigns: many scenes in, one resumable output out.

:func:`run_campaign` maps the scenes not yet recorded as final in the output
(``done`` or ``skipped`` in ``runs``), one at a time, and writes each scene's
rows in one transaction. A scene that fails (missing, unreadable, a band the
model needs is absent, CRS in degrees, ...) gets a ``failed`` row with the
reason and the campaign goes on; failed scenes are retried on the next run.
A write failure (disk full) stops the campaign with the file intact. Ctrl-C
stops it cleanly after rolling back the scene in progress. With
``fmt='parquet'`` the finished GeoPackage is then exported to GeoParquet
files beside it (see :mod:`rtsgeo.campaign.export`).
"""

from __future__ import annotations

import datetime
import os
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..errors import ConfigError, DataNotFoundError
from ..predict.protocol import ScenePredictorLike
from .export import check_format, export_parquet
from .records import SceneRecords, build_scene_records, failed_records
from .scenes import Scene, resolve_scenes
from .schema import FINAL
from .store import CampaignStore

__all__ = [
    'CampaignProgress',
    'CampaignSummary',
    'as_scenes',
    'check_model',
    'finish_output',
    'open_store',
    'run_campaign',
]


class CampaignProgress(Protocol):
    """Receives progress events (the CLI draws progress bars from them)."""

    def scene_started(self, scene: Scene, index: int, total: int) -> None:
        """Scene *index* (0-based) of *total* to map now starts."""

    def tiles(self, done: int, total: int) -> None:
        """Tiles of the current scene processed so far."""

    def scene_finished(self, records: SceneRecords) -> None:
        """The scene's rows were committed."""


@dataclass
class CampaignSummary:
    """What a campaign run did.

    Attributes:
        out: the output written.
        scenes: scenes in the campaign.
        done: scenes mapped in this run.
        skipped: scenes without valid pixels, recorded in this run.
        failed: scenes that failed in this run.
        resumed: scenes already final in the output, not mapped again.
        polygons: polygons written in this run.
        valid_area_m2: valid area mapped in this run.
        tiles: tiles processed in this run.
        seconds: wall-clock time of this run.
        interrupted: True if stopped by Ctrl-C.
        failures: ``(scene_id, message)`` of the failed scenes.
    """

    out: Path
    scenes: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    resumed: int = 0
    polygons: int = 0
    valid_area_m2: float = 0.0
    tiles: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    failures: list[tuple[str, str]] = field(default_factory=list)

    def add(self, records: SceneRecords) -> None:
        """Count one recorded scene."""
        run = records.run
        status = run['status']
        setattr(self, status, getattr(self, status) + 1)
        if status == 'failed':
            self.failures.append((records.scene_id, str(run['message'])))
            return
        self.polygons += int(run['polygons'] or 0)
        self.valid_area_m2 += float(run['valid_area_m2'] or 0.0)
        self.tiles += int(run['tiles'] or 0) - int(run['tiles_skipped'] or 0)


def open_store(
    out: str | Path, crs: Any = 'EPSG:3413', fmt: str = 'gpkg'
) -> CampaignStore:
    """The store of a campaign output, checked for *fmt*.

    Every format writes the GeoPackage *out* scene by scene (the resumable
    store); ``'parquet'`` adds an export at the end (:func:`finish_output`).

    Raises:
        ConfigError: If *fmt* is unknown or cannot be written here.
    """
    check_format(fmt, out)
    return CampaignStore(out, crs)


def finish_output(out: str | Path, fmt: str = 'gpkg') -> None:
    """Write what *fmt* adds to the finished GeoPackage *out* (GeoParquet files).

    Raises:
        OutputError: If the export fails (the GeoPackage is untouched).
    """
    if fmt == 'parquet':
        export_parquet(out)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')


def as_scenes(scenes: Iterable[Scene | str | Path]) -> list[Scene]:
    """*scenes* as sorted :class:`Scene` objects (paths and globs resolved)."""
    items = list(scenes)
    if all(isinstance(s, Scene) for s in items):
        return sorted(s for s in items if isinstance(s, Scene))
    return resolve_scenes(str(s.path) if isinstance(s, Scene) else s for s in items)


def check_model(store: CampaignStore, predictor: ScenePredictorLike) -> None:
    """Refuse to resume *store* with another checkpoint than the one it holds.

    Raises:
        ConfigError: If *store* holds scenes mapped with another checkpoint.
    """
    others = store.checkpoints() - {predictor.info.sha256}
    if others:
        msg = (
            f'{store.path} holds scenes mapped with another checkpoint '
            f'(sha256 {sorted(others)[0][:12]}...), not {predictor.info.path}: '
            'resume with the same checkpoint or write to a new output'
        )
        raise ConfigError(msg)


def _map_scene(
    scene: Scene,
    predictor: ScenePredictorLike,
    crs: Any,
    progress: CampaignProgress | None,
    options: dict[str, Any],
) -> SceneRecords:
    """Map one scene; any error becomes a ``failed`` row (not Ctrl-C)."""
    started, clock = _now(), time.perf_counter()

    def timing() -> dict[str, Any]:
        return {
            'seconds': round(time.perf_counter() - clock, 3),
            'started_at': started,
            'finished_at': _now(),
            'worker': options['worker'],
        }

    if scene.problem is not None:
        return failed_records(
            scene.scene_id, scene.path, scene.problem, predictor.info, crs, timing()
        )
    try:
        if not os.path.exists(scene.path):
            raise DataNotFoundError(f'scene {scene.path} does not exist')
        predictor.check_scene(scene.path)
        prediction = predictor.predict_scene(
            scene.path, progress=progress.tiles if progress else None
        )
        return build_scene_records(
            prediction,
            predictor.info,
            crs,
            timing(),
            min_area_m2=options['min_area_m2'],
            simplify=options['simplify'],
        )
    except Exception as error:
        message = f'{type(error).__name__}: {error}'
        return failed_records(
            scene.scene_id, scene.path, message, predictor.info, crs, timing()
        )


def run_campaign(
    scenes: Sequence[Scene | str | Path],
    predictor: ScenePredictorLike,
    out: str | Path,
    *,
    crs: Any = 'EPSG:3413',
    fmt: str = 'gpkg',
    min_area_m2: float = 0.0,
    simplify: float = 0.0,
    progress: CampaignProgress | None = None,
    quicklook_dir: str | Path | None = None,
    worker: str | None = None,
) -> CampaignSummary:
    """Map every scene not yet final in *out*; resumable.

    Args:
        scenes: :class:`Scene` objects, or paths, folders, globs and list files
            (see :func:`resolve_scenes`).
        predictor: maps one scene (see :class:`ScenePredictorLike`).
        out: the campaign GeoPackage.
        crs: output CRS of the polygons (any CRS pyproj understands).
        fmt: ``'gpkg'``, or ``'parquet'`` to also export the layers to
            ``<out stem>.<layer>.parquet`` at the end of a run that was not
            interrupted (see :mod:`rtsgeo.campaign.export`).
        min_area_m2: drop smaller polygons (geodesic area).
        simplify: simplification tolerance in the scene CRS units (0: none).
        progress: receives progress events.
        quicklook_dir: write a quick-look PNG per mapped scene there.
        worker: recorded in ``runs.worker`` (default ``host:pid``).

    Returns:
        What the run did.

    Raises:
        OutputError: If *out* cannot be written (the campaign stops; scenes
            committed so far stay and a rerun resumes).
        ConfigError: If *out* was made with another CRS or checkpoint, or
            *fmt* is unknown.
    """
    todo_all = as_scenes(scenes)
    start = time.perf_counter()
    summary = CampaignSummary(out=Path(out), scenes=len(todo_all))
    options = {
        'min_area_m2': float(min_area_m2),
        'simplify': float(simplify),
        'worker': worker or f'{socket.gethostname()}:{os.getpid()}',
    }
    store = open_store(out, crs, fmt)
    try:
        check_model(store, predictor)
        statuses = store.statuses()
        todo = [s for s in todo_all if statuses.get(s.scene_id) not in FINAL]
        summary.resumed = len(todo_all) - len(todo)
        for index, scene in enumerate(todo):
            if progress:
                progress.scene_started(scene, index, len(todo))
            records = _map_scene(scene, predictor, store.crs, progress, options)
            store.write(records)
            summary.add(records)
            if progress:
                progress.scene_finished(records)
            if quicklook_dir is not None and records.run['status'] == 'done':
                _quicklook(scene, records, predictor, Path(quicklook_dir))
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        store.close()
    if not summary.interrupted:
        try:
            finish_output(out, fmt)
        except KeyboardInterrupt:
            summary.interrupted = True
    summary.seconds = time.perf_counter() - start
    return summary


def _quicklook(
    scene: Scene, records: SceneRecords, predictor: ScenePredictorLike, folder: Path
) -> None:
    import warnings

    from .quicklook import write_quicklook

    try:
        write_quicklook(
            scene.path,
            records.slumps,
            folder / f'{scene.scene_id}.png',
            sensor=predictor.info.sensor,
        )
    except Exception as error:
        warnings.warn(f'no quick-look for {scene.path}: {error}', stacklevel=2)
