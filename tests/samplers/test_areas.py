from __future__ import annotations

import pytest

from rtsgeo.samplers import sampling_areas

from ._fakes import RES, X0, Y0, Footprints, pixels

WINDOW = (64 * RES, 64 * RES)


def test_areas_keep_rows_a_window_fits_in() -> None:
    rows = [pixels(0, 0, 100, 100), pixels(200, 0, 263, 300), pixels(300, 0, 364, 64)]
    areas = sampling_areas(Footprints(rows), WINDOW)
    assert [a.bounds for a in areas] == [rows[0].bounds, rows[2].bounds]
    assert areas[0].interval.left < areas[0].interval.right


def test_roi_clips_areas_and_keeps_the_scene_origin() -> None:
    rows = [pixels(0, 0, 200, 200), pixels(300, 0, 400, 100)]
    roi = pixels(50.5, 20, 300, 300)  # meets the second scene on its edge only
    (area,) = sampling_areas(Footprints(rows), WINDOW, roi)
    assert area.bounds == pytest.approx(pixels(50.5, 20, 200, 200).bounds)
    assert area.origin == (X0, Y0)
