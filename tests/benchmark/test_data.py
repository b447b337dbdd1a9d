"""``rtsgeo benchmark data``: the training stream's timings, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtsgeo.cli.main import main


@pytest.mark.parametrize('cached', [False, True])
def test_benchmark_data_json(
    synthetic_root: Path, cached: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ['benchmark', 'data', '--root', str(synthetic_root), '--json']
    argv += ['--patch-size', '64', '--batch-size', '2', '--batches', '3']
    cache = ['--cached', '--chip-size', '128'] if cached else []
    assert main(argv + cache) == 0
    row = json.loads(capsys.readouterr().out)
    assert row['cached'] is cached
    assert row['windows'] == 6  # three timed batches of two
    assert row['setup_s'] > 0 and row['first_batch_s'] > 0
    assert row['windows_per_s'] > 0
    assert row['modalities'] == ['rgb', 'ndvi', 'nir']


def test_benchmark_data_text_and_errors(
    synthetic_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ['benchmark', 'data', '--root', str(synthetic_root)]
    argv += ['--patch-size', '64', '--batch-size', '2', '--batches', '1']
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert 'windowed reads, 0 workers, 64 px, batch 2' in text
    assert 'windows/s over 2 windows' in text
    assert main(['benchmark', 'data', '--root', str(tmp_path / 'none')]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'does not exist' in err[0]


@pytest.mark.data
def test_two_workers_read_real_chips(capsys: pytest.CaptureFixture[str]) -> None:
    # Regression: file handles opened in the parent (statistics) were shared by
    # forked workers and their concurrent reads failed with decoding errors.
    from rtsgeo._datadir import data_dir

    base = data_dir()
    if base is None or not (base / 's2-rts-lubka1').is_dir():
        pytest.skip('s2-rts-lubka1 is absent: set RTSGEO_DATA_DIR to the real data')
    root = base / 's2-rts-lubka1'
    argv = ['benchmark', 'data', '--root', str(root), '--workers', '2', '--json']
    assert main([*argv, '--batch-size', '4', '--batches', '10']) == 0
    row = json.loads(capsys.readouterr().out)
    # Batches hold windows of one CRS, so the last of a group can be short.
    assert row['workers'] == 2 and 30 <= row['windows'] <= 44
