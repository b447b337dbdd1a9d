from __future__ import annotations

import pytest
import shapely

from rtsgeo.samplers import SceneGridGeoSampler

from ._fakes import RES, X0, Y0, Footprints, pixels


def starts(sampler: SceneGridGeoSampler) -> list[tuple[float, float]]:
    return [((x.start - X0) / RES, (y.start - Y0) / RES) for x, y, _ in sampler]


def test_grid_covers_each_scene_from_its_corner() -> None:
    sampler = SceneGridGeoSampler(Footprints([pixels(0, 0, 250, 200)]), 100)
    # Three columns (the last reaching past the edge) and two rows.
    assert starts(sampler) == [
        (0, 0),
        (100, 0),
        (200, 0),
        (0, 100),
        (100, 100),
        (200, 100),
    ]
    assert len(sampler) == 6
    for x, y, t in sampler:
        assert x.stop - x.start == y.stop - y.start == 100 * RES
        assert t.start < t.stop


def test_stride_overlaps_windows() -> None:
    sampler = SceneGridGeoSampler(Footprints([pixels(0, 0, 200, 100)]), 100, stride=50)
    assert starts(sampler) == [(0, 0), (50, 0), (100, 0)]


def test_scenes_smaller_than_a_window_are_skipped() -> None:
    dataset = Footprints([pixels(0, 0, 100, 100), pixels(300, 0, 350, 400)])
    sampler = SceneGridGeoSampler(dataset, 100)
    assert starts(sampler) == [(0, 0)]
    assert len(sampler) == 1


def test_roi_clips_the_scene_on_its_pixel_grid() -> None:
    dataset = Footprints([pixels(0, 0, 400, 400)])
    # A roi edge between pixels: windows start on the next pixel edge.
    roi = shapely.box(X0 + 1005, Y0 + 995, X0 + 3000, Y0 + 3000)
    sampler = SceneGridGeoSampler(dataset, 100, roi=roi)
    assert starts(sampler) == [(101, 100), (201, 100), (101, 200), (201, 200)]


def test_bad_sizes() -> None:
    with pytest.raises(ValueError, match='size and stride must be positive'):
        SceneGridGeoSampler(Footprints([pixels(0, 0, 10, 10)]), 0)
