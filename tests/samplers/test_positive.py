from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
import torch

from rtsgeo.datasets import build_instance_dataset, make_synthetic_dataset
from rtsgeo.samplers import PositiveAwareGeoSampler

from ._fakes import RES, X0, Y0, Footprints, pixels

SIZE = 64  # window side in pixels
NO_OBJECTS = np.zeros((0, 4))


def window_box(window: tuple[slice, slice, slice]) -> shapely.Polygon:
    x, y, _ = window
    return shapely.box(x.start, y.start, x.stop, y.stop)


def draw(dataset: Any, seed: int = 0, **options: Any) -> PositiveAwareGeoSampler:
    options = {'positives': NO_OBJECTS, 'length': 300, **options}
    generator = torch.Generator().manual_seed(seed)
    return PositiveAwareGeoSampler(dataset, SIZE, generator=generator, **options)


def on_grid(value: float, origin: float) -> bool:
    steps = (value - origin) / RES
    return abs(steps - round(steps)) < 1e-6


def test_random_windows_skip_areas_smaller_than_the_patch() -> None:
    big = pixels(0, 0, 128, 128)
    # A strip 40 px high: larger in area than a window, but no window fits in
    # it. RandomGeoSampler skips it, and so must this sampler.
    strip = pixels(200, 0, 600, 40)
    windows = list(draw(Footprints([big, strip]), positive_fraction=0.0))
    assert len(windows) == 300
    assert all(big.contains(window_box(w)) for w in windows)


def test_objects_in_areas_smaller_than_the_patch_are_skipped() -> None:
    big, strip = pixels(0, 0, 128, 128), pixels(200, 0, 600, 40)
    in_strip = np.array([strip.buffer(-50).bounds])
    windows = list(draw(Footprints([big, strip]), positives=in_strip))
    assert all(big.contains(window_box(w)) for w in windows)


def test_empty_when_no_area_is_as_large_as_a_window() -> None:
    small = draw(Footprints([pixels(0, 0, 40, 200), pixels(50, 0, 250, 40)]))
    assert len(small) == 0
    assert list(small) == []


def test_windows_stay_inside_the_roi() -> None:
    scene = pixels(0, 0, 400, 400)
    roi = pixels(100, 100, 300, 300)
    # Objects on and near the roi's edges, and one outside it.
    objects = np.array(
        [
            pixels(95, 150, 110, 165).bounds,
            pixels(280, 285, 299, 305).bounds,
            pixels(150, 100, 170, 104).bounds,
            pixels(10, 10, 20, 20).bounds,
        ]
    )
    sampler = draw(Footprints([scene]), positives=objects, roi=roi)
    assert len(sampler.positives) == 3  # the one outside the roi is dropped
    for window in sampler:
        assert roi.contains(window_box(window))


def test_positive_windows_hold_their_object() -> None:
    scene = pixels(0, 0, 500, 500)
    objects = np.array(
        [
            pixels(c, r, c + 20, r + 12).bounds
            for c, r in [(30, 40), (250, 300), (470, 470)]
        ]
    )
    windows = list(draw(Footprints([scene]), positives=objects, positive_fraction=1.0))
    boxes = [shapely.box(*b) for b in objects]
    for window in windows:
        assert any(window_box(window).contains(box) for box in boxes)
        assert scene.contains(window_box(window))
    # Every object is drawn, the one in the scene's corner too.
    for box in boxes:
        assert any(window_box(w).contains(box) for w in windows)


def test_positive_fraction_is_the_share_of_windows_on_objects() -> None:
    scene = pixels(0, 0, 1000, 1000)
    one = np.array([pixels(500, 500, 510, 510).bounds])
    box = shapely.box(*one[0])
    windows = list(
        draw(Footprints([scene]), positives=one, length=400, positive_fraction=0.5)
    )
    hits = sum(window_box(w).contains(box) for w in windows)
    # 200 expected on the object, plus the few random ones that happen to hold it.
    assert 160 <= hits <= 250


def test_windows_follow_each_scene_grid() -> None:
    # Two scenes whose grids are 3 m apart: each window follows its own scene.
    a = pixels(0, 0, 100, 100)
    b = shapely.affinity.translate(pixels(200, 0, 300, 100), 3.0, 3.0)
    objects = np.array(
        [
            pixels(40, 40, 47, 45).bounds,
            shapely.box(*b.centroid.buffer(33).bounds).bounds,
        ]
    )
    for x, y, _ in draw(Footprints([a, b]), positives=objects):
        origin = (X0, Y0) if x.start < X0 + 150 * RES else (X0 + 3.0, Y0 + 3.0)
        assert on_grid(x.start, origin[0]) and on_grid(y.start, origin[1])
        assert x.stop - x.start == y.stop - y.start == SIZE * RES


def test_seeded_generator_repeats_the_epoch() -> None:
    dataset = Footprints([pixels(0, 0, 300, 300)])
    objects = np.array([pixels(100, 100, 120, 120).bounds])
    first = list(draw(dataset, seed=7, positives=objects))
    assert first == list(draw(dataset, seed=7, positives=objects))
    assert first != list(draw(dataset, seed=8, positives=objects))


def test_bad_arguments() -> None:
    dataset = Footprints([pixels(0, 0, 300, 300)])
    with pytest.raises(ValueError, match=r'positive_fraction must be in \[0, 1\]'):
        draw(dataset, positive_fraction=1.5)
    with pytest.raises(ValueError, match='size and length must be positive'):
        draw(dataset, length=0)


def test_windows_on_synthetic_slumps_hold_instances(tmp_path: Path) -> None:
    scenes = make_synthetic_dataset(tmp_path, n_scenes=1, seed=2, size=192)
    dataset = build_instance_dataset(tmp_path / 'image', scenes[0].labels_path)
    labelled = dataset.datasets[0]
    generator = torch.Generator().manual_seed(0)
    sampler = PositiveAwareGeoSampler(
        labelled, SIZE, length=12, positive_fraction=1.0, generator=generator
    )
    assert len(sampler.positives) == scenes[0].n_slumps > 0
    for window in sampler:
        sample = labelled[window]
        assert sample['image'].shape[-2:] == (SIZE, SIZE)
        assert len(sample['mask']) >= 1  # every window holds a slump
