"""Merge campaign GeoPackages (job-array shards, DDP ranks) into one.

Rows are copied as stored (geometry blobs included), one scene per
transaction, in scene-id order, so merging shards gives the same file content
as mapping every scene in one process. A scene recorded in several inputs is
taken from the first input where it is final (``done``/``skipped``), else
from the first where it failed; a scene already final in the output is kept.
With ``fmt='parquet'`` the merged output is then exported to GeoParquet
(:mod:`rtsgeo.campaign.export`), so shards can stay GeoPackage-only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .export import check_format, export_parquet
from .schema import FINAL
from .store import CampaignStore

__all__ = ['MergeSummary', 'merge_campaigns']


@dataclass
class MergeSummary:
    """What a merge did.

    Attributes:
        out: the merged output.
        copied: scenes copied into it.
        kept: scenes already final in the output, left as they were.
        duplicates: scenes final in more than one input (first one taken).
    """

    out: Path
    copied: int = 0
    kept: int = 0
    duplicates: list[str] = field(default_factory=list)


def _choose(
    sources: list[tuple[str, CampaignStore]],
) -> tuple[CampaignStore, int]:
    final = [reader for status, reader in sources if status in FINAL]
    chosen = final[0] if final else sources[0][1]
    return chosen, len(final)


def merge_campaigns(
    inputs: Sequence[str | Path], out: str | Path, crs: Any = None, fmt: str = 'gpkg'
) -> MergeSummary:
    """Copy every scene of *inputs* into *out* (created or resumed).

    Args:
        inputs: campaign GeoPackages written by :func:`run_campaign`.
        out: the merged GeoPackage.
        crs: its CRS if created (default: the first input's); every input
            must be in the output's CRS.
        fmt: ``'gpkg'``, or ``'parquet'`` to also export the merged layers to
            ``<out stem>.<layer>.parquet`` (see :mod:`rtsgeo.campaign.export`).

    Returns:
        What was copied.

    Raises:
        ConfigError: If inputs differ in CRS or checkpoint, *out* is an
            input, or *fmt* is unknown.
        OutputError: If *out* (or its export) cannot be written.
    """
    check_format(fmt, out)
    paths = [Path(p) for p in inputs]
    if not paths:
        raise ConfigError('merge needs at least one campaign output to read')
    if any(p.resolve() == Path(out).resolve() for p in paths if p.exists()):
        raise ConfigError(f'output {out} is also an input: write to a new file')
    readers = [CampaignStore(p, None, readonly=True) for p in paths]
    try:
        crs = crs or readers[0].crs
        with CampaignStore(out, crs) as writer:
            summary = _merge(readers, writer)
    finally:
        for reader in readers:
            reader.close()
    if fmt == 'parquet':
        export_parquet(out)
    return summary


def _merge(readers: list[CampaignStore], writer: CampaignStore) -> MergeSummary:
    summary = MergeSummary(out=writer.path)
    models = set(writer.checkpoints())
    by_scene: dict[str, list[tuple[str, CampaignStore]]] = {}
    for reader in readers:
        if reader.crs != writer.crs:
            msg = (
                f'{reader.path} is in {reader.crs.to_string()} but {writer.path} in '
                f'{writer.crs.to_string()}: merge outputs mapped with the same --crs'
            )
            raise ConfigError(msg)
        models |= reader.checkpoints()
        for scene, status in reader.statuses().items():
            by_scene.setdefault(scene, []).append((status, reader))
    if len(models) > 1:
        msg = (
            f'the inputs were mapped with {len(models)} different checkpoints: '
            'merge only outputs of one model'
        )
        raise ConfigError(msg)
    existing = writer.statuses()
    for scene in sorted(by_scene):
        if existing.get(scene) in FINAL:
            summary.kept += 1
            continue
        reader, finals = _choose(by_scene[scene])
        if finals > 1:
            summary.duplicates.append(scene)
        layers = {
            name: reader.read_rows(name, scene)
            for name in ('slumps', 'coverage', 'runs')
        }
        writer.write_rows(scene, layers)
        summary.copied += 1
    return summary
