"""Multi-device and multi-node mapping with Lightning Fabric's DDP strategy.

Each rank maps a share of the scenes not yet final in the output (every
``world_size``-th scene of the sorted list, starting at its rank) with its own
predictor on its own device, into its own part file
``<out>.parts/rankRRR-of-WWW.gpkg``. Rank 0 then merges the parts into the
output in scene order and removes them (and, with ``fmt='parquet'``, exports
it to GeoParquet once every rank has finished). No gradients are exchanged, so the
model is not wrapped in ``DistributedDataParallel``: DDP here provides the
launch (one process per device, on one or several nodes), the rank and world
size, and the barriers.

The ``ddp`` strategy starts ranks 1.. by running the same command again (as
``lightning`` always does), so call :func:`run_campaign_ddp` from a script or
from ``rtsgeo map --devices N``, not from an interactive session. Parts left
by an interrupted run are merged at the start of the next one.
"""

from __future__ import annotations

import datetime
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from ..predict.protocol import ScenePredictorLike
from .export import check_format, export_parquet
from .merge import merge_campaigns
from .run import CampaignSummary, as_scenes, check_model, run_campaign
from .scenes import Scene
from .schema import FINAL
from .store import CampaignStore

__all__ = ['run_campaign_ddp']

_COUNTS = ('done', 'skipped', 'failed', 'polygons', 'valid_area_m2', 'tiles')


def _parts_folder(out: Path) -> Path:
    return out.with_name(out.name + '.parts')


def _merge_parts(out: Path, crs: Any) -> None:
    parts = _parts_folder(out)
    files = sorted(parts.glob('*.gpkg')) if parts.is_dir() else []
    if files:
        merge_campaigns(files, out, crs)
    else:
        CampaignStore(out, crs).close()
    shutil.rmtree(parts, ignore_errors=True)


def run_campaign_ddp(
    scenes: Sequence[Scene | str | Path],
    make_predictor: Callable[[str], ScenePredictorLike],
    out: str | Path,
    *,
    devices: int | str = 2,
    accelerator: str = 'cpu',
    num_nodes: int = 1,
    crs: Any = 'EPSG:3413',
    timeout_hours: float = 72.0,
    **campaign_kwargs: Any,
) -> CampaignSummary:
    """Map *scenes* over several processes with DDP, into one GeoPackage.

    Args:
        scenes: as for :func:`run_campaign`.
        make_predictor: builds a predictor for a device (``'cpu'``,
            ``'cuda:1'``); called once per rank.
        out: the campaign GeoPackage (written by rank 0 only).
        devices: processes per node (devices to use).
        accelerator: ``'cpu'``, ``'cuda'``, ``'gpu'`` or ``'auto'``.
        num_nodes: number of nodes.
        crs: output CRS.
        timeout_hours: how long a rank may wait for the others at a barrier
            (a rank with slow scenes can finish hours after the rest).
        **campaign_kwargs: passed on to :func:`run_campaign` (not ``progress``
            or ``worker``, which are set per rank); ``fmt='parquet'`` exports
            the merged output once, from rank 0.

    Returns:
        The whole run's counts (the same on every rank).
    """
    fmt = campaign_kwargs.pop('fmt', 'gpkg')
    check_format(fmt, out)
    import torch
    from lightning.fabric import Fabric
    from lightning.fabric.strategies import DDPStrategy

    strategy = DDPStrategy(
        timeout=datetime.timedelta(hours=timeout_hours), start_method='popen'
    )
    fabric = Fabric(
        accelerator=accelerator, devices=devices, num_nodes=num_nodes, strategy=strategy
    )
    fabric.launch()
    try:
        rank, world = fabric.global_rank, fabric.world_size
        out = Path(out)
        everything = as_scenes(scenes)
        predictor = make_predictor(str(fabric.device))

        def together(step: Callable[[], Any]) -> Any:
            """Run *step*; if it fails on any rank, raise on every rank."""
            result, error = None, None
            try:
                result = step()
            except Exception as caught:
                error = caught
            flag = torch.tensor([float(error is not None)])
            flags = cast(torch.Tensor, fabric.all_reduce(flag, reduce_op='sum'))
            if error is not None:
                raise error
            if float(flags.sum()) > 0:
                raise RuntimeError('another rank failed: see its error above')
            return result

        def prepare() -> None:
            if rank == 0:
                _merge_parts(out, crs)
                with CampaignStore(out, crs) as store:
                    check_model(store, predictor)

        together(prepare)
        with CampaignStore(out, None, readonly=True) as reader:
            statuses, out_crs = reader.statuses(), reader.crs
        todo = [s for s in everything if statuses.get(s.scene_id) not in FINAL]
        progress = campaign_kwargs.pop('progress', None)
        campaign_kwargs.pop('worker', None)
        part = _parts_folder(out) / f'rank{rank:03d}-of-{world:03d}.gpkg'
        summary = together(
            lambda: run_campaign(
                todo[rank::world],
                predictor,
                part,
                crs=out_crs,
                worker=f'rank {rank}/{world}',
                progress=progress if rank == 0 else None,
                **campaign_kwargs,
            )
        )
        together(lambda: _merge_parts(out, out_crs) if rank == 0 else None)
        values = [float(getattr(summary, name)) for name in _COUNTS]
        values.append(float(summary.interrupted))
        local = torch.tensor(values, dtype=torch.float64)
        totals = cast(torch.Tensor, fabric.all_reduce(local, reduce_op='sum'))
        result = CampaignSummary(
            out=out, scenes=len(everything), resumed=len(everything) - len(todo)
        )
        for name, value in zip(_COUNTS, totals.tolist(), strict=False):
            setattr(result, name, value if name == 'valid_area_m2' else int(value))
        result.interrupted = bool(totals[-1] > 0)
        if fmt == 'parquet' and not result.interrupted:
            together(lambda: export_parquet(out) if rank == 0 else None)
        result.seconds = summary.seconds
        result.failures = summary.failures
        return result
    finally:
        # Left to interpreter exit, gloo's threads can be torn down while
        # still joinable, which aborts a run that succeeded ("terminate
        # called without an active exception").
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
