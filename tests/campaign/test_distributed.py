"""Acceptance 6: two DDP processes on CPU give the polygons of one process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pyogrio

from rtsgeo.campaign import run_campaign
from rtsgeo.campaign.merge import merge_campaigns

from ._fakes import FakePredictor, write_shards
from .test_campaign_kill import _content

ROOT = Path(__file__).resolve().parents[2]


def test_two_rank_ddp_matches_one_process(
    tmp_path: Path, synthetic_scenes: list[Path]
) -> None:
    out = tmp_path / 'ddp.gpkg'
    script = tmp_path / 'ddp_campaign.py'
    script.write_text(
        textwrap.dedent(
            f"""
            import os
            import sys
            sys.path.insert(0, {str(ROOT)!r})
            from rtsgeo.campaign.distributed import run_campaign_ddp
            from tests.campaign._fakes import FakePredictor

            summary = run_campaign_ddp(
                {[str(p) for p in synthetic_scenes]!r},
                lambda device: FakePredictor(),
                {str(out)!r},
                devices=2,
                fmt='parquet',
            )
            # Every rank reports; one write per line keeps the two ranks'
            # lines whole on the shared pipe.
            os.write(1, f'SUMMARY {{summary.done}} {{summary.polygons}}\\n'.encode())
            """
        )
    )
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    single = tmp_path / 'single.gpkg'
    reference = run_campaign(synthetic_scenes, FakePredictor(), single, fmt='parquet')
    reports = [line for line in result.stdout.splitlines() if 'SUMMARY' in line]
    assert reports == [f'SUMMARY 3 {reference.polygons}'] * 2, result.stdout
    assert not (tmp_path / 'ddp.gpkg.parts').exists()
    assert _content(out) == _content(single)
    runs = pyogrio.read_dataframe(out, layer='runs')
    assert sorted(runs.worker) == ['rank 0/2', 'rank 0/2', 'rank 1/2']
    # Rank 0 exported the merged output once: the same GeoParquet as one process.
    for layer in ('slumps', 'coverage'):
        got = tmp_path / f'ddp.{layer}.parquet'
        assert got.read_bytes() == (tmp_path / f'single.{layer}.parquet').read_bytes()
    assert len(pd.read_parquet(tmp_path / 'ddp.runs.parquet')) == 3


def test_shards_merge_to_one_process_output(
    tmp_path: Path, synthetic_scenes: list[Path]
) -> None:
    shards = write_shards(tmp_path, synthetic_scenes)
    merged = tmp_path / 'merged.gpkg'
    summary = merge_campaigns(list(reversed(shards)), merged)
    assert (summary.copied, summary.kept, summary.duplicates) == (3, 0, [])
    single = tmp_path / 'single.gpkg'
    run_campaign(synthetic_scenes, FakePredictor(), single)
    assert _content(merged) == _content(single)
    again = merge_campaigns([*shards, single], merged)
    assert (again.copied, again.kept) == (0, 3)
