"""Progress bars and the final summary of ``rtsgeo map``."""

from __future__ import annotations

import sys
import time
from typing import Any

__all__ = ['TqdmProgress', 'print_summary']


def _scene_area_km2(path: str) -> float:
    """Area of the scene's grid (metadata only); 0 if unreadable."""
    try:
        import rasterio

        with rasterio.open(path) as src:
            return float(src.width * src.height * abs(src.res[0] * src.res[1])) / 1e6
    except Exception:
        return 0.0


class TqdmProgress:
    """Two bars: scenes (polygons, km^2 mapped) and tiles (tiles/s, km^2/s)."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self._scenes: Any = None
        self._tiles: Any = None
        self._polygons = 0
        self._km2 = 0.0
        self._scene_km2 = 0.0
        self._start = 0.0

    def scene_started(self, scene: Any, index: int, total: int) -> None:
        """Open the bars, or move the scene bar on."""
        if self._scenes is None:
            self._scenes = self._tqdm(
                total=total, unit='scene', position=0, file=sys.stderr
            )
        self._scenes.set_description(scene.scene_id)
        if self._tiles is not None:
            self._tiles.close()
        self._tiles = self._tqdm(unit='tile', position=1, leave=False, file=sys.stderr)
        self._scene_km2 = _scene_area_km2(scene.path)
        self._start = time.perf_counter()

    def tiles(self, done: int, total: int) -> None:
        """Move the tile bar to *done* of *total*."""
        bar = self._tiles
        if bar is None:
            return
        bar.total = total
        bar.update(done - bar.n)
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        rate = self._scene_km2 * done / max(total, 1) / elapsed
        bar.set_postfix_str(f'{rate:.2f} km2/s', refresh=False)

    def scene_finished(self, records: Any) -> None:
        """Count the scene's polygons and area."""
        self._polygons += int(records.run['polygons'] or 0)
        self._km2 += float(records.run['valid_area_m2'] or 0.0) / 1e6
        if self._scenes is not None:
            self._scenes.update(1)
            self._scenes.set_postfix_str(
                f'{self._polygons} polygons, {self._km2:.1f} km2'
            )

    def close(self) -> None:
        """Close the bars."""
        for bar in (self._tiles, self._scenes):
            if bar is not None:
                bar.close()


def print_summary(summary: Any) -> None:
    """The end-of-run summary of a campaign."""
    km2 = summary.valid_area_m2 / 1e6
    minutes, seconds = divmod(summary.seconds, 60)
    print(
        f'scenes: {summary.done} done, {summary.skipped} skipped (no data), '
        f'{summary.failed} failed, {summary.resumed} already done '
        f'(of {summary.scenes})'
    )
    rate = km2 / summary.seconds if summary.seconds > 0 else 0.0
    print(
        f'polygons: {summary.polygons}; area mapped: {km2:.2f} km2 '
        f'({rate:.3f} km2/s); time: {int(minutes)} min {seconds:.1f} s'
    )
    for scene_id, message in summary.failures[:10]:
        print(f'  failed {scene_id}: {message}')
    if len(summary.failures) > 10:
        print(f'  ... and {len(summary.failures) - 10} more (see the runs layer)')
    print(f'output: {summary.out}')
    if summary.interrupted:
        print('interrupted: rerun the same command to resume', file=sys.stderr)
