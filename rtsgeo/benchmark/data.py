"""Measure the training data stream: set-up, first batch, windows per second.

The stream is what feeds the model in ``rtsgeo fit``: the datamodule's set-up
(datasets, spatial index, normalisation statistics), its training loader
(windowed reads, modalities, instance targets, collation, in ``workers``
processes) and the normalisation applied to each batch. Random flips and
turns, which training applies on the model's device, are left out, and no
model runs: the figure is the ceiling of the data side on this machine.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

__all__ = ['describe_data', 'run_data_benchmark']


def run_data_benchmark(
    root: str | Path,
    workers: int = 0,
    patch_size: int = 256,
    batch_size: int = 8,
    cached: bool = False,
    chip_size: int = 256,
    batches: int = 20,
    modalities: tuple[str, ...] = ('rgb', 'ndvi', 'nir'),
    seed: int = 0,
) -> dict[str, Any]:
    """Time the training stream of a data folder.

    Args:
        root: a folder with ``train/``, ``val/`` and ``test/`` (see
            :class:`~rtsgeo.datamodules.RTSDataModule`).
        workers: data loader worker processes.
        patch_size: window side in pixels.
        batch_size: windows per batch.
        cached: use :class:`~rtsgeo.datamodules.CachedRTSDataModule` (chips
            read into memory once, windows cropped from them).
        chip_size: side of the cached chips (with ``cached``).
        batches: batches timed after the first one.
        modalities: modalities read.
        seed: seed of the windows.

    Returns:
        ``setup_s`` (datamodule set-up, statistics included), ``first_batch_s``
        (loader start and first batch), ``windows_per_s`` (over the next
        ``batches`` batches), with the settings and the windows timed.
    """
    from ..datamodules import CachedRTSDataModule, RTSDataModule

    length = (batches + 1) * batch_size
    options: dict[str, Any] = {
        'root': str(root),
        'modalities': modalities,
        'patch_size': patch_size,
        'batch_size': batch_size,
        'length': length,
        'num_workers': workers,
        'seed': seed,
    }
    start = time.perf_counter()
    datamodule: RTSDataModule
    if cached:
        datamodule = CachedRTSDataModule(chip_size=chip_size, **options)
    else:
        datamodule = RTSDataModule(**options)
    datamodule.setup('fit')
    setup_s = time.perf_counter() - start

    start = time.perf_counter()
    stream = iter(datamodule.train_dataloader())
    datamodule.on_after_batch_transfer(next(stream), 0)
    first_batch_s = time.perf_counter() - start

    windows = 0
    start = time.perf_counter()
    for batch in stream:
        batch = datamodule.on_after_batch_transfer(batch, 0)
        windows += len(batch['image'])
    seconds = time.perf_counter() - start
    del stream
    return {
        'root': str(root),
        'cached': cached,
        'workers': workers,
        'patch_size': patch_size,
        'batch_size': batch_size,
        'modalities': list(modalities),
        'setup_s': round(setup_s, 3),
        'first_batch_s': round(first_batch_s, 3),
        'windows': windows,
        'windows_per_s': round(windows / seconds, 2) if seconds > 0 else None,
    }


def describe_data(row: dict[str, Any]) -> str:
    """A few readable lines for a :func:`run_data_benchmark` result."""
    kind = 'cached chips' if row['cached'] else 'windowed reads'
    return '\n'.join(
        [
            f'training stream of {row["root"]} ({kind}, {row["workers"]} workers, '
            f'{row["patch_size"]} px, batch {row["batch_size"]}, '
            f'{"+".join(row["modalities"])})',
            f'  set-up: {row["setup_s"]:.2f} s; first batch: '
            f'{row["first_batch_s"]:.2f} s',
            f'  {row["windows_per_s"]} windows/s over {row["windows"]} windows',
        ]
    )
