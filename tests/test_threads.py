"""Thread sizing from CPU affinity, container quotas and RTSGEO_NUM_THREADS."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from rtsgeo.cli.main import main
from rtsgeo.errors import ConfigError
from rtsgeo.threads import (
    ENV_VAR,
    available_cpus,
    configure_threads,
    thread_count,
)

AFFINITY = len(os.sched_getaffinity(0))


@pytest.fixture(autouse=True)
def _restore_threads(monkeypatch: pytest.MonkeyPatch, keep_torch_threads: None) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


def test_no_cgroup_files_gives_the_affinity(tmp_path: Path) -> None:
    assert available_cpus(tmp_path) == AFFINITY


def test_cgroup_v2_quota_caps_the_count(tmp_path: Path) -> None:
    (tmp_path / 'cpu.max').write_text('100000 100000\n')  # one CPU
    assert available_cpus(tmp_path) == 1
    (tmp_path / 'cpu.max').write_text('max 100000\n')  # no quota
    assert available_cpus(tmp_path) == AFFINITY
    (tmp_path / 'cpu.max').write_text('50000 100000\n')  # half a CPU: still one
    assert available_cpus(tmp_path) == 1


def test_cgroup_v1_quota_caps_the_count(tmp_path: Path) -> None:
    folder = tmp_path / 'cpu'
    folder.mkdir()
    (folder / 'cpu.cfs_period_us').write_text('100000')
    (folder / 'cpu.cfs_quota_us').write_text('-1')  # unlimited
    assert available_cpus(tmp_path) == AFFINITY
    (folder / 'cpu.cfs_quota_us').write_text('100000')
    assert available_cpus(tmp_path) == 1


def test_quota_larger_than_affinity_keeps_the_affinity(tmp_path: Path) -> None:
    (tmp_path / 'cpu.max').write_text(f'{(AFFINITY + 8) * 100000} 100000')
    assert available_cpus(tmp_path) == AFFINITY


def test_affinity_is_respected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: {0})
    assert available_cpus(tmp_path) == 1


def test_environment_variable_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, '3')
    assert thread_count(tmp_path) == 3
    for bad in ('0', '-2', 'two', '1.5'):
        monkeypatch.setenv(ENV_VAR, bad)
        with pytest.raises(ConfigError, match=ENV_VAR):
            thread_count(tmp_path)


def test_configure_threads_sets_torch() -> None:
    assert configure_threads(1) == 1
    assert torch.get_num_threads() == 1


def test_every_command_sizes_its_threads(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.set_num_threads(AFFINITY)
    monkeypatch.setenv(ENV_VAR, '1')
    # A command that fails fast after start-up still ran with the count set.
    assert main(['evaluate', '--pred', 'missing.gpkg', '--truth', 'x.gpkg']) == 2
    assert torch.get_num_threads() == 1
    monkeypatch.setenv(ENV_VAR, 'lots')
    assert main(['evaluate', '--pred', 'missing.gpkg', '--truth', 'x.gpkg']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith('rtsgeo evaluate: error: RTSGEO_NUM_THREADS=')


def test_before_torch_is_loaded_the_count_goes_through_the_environment() -> None:
    # A fresh process: configure_threads must not import torch, and torch
    # must start with the count.
    import subprocess
    import sys

    code = (
        'import sys; from rtsgeo.threads import configure_threads; '
        'configure_threads(1); assert "torch" not in sys.modules; '
        'import torch; print(torch.get_num_threads())'
    )
    env = {**os.environ, ENV_VAR: '1'}
    env.pop('OMP_NUM_THREADS', None)
    out = subprocess.run(
        [sys.executable, '-c', code], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == '1'
