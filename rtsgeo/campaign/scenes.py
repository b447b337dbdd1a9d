"""Scene lists of a mapping campaign: paths, globs, folders and list files.

A campaign's scenes are identified by their file stem (the ``scene_id`` of
every output row), so stems must be unique within a campaign. Scenes are
sorted by id, which makes ``--shard i/N`` and the ranks of a DDP run split
the same list the same way on every machine, whatever the mount points.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, DataNotFoundError

__all__ = [
    'LIST_SUFFIXES',
    'RASTER_SUFFIXES',
    'Scene',
    'parse_shard',
    'resolve_scenes',
    'shard_scenes',
]

#: Suffixes read as rasters when a folder is given.
RASTER_SUFFIXES: tuple[str, ...] = ('.tif', '.tiff', '.vrt', '.jp2')
#: Suffixes read as text files listing one scene path per line.
LIST_SUFFIXES: tuple[str, ...] = ('.txt', '.lst')


@dataclass(frozen=True, order=True)
class Scene:
    """One scene of a campaign.

    Attributes:
        scene_id: the file stem (or STAC item id), unique within the campaign.
        path: the file as an absolute path (it may not exist: such a scene
            fails when mapped and the campaign goes on).
        problem: why the scene cannot be mapped, found while listing it
            (``'BandNotFoundError: ...'``); it then fails alone with this
            message. None for scenes that look mappable.
    """

    scene_id: str
    path: str
    problem: str | None = field(default=None, compare=False)


def _is_glob(text: str) -> bool:
    return any(char in text for char in '*?[')


def _from_list_file(path: Path) -> list[str]:
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataNotFoundError(f'cannot read scene list {path}: {error}') from error
    entries: list[str] = []
    for line in lines:
        text = line.strip()
        if not text or text.startswith('#'):
            continue
        # Relative entries are relative to the list file, not to the cwd.
        entry = text if os.path.isabs(text) else str(path.parent / text)
        entries.extend(_expand(entry, source=str(path)))
    if not entries:
        raise DataNotFoundError(f'scene list {path} names no scene')
    return entries


def _expand(item: str, source: str | None = None) -> list[str]:
    """Paths one input stands for (a file, a folder, a glob or a list file)."""
    where = f' (listed in {source})' if source else ''
    if _is_glob(item):
        matches = sorted(
            p for p in glob.glob(item, recursive=True) if os.path.isfile(p)
        )
        if not matches:
            raise DataNotFoundError(f'no file matches {item!r}{where}')
        return matches
    path = Path(item)
    if path.is_dir():
        found = sorted(
            str(p)
            for p in path.iterdir()
            if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES
        )
        if not found:
            suffixes = ', '.join(RASTER_SUFFIXES)
            msg = (
                f'folder {path}{where} holds no raster ({suffixes}); subfolders '
                f'are not searched: pass a glob such as "{path}/**/*.tif"'
            )
            raise DataNotFoundError(msg)
        return found
    if path.suffix.lower() in LIST_SUFFIXES:
        if source is not None:
            raise ConfigError(f'scene list {source} names another list {path}')
        if not path.is_file():
            raise DataNotFoundError(f'scene list {path} does not exist')
        return _from_list_file(path)
    # A missing scene file is kept: it fails on its own when mapped.
    return [item]


def resolve_scenes(inputs: Iterable[str | Path]) -> list[Scene]:
    """Scenes named by *inputs*, sorted by scene id, duplicates removed.

    Args:
        inputs: scene files, folders (their rasters, not recursive), glob
            patterns (``**`` recurses) or text files (``.txt``, ``.lst``) with
            one path or glob per line (``#`` comments and blank lines ignored,
            relative paths taken from the list file's folder).

    Returns:
        The scenes, sorted by id.

    Raises:
        DataNotFoundError: If a glob, folder or list file yields nothing, or
            no input is given.
        ConfigError: If two different files share a stem.
    """
    by_id: dict[str, Scene] = {}
    items = [str(item) for item in inputs]
    if not items:
        raise DataNotFoundError('no scene given: pass scene files, folders or globs')
    for item in items:
        for entry in _expand(item):
            scene = Scene(Path(entry).stem, os.path.abspath(entry))
            known = by_id.get(scene.scene_id)
            if known is not None and known.path != scene.path:
                msg = (
                    f'scenes {known.path} and {scene.path} share the id '
                    f'{scene.scene_id!r} (the file stem): rename one, or map '
                    'them in separate campaigns'
                )
                raise ConfigError(msg)
            by_id[scene.scene_id] = scene
    return sorted(by_id.values())


def parse_shard(text: str) -> tuple[int, int]:
    """``'i/N'`` to ``(i, N)`` with ``0 <= i < N`` (job-array index, count).

    Raises:
        ConfigError: If *text* is not of that form.
    """
    index, sep, count = text.partition('/')
    try:
        i, n = int(index), int(count)
    except ValueError:
        i, n = -1, 0
    if not sep or n < 1 or not 0 <= i < n:
        msg = (
            f'--shard {text!r} is not i/N with 0 <= i < N (e.g. 0/4 for the first '
            'of four shards; with SLURM use $SLURM_ARRAY_TASK_ID/N and --array=0-(N-1))'
        )
        raise ConfigError(msg)
    return i, n


def shard_scenes(scenes: Sequence[Scene], index: int, count: int) -> list[Scene]:
    """Shard *index* of *count*: every *count*-th scene of the sorted list.

    Round-robin rather than contiguous blocks, so neighbouring (often similar)
    scenes spread over the shards and shards finish at similar times.
    """
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f'shard {index}/{count} is out of range')
    return list(sorted(scenes)[index::count])
