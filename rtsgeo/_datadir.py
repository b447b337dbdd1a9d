"""Where the real development data lives (``RTSGEO_DATA_DIR``)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ['data_dir']


def data_dir() -> Path | None:
    """The real-data folder, or None when it is absent.

    ``RTSGEO_DATA_DIR`` wins when set; otherwise ``../shared/data`` beside the
    project checkout is used when it exists.
    """
    env = os.environ.get('RTSGEO_DATA_DIR')
    if env:
        path = Path(env).expanduser()
        return path if path.is_dir() else None
    default = Path(__file__).resolve().parents[2] / 'shared' / 'data'
    return default if default.is_dir() else None
