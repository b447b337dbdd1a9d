"""Every example runs and writes what it says."""

from __future__ import annotations

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
