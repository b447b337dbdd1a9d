"""The learning probe on synthetic scenes: its plumbing.

The probe itself (RGB learns visible slumps, AP50 >= 0.8; the fused model
beats RGB by 0.2 on slumps only NIR shows; about 6 minutes on 2 cores) is a
benchmark run by hand: ``python benchmarks/synthetic_learning.py --check``.
CI's slow suite keeps a real-data learning test (tests/trainers/test_memorisation.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._scripts import load_benchmark


@pytest.mark.usefixtures('keep_torch_threads')  # the script sets its --threads
def test_learning_probe_reports_and_fails_below_its_bars(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The probe's bars on given scores (its trainings are what the benchmark
    # runs; train_steps itself is tested elsewhere): every figure is printed,
    # and a missed bar gives exit status 1 with --check only.
    probe = load_benchmark('synthetic_learning')
    trained: list[tuple[str, tuple[str, ...], str]] = []
    scores = {('all', 'none'): 0.9, ('nir_only', 'none'): 0.05}

    def score(root: Path, modalities: list[str], fusion: str, *_: int) -> float:
        trained.append((root.name, tuple(modalities), fusion))
        assert (root / 'train').is_dir() and (root / 'test').is_dir()
        return scores.get((root.name, fusion), fused)

    monkeypatch.setattr(probe, 'train_and_score', score)
    fused = 0.3  # 0.25 above RGB: both bars met
    assert probe.main(['--steps', '7', '--check']) == 0
    assert capsys.readouterr().out.count(': pass') == 2
    fused = 0.2  # 0.15 above RGB: the fusion bar is missed
    assert probe.main(['--steps', '7']) == 0  # reported, not checked
    assert probe.main(['--steps', '7', '--check']) == 1
    printed = capsys.readouterr().out
    assert 'RGB learns visible slumps: 0.900 (bar >= 0.8): pass' in printed
    assert 'fused - RGB +0.150 (bar >= +0.2): FAIL' in printed
    assert 'command: python benchmarks/synthetic_learning.py --steps 7' in printed
    assert trained[:3] == [
        ('all', ('rgb',), 'none'),
        ('nir_only', ('rgb',), 'none'),
        ('nir_only', ('rgb', 'ndvi', 'nir'), 'residual_cross_attention'),
    ]
