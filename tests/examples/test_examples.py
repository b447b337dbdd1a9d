"""Every example runs and writes what it says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / 'examples'


def test_data_pipeline(tmp_path: Path) -> None:
    env = dict(os.environ, RTSGEO_DATA_DIR=str(tmp_path / 'absent'))
    result = subprocess.run(
        [sys.executable, EXAMPLES / 'data_pipeline.py', '--out', tmp_path],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert "channels {'rgb': (0, 3), 'ndvi': (3, 4), 'nir': (4, 5)}" in result.stdout
    assert (tmp_path / 'batch.png').stat().st_size > 1000


def test_evaluate_polygons(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, EXAMPLES / 'evaluate_polygons.py', '--out', tmp_path],
        capture_output=True,
        text=True,
        check=True,
    )
    assert 'exact polygon IoU in EPSG:3413' in result.stdout
    row = json.loads(result.stdout.strip().splitlines()[-1])
    # The example's GeoPackage gives the same figures through the command line.
    again = subprocess.run(
        [
            sys.executable,
            '-m',
            'rtsgeo.cli.main',
            'evaluate',
            '--pred',
            tmp_path / 'pred.gpkg',
            '--truth',
            tmp_path / 'labels' / 'scene.gpkg',
            '--json',
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(again.stdout) == row
    assert row['n_truth'] == 20 and row['tp'] + row['fn'] == 20
    assert 0.5 < row['ap50'] <= 1 and row['ap'] < row['ap50']
