"""Acceptance 5: SIGKILL mid-campaign, rerun, same GeoPackage as one clean run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyogrio

from rtsgeo.campaign import run_campaign
from rtsgeo.campaign.schema import TIMING_COLUMNS

from ._fakes import FakePredictor

ROOT = Path(__file__).resolve().parents[2]


def _done(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f'file:{path}?mode=ro', uri=True) as connection:
            row = connection.execute(
                "SELECT count(*) FROM runs WHERE status = 'done'"
            ).fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0])


def _content(path: Path) -> dict[str, object]:
    content: dict[str, object] = {}
    for layer, _ in pyogrio.list_layers(path):
        frame = pyogrio.read_dataframe(path, layer=layer)
        frame = frame.drop(columns=[c for c in TIMING_COLUMNS if c in frame])
        if 'geometry' in frame:
            wkb = frame.geometry.to_wkb()
            frame = frame.drop(columns='geometry').assign(wkb=wkb)
        # NULL (NaN) compares unequal to itself: make it None.
        frame = frame.astype(object).where(frame.notna(), None)
        content[layer] = frame.sort_values('scene_id', kind='stable').to_dict('list')
    return content


def test_sigkill_then_rerun_matches_clean_run(
    tmp_path: Path, synthetic_scenes: list[Path]
) -> None:
    out = tmp_path / 'killed.gpkg'
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from rtsgeo.campaign import run_campaign
        from tests.campaign._fakes import FakePredictor
        scenes = {[str(p) for p in synthetic_scenes]!r}
        run_campaign(scenes, FakePredictor(delay=4.0), {str(out)!r})
        """
    )
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    process = subprocess.Popen([sys.executable, '-c', script], env=env)
    try:
        deadline = time.monotonic() + 120
        while _done(out) < 1 and time.monotonic() < deadline:
            assert process.poll() is None, 'campaign ended before it was killed'
            time.sleep(0.1)
        assert _done(out) == 1
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert _done(out) == 1  # killed while mapping the second scene
    resumed = FakePredictor()
    summary = run_campaign(synthetic_scenes, resumed, out)
    assert resumed.calls == ['scene_001', 'scene_002']
    assert (summary.done, summary.resumed) == (2, 1)

    clean = tmp_path / 'clean.gpkg'
    run_campaign(synthetic_scenes, FakePredictor(), clean)
    assert _content(out) == _content(clean)
    layers = {name for name, _ in pyogrio.list_layers(out)}
    assert layers == {'slumps', 'coverage', 'runs'}
    for layer in layers:
        assert pyogrio.read_info(out, layer=layer)['features'] > 0
