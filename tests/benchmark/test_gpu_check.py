"""benchmarks/gpu_check.py: its dry run on the CPU, and its refusal without CUDA."""

from __future__ import annotations

import json
from types import ModuleType

import pytest
import torch

from tests._scripts import load_benchmark


@pytest.fixture(scope='module')
def gpu_check() -> ModuleType:
    return load_benchmark('gpu_check')


def test_without_cuda_it_exits_2_with_one_line(
    gpu_check: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert gpu_check.main([]) == 2
    captured = capsys.readouterr()
    lines = (captured.out + captured.err).splitlines()
    assert len(lines) == 1 and 'no CUDA device' in lines[0]


def test_dry_run_prints_every_figure(
    gpu_check: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gpu_check.main(['--dry-run']) == 0
    (line,) = capsys.readouterr().out.splitlines()
    row = json.loads(line)
    assert {'step_memory', 'inference', 'mapping', 'data'} <= set(row)
    memory = row['step_memory']
    assert memory['trainable_trunks']['step_s'] > 0
    assert memory['frozen_trunks']['peak_mb'] is None  # no CUDA memory on a CPU
    assert row['inference']['batch_2_tiles_per_s'] > 0
    assert row['inference']['batch_4_tiles_per_s'] > 0
    mapping = row['mapping']
    assert mapping['tiles'] > 0 and mapping['tiles_per_s'] > 0
    assert mapping['device_busy_share'] > 0
    assert row['data']['windows'] > 0
