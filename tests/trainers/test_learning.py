"""The learning probe on synthetic scenes: its plumbing.

The probe itself (RGB learns visible slumps, AP50 >= 0.8; the fused model
beats RGB by 0.2 on slumps only NIR shows; about 6 minutes on 2 cores) is a
benchmark run by hand: ``python benchmarks/synthetic_learning.py --check``.
CI's slow suite keeps a real-data learning test (tests/trainers/test_memorisation.py).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).parents[2] / 'benchmarks' / 'synthetic_learning.py'


def test_learning_probe_reports_and_fails_below_its_bars(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 1 step per model: every figure is printed, and bars no model can reach
    # give exit status 1.
    spec = importlib.util.spec_from_file_location('synthetic_learning', SCRIPT)
    assert spec is not None and spec.loader is not None
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    threads = torch.get_num_threads()
    try:
        argv = ['--steps', '1', '--check', '--min-rgb', '1.5', '--margin', '2']
        assert probe.main(argv) == 1
    finally:
        torch.set_num_threads(threads)  # the script sets its --threads
    printed = capsys.readouterr().out
    assert 'all: rgb (none): mask AP50 ' in printed
    assert 'nir_only: rgb (none): mask AP50 ' in printed
    assert 'nir_only: rgb+ndvi+nir (residual_cross_attention): mask AP50 ' in printed
    assert '(bar >= 1.5): FAIL' in printed and '(bar >= +2.0): FAIL' in printed
    assert 'command: python benchmarks/synthetic_learning.py --steps 1' in printed
