"""CPU threads: size torch's pool from the CPUs this process may really use.

torch starts as many threads as the machine has cores, whatever share of them
the process is given. On a shared node (a job array, a training beside a
mapping run, a container with a CPU quota) several such processes then fight
over the same cores and each runs several times slower than its fair share.
:func:`configure_threads` counts the CPUs the process may use (its CPU
affinity, then a container's CPU quota from cgroup v2 ``cpu.max`` or cgroup
v1 ``cpu.cfs_quota_us``) and gives torch that many threads; the environment
variable ``RTSGEO_NUM_THREADS`` overrides the count. Every ``rtsgeo`` command
calls it once at start. DataLoader workers already run one thread each.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .errors import ConfigError

__all__ = ['ENV_VAR', 'available_cpus', 'configure_threads', 'thread_count']

#: Environment variable that sets the thread count of rtsgeo processes.
ENV_VAR = 'RTSGEO_NUM_THREADS'

_CGROUP = Path('/sys/fs/cgroup')


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _cgroup_quota(root: Path) -> float | None:
    """CPUs allowed by a cgroup quota (v2 first, then v1), None if unlimited."""
    v2 = _read(root / 'cpu.max')
    if v2:
        quota, _, period = v2.partition(' ')
        if quota != 'max' and period:
            return int(quota) / int(period)
        return None
    for folder in (root / 'cpu', root / 'cpu,cpuacct', root):
        quota_text = _read(folder / 'cpu.cfs_quota_us')
        period_text = _read(folder / 'cpu.cfs_period_us')
        if quota_text and period_text and int(quota_text) > 0:
            return int(quota_text) / int(period_text)
    return None


def available_cpus(cgroup_root: str | Path = _CGROUP) -> int:
    """CPUs this process may use: its affinity, capped by a cgroup CPU quota.

    Args:
        cgroup_root: where the cgroup file system is mounted.

    Returns:
        At least 1.
    """
    if hasattr(os, 'sched_getaffinity'):
        count = len(os.sched_getaffinity(0))
    else:  # macOS, Windows
        count = os.cpu_count() or 1
    try:
        quota = _cgroup_quota(Path(cgroup_root))
    except ValueError:  # a malformed file: no quota known
        quota = None
    if quota is not None:
        count = min(count, int(quota))
    return max(1, count)


def thread_count(cgroup_root: str | Path = _CGROUP) -> int:
    """The thread count for this process: ``RTSGEO_NUM_THREADS`` or the CPUs.

    Raises:
        ConfigError: If ``RTSGEO_NUM_THREADS`` is not a positive integer.
    """
    value = os.environ.get(ENV_VAR, '').strip()
    if not value:
        return available_cpus(cgroup_root)
    if not value.isdigit() or int(value) < 1:
        msg = f'{ENV_VAR}={value!r}: set it to a positive number of threads or unset it'
        raise ConfigError(msg)
    return int(value)


def configure_threads(threads: int | None = None) -> int:
    """Give torch's intra-op pool *threads* threads (default :func:`thread_count`).

    Args:
        threads: the thread count; None counts the CPUs this process may use.

    Torch is not imported for this: before its import, ``OMP_NUM_THREADS`` is
    set, which torch reads when it starts (so commands that never use torch
    do not pay for loading it); after, its pool is resized.

    Returns:
        The thread count set.
    """
    count = thread_count() if threads is None else max(1, int(threads))
    torch = sys.modules.get('torch')
    if torch is None:
        os.environ['OMP_NUM_THREADS'] = str(count)
    else:
        torch.set_num_threads(count)
    return count
