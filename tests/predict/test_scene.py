"""Tests of the scene predictor on oracle scenes, bad input and a real model."""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import rasterio.features
import torch
from affine import Affine
from scipy import ndimage
from shapely.geometry import Point

from rtsgeo.datasets import make_synthetic_scene, make_synthetic_splits
from rtsgeo.errors import ConfigError, ResolutionMismatchWarning
from rtsgeo.predict import PredictorOptions, ScenePredictor, tile_windows
from rtsgeo.transforms import SceneStretch
from tests.models._nano import write_nano_model

from .oracle import ComponentOracle, oracle_info, write_mask_scene

TRANSFORM = Affine(5.0, 0.0, 500000.0, 0.0, -5.0, 7600000.0)


def _rasterize(frame, shape, transform) -> np.ndarray:
    if len(frame) == 0:
        return np.zeros(shape, bool)
    shapes = ((g, 1) for g in frame.geometry)
    out = rasterio.features.rasterize(shapes, out_shape=shape, transform=transform)
    return out.astype(bool)


def _holey_scene(
    tmp_path: Path, size: int = 200
) -> tuple[Path, np.ndarray, np.ndarray]:
    scene = make_synthetic_scene(tmp_path / 'synth', seed=3, size=size, n_slumps=6)
    with rasterio.open(scene.mask_path) as src:
        truth = src.read(1) > 0
    valid = np.ones_like(truth)
    valid[: size // 3, : size // 2] = False  # nodata covering whole tiles
    rows, cols = np.ogrid[:size, :size]
    truth |= (rows - 120) ** 2 + (cols - 150) ** 2 <= 35**2  # crosses four tiles
    path = write_mask_scene(
        tmp_path / 'scene.tif', truth, TRANSFORM, 'EPSG:32608', valid
    )
    return path, truth & valid, valid


@pytest.mark.parametrize('workers', [0, 2])
def test_all_nodata_tiles_skipped_without_the_model(
    tmp_path: Path, workers: int
) -> None:
    path, _, valid = _holey_scene(tmp_path)
    oracle = ComponentOracle()
    progress: list[tuple[int, int]] = []
    options = PredictorOptions(overlap=16, batch_size=3, workers=workers)
    predictor = ScenePredictor(oracle, oracle_info(64), options)
    result = predictor.predict_scene(path, progress=lambda *a: progress.append(a))
    tiles = tile_windows(200, 200, 64, 16)
    empty = sum(
        not valid[
            max(t.row_off, 0) : t.bounds[1], max(t.col_off, 0) : t.bounds[3]
        ].any()
        for t in tiles
    )
    assert empty > 0
    assert result.tiles_skipped == empty
    assert oracle.tiles == result.tiles == len(tiles) - empty
    assert progress[-1] == (len(tiles), len(tiles))
    done = [p[0] for p in progress]
    if workers == 0:  # serially, every tile reports in turn
        assert done == list(range(1, len(tiles) + 1))
    else:  # behind the model, whole batches and skipped runs report at once
        assert done == sorted(done)
    assert result.valid_area_m2 == pytest.approx(valid.sum() * 25.0)
    coverage = _rasterize_geometry(result.coverage, valid.shape)
    np.testing.assert_array_equal(coverage, valid)


def _rasterize_geometry(geometry, shape) -> np.ndarray:
    out = rasterio.features.rasterize(
        [(geometry, 1)], out_shape=shape, transform=TRANSFORM
    )
    return out.astype(bool)


class _Everything:
    """A model that calls every pixel of every tile a slump."""

    def __call__(self, images: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        n, _, h, w = images.shape
        return [
            {'masks': torch.ones(1, 1, h, w), 'scores': torch.ones(1)} for _ in range(n)
        ]


def test_nodata_never_yields_detections(tmp_path: Path) -> None:
    path, _, valid = _holey_scene(tmp_path)
    predictor = ScenePredictor(
        _Everything(), oracle_info(64), PredictorOptions(overlap=16)
    )
    result = predictor.predict_scene(path)
    assert len(result.polygons) == 1  # the tiles' full masks merge into one
    detected = _rasterize(result.polygons, valid.shape, TRANSFORM)
    np.testing.assert_array_equal(detected, valid)


@pytest.mark.parametrize('tta', [False, True])
def test_seam_invariance(tmp_path: Path, tta: bool) -> None:
    path, truth, _ = _holey_scene(tmp_path)
    results = []
    for offset in [(0, 0), (64 // 3, 64 // 3)]:
        options = PredictorOptions(overlap=16, grid_offset=offset, tta=tta)
        predictor = ScenePredictor(ComponentOracle(), oracle_info(64), options)
        results.append(predictor.predict_scene(path).polygons)
    first, second = results
    assert len(first) == len(second) > 0
    for geometry in first.geometry:
        ious = [
            geometry.intersection(other).area / geometry.union(other).area
            for other in second.geometry
        ]
        assert max(ious) >= 0.98
    # The disk crossing four tiles comes out once, whole (with any slump
    # touching it: the oracle sees 8-connected components).
    components, _ = ndimage.label(truth, np.ones((3, 3)))
    disk = components == components[120, 150]
    for frame in results:
        hits = frame[frame.intersects(Point(TRANSFORM * (150.5, 120.5)))]
        assert len(hits) == 1
        assert hits.geometry.iloc[0].area == pytest.approx(disk.sum() * 25.0)
    np.testing.assert_array_equal(_rasterize(first, truth.shape, TRANSFORM), truth)


def _percentile_stretch() -> SceneStretch:
    """The oracle scenes' own percentiles (100 off the mask, 1000 on it)."""
    bands = ('blue', 'green', 'red', 'nir')
    return SceneStretch.from_ranges({band: (100.0, 1000.0) for band in bands})


def test_scene_norm_maps_a_darker_scene_as_the_original(tmp_path: Path) -> None:
    from dataclasses import replace

    from tests.datasets._rescaled import rescaled_scene

    path, truth, _ = _holey_scene(tmp_path)
    # 30 and 300: below the oracle's threshold (550) unless stretched
    dark = rescaled_scene(path, tmp_path / 'dark.tif', (0.3,) * 4, (0.0,) * 4)
    options = PredictorOptions(overlap=16)
    plain = ScenePredictor(ComponentOracle(), oracle_info(64), options)
    assert len(plain.predict_scene(dark).polygons) == 0
    info = replace(oracle_info(64), scene_stretch=_percentile_stretch())
    results = []
    for scene, offset in ((path, (0, 0)), (dark, (0, 0)), (dark, (21, 21))):
        options = PredictorOptions(overlap=16, grid_offset=offset)
        predictor = ScenePredictor(ComponentOracle(), info, options)
        results.append(predictor.predict_scene(scene).polygons)
    for frame in results[:2]:
        np.testing.assert_array_equal(_rasterize(frame, truth.shape, TRANSFORM), truth)
    # one stretch per scene: another tile grid finds the same objects
    shifted = _rasterize(results[2], truth.shape, TRANSFORM)
    assert len(results[2]) == len(results[0])
    assert (shifted & truth).sum() / (shifted | truth).sum() >= 0.98


def test_map_applies_the_model_files_scene_norm(tmp_path: Path) -> None:
    from rtsgeo.models import build_model, save_trained_model

    info = oracle_info(64)
    stretch = _percentile_stretch()
    model = build_model(info.config)
    path = save_trained_model(
        tmp_path / 'm.pt', model, info.config, info.stats, scene_stretch=stretch
    )
    predictor = ScenePredictor.from_checkpoint(path)
    assert predictor.info.scene_stretch == stretch
    scene, _, _ = _holey_scene(tmp_path)
    with predictor.open(scene) as reader:
        assert reader.scene_stretch == stretch
        assert reader.scene_percentiles() == stretch.ranges


def test_a_list_of_one_checkpoint_maps_as_that_checkpoint(tmp_path: Path) -> None:
    model = write_nano_model(tmp_path / 'a.pt', seed=0)
    mask = np.zeros((96, 96), bool)
    mask[20:60, 30:80] = True
    scene = write_mask_scene(tmp_path / 's.tif', mask, TRANSFORM, 'EPSG:32608')
    options = PredictorOptions(overlap=16, score_threshold=0.45)
    maps = {}
    for key, paths in (('file', model), ('one', [model]), ('twice', [model] * 2)):
        predictor = ScenePredictor.from_checkpoint(paths, options)
        maps[key] = (predictor.info, predictor.predict_scene(scene).polygons)
    (info, alone), (one_info, one) = maps['file'], maps['one']
    assert len(alone) > 0
    assert one_info == info
    assert one['score'].tolist() == alone['score'].tolist()
    assert one.geometry.geom_equals_exact(alone.geometry, 0).all()
    # A model with itself: every instance fuses with its copy, unchanged.
    twice_info, twice = maps['twice']
    assert twice_info.sha256 == f'{info.sha256},{info.sha256}'
    assert twice['score'].tolist() == alone['score'].tolist()
    assert twice.geometry.geom_equals_exact(alone.geometry, 0).all()


def test_an_ensemble_of_models_that_do_not_fit_is_refused(tmp_path: Path) -> None:
    a = write_nano_model(tmp_path / 'a.pt', seed=0)
    b = write_nano_model(tmp_path / 'b.pt', seed=1, gsd_m=10.0)
    message = f'cannot ensemble {a} with {b}: GSD 5 m vs 10 m; '
    with pytest.raises(ConfigError, match=re.escape(message)):
        ScenePredictor.from_checkpoint([a, b])


#: Training steps of the model in the seam test (the demo's 200 by default).
DEMO_STEPS = int(os.environ.get('RTSGEO_DEMO_STEPS', '200'))
#: A model.pt that ``rtsgeo demo`` (default seed and steps) wrote: the seam
#: test then maps with it instead of training the same model again.
DEMO_MODEL = os.environ.get('RTSGEO_DEMO_MODEL')


@pytest.fixture(scope='module')
def demo_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The demo's model, trained as ``rtsgeo demo`` does, and the demo scene."""
    from rtsgeo.cli.demo import make_demo_scene, train_model

    out = tmp_path_factory.mktemp('demo')
    if DEMO_MODEL:
        model = Path(DEMO_MODEL)
    else:
        data = make_synthetic_splits(out / 'data', seed=0, size=192)
        model = train_model(data, out / 'model.pt', seed=0, steps=DEMO_STEPS)
    return model, make_demo_scene(out, seed=0, size=640).image_path


def _shared_edges(frame: gpd.GeoDataFrame) -> list[tuple[int, int, str]]:
    """Pairs of polygons that overlap or share a boundary segment."""
    found = []
    geometries = list(frame.geometry)
    for i, j in zip(*frame.sindex.query(frame.geometry, 'intersects'), strict=True):
        if i < j:
            contact = geometries[i].intersection(geometries[j])
            if contact.area > 0 or contact.length > 0:
                found.append((int(i), int(j), contact.geom_type))
    return found


@pytest.mark.slow
def test_trained_model_map_has_no_seams_whatever_the_grid(
    demo_model: tuple[Path, Path],
) -> None:
    model, scene = demo_model
    maps = []
    for offset in [(0, 0), (32, 61), (77, 18)]:
        options = PredictorOptions(grid_offset=offset)
        predictor = ScenePredictor.from_checkpoint(model, options)
        found = predictor.predict_scene(scene).polygons
        assert len(found) > 0
        assert _shared_edges(found) == [], f'grid offset {offset}'
        maps.append(found)
    for first, second in itertools.combinations(maps, 2):
        # No slump is cut into pieces, or joined to another, by one grid and
        # not the other: every polygon meets at most one of the other map.
        for one, other in ((first, second), (second, first)):
            meets = [len(other.sindex.query(g, 'intersects')) for g in one.geometry]
            assert max(meets) <= 1, meets
        # The grid moves each tile's context, which can move a slump's score
        # across the threshold (one of the demo's 14 on some CPUs), no more.
        matched = sum(1 for g in first.geometry if second.intersects(g).any())
        assert matched >= max(len(first), len(second)) - 1


def _scene_pair(tmp_path: Path, size: int = 160) -> tuple[Path, Path]:
    """One scene written at 5 m and the same scene at 2.5 m (pixels split in 4)."""
    scene = make_synthetic_scene(tmp_path / 'synth', seed=7, size=size, n_slumps=5)
    with rasterio.open(scene.mask_path) as src:
        truth = src.read(1) > 0
    rows, cols = np.ogrid[:size, :size]
    truth |= (rows - 100) ** 2 + (cols - 70) ** 2 <= 20**2  # crosses tile seams
    coarse = write_mask_scene(tmp_path / 'at5m.tif', truth, TRANSFORM, 'EPSG:32608')
    fine = tmp_path / 'at2.5m.tif'
    with rasterio.open(coarse) as src:
        profile = src.profile | {'width': 2 * size, 'height': 2 * size}
        profile = {k: v for k, v in profile.items() if not k.startswith('block')}
        profile['transform'] = TRANSFORM @ Affine.scale(0.5)
        image = src.read(out_shape=(4, 2 * size, 2 * size))  # nearest: exact copy
        with rasterio.open(fine, 'w', **profile) as dst:
            dst.write(image)
            dst.descriptions = src.descriptions
    return coarse, fine


def _best_iou(polygon, others: gpd.GeoSeries) -> float:
    return max(polygon.intersection(o).area / polygon.union(o).area for o in others)


def test_finer_scene_resampled_to_the_models_gsd(tmp_path: Path) -> None:
    from dataclasses import replace

    coarse, fine = _scene_pair(tmp_path)
    info = replace(oracle_info(64), gsd_m=5.0)
    predictor = ScenePredictor(ComponentOracle(), info, PredictorOptions(overlap=16))
    at5 = predictor.predict_scene(coarse)
    at25 = predictor.predict_scene(fine)
    assert (at5.scene_gsd_m, at5.mapped_gsd_m) == (5.0, 5.0)
    assert (at25.scene_gsd_m, at25.mapped_gsd_m) == (2.5, 5.0)
    # Tiles are model pixels: the 2.5 m scene is cut into the 5 m scene's grid.
    assert at25.transform == at5.transform == TRANSFORM
    assert at25.tiles + at25.tiles_skipped == at5.tiles + at5.tiles_skipped
    assert at25.crs == at5.crs
    assert len(at25.polygons) == len(at5.polygons) >= 5
    for polygon in at5.polygons.geometry:
        assert _best_iou(polygon, at25.polygons.geometry) >= 0.9
    assert at25.valid_area_m2 == pytest.approx(at5.valid_area_m2)

    # At its own GSD the model sees objects twice their trained size.
    native = ScenePredictor(
        ComponentOracle(), info, PredictorOptions(overlap=16, resample=False)
    )
    with pytest.warns(ResolutionMismatchWarning, match=r'at2\.5m\.tif.*2\.5 m') as seen:
        result = native.predict_scene(fine)
    assert [w.category for w in seen].count(ResolutionMismatchWarning) == 1
    assert result.mapped_gsd_m == result.scene_gsd_m == 2.5
    assert result.transform == TRANSFORM @ Affine.scale(0.5)


def _recorder(events: list[tuple[int, int]]):
    return lambda *a: events.append(a)


def _threads() -> set[str]:
    import threading

    return {t.name for t in threading.enumerate() if t.name.startswith('rtsgeo-')}


@pytest.mark.parametrize('prefetch', [1, 4])
def test_background_workers_do_not_change_the_output(
    tmp_path: Path, prefetch: int
) -> None:
    path, _, _ = _holey_scene(tmp_path)
    results = []
    for workers in (0, 1, 2):
        options = PredictorOptions(
            overlap=16, batch_size=2, workers=workers, prefetch=prefetch
        )
        progress: list[tuple[int, int]] = []
        predictor = ScenePredictor(ComponentOracle(), oracle_info(64), options)
        result = predictor.predict_scene(path, progress=_recorder(progress))
        assert progress[-1] == (16, 16)
        results.append(result)
    first = results[0]
    assert len(first.polygons) >= 3
    for other in results[1:]:
        assert list(other.polygons.index) == list(first.polygons.index)
        assert list(other.polygons.score) == list(first.polygons.score)
        assert all(
            a.equals_exact(b, 0.0)
            for a, b in zip(
                other.polygons.geometry, first.polygons.geometry, strict=True
            )
        )
        assert other.coverage.equals(first.coverage)
        assert (other.tiles, other.tiles_skipped, other.valid_area_m2) == (
            first.tiles,
            first.tiles_skipped,
            first.valid_area_m2,
        )
    assert _threads() == set()


def _failing_read(monkeypatch: pytest.MonkeyPatch, after: int, error: BaseException):
    from rtsgeo.predict.reader import SceneReader

    read_into = SceneReader.read_into
    calls = []

    def fail(self, tile, image, valid):
        calls.append(tile)
        if len(calls) > after:
            raise error
        return read_into(self, tile, image, valid)

    monkeypatch.setattr(SceneReader, 'read_into', fail)
    return calls


@pytest.mark.parametrize('workers', [0, 1, 2])
def test_a_failing_reader_fails_the_scene(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    from rtsgeo.errors import CorruptRasterError

    path, _, _ = _holey_scene(tmp_path)
    _failing_read(monkeypatch, 6, CorruptRasterError('bad block at tile 7'))
    options = PredictorOptions(overlap=16, batch_size=2, workers=workers)
    predictor = ScenePredictor(ComponentOracle(), oracle_info(64), options)
    with pytest.raises(CorruptRasterError, match='bad block at tile 7'):
        predictor.predict_scene(path)
    assert _threads() == set()


@pytest.mark.parametrize('workers', [1, 2])
def test_a_failing_post_processing_fails_the_scene(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    from rtsgeo.predict import scene

    def fail(*args, **kwargs):
        raise MemoryError('no room to vectorise')

    path, _, _ = _holey_scene(tmp_path)
    monkeypatch.setattr(scene, 'tile_instances', fail)
    options = PredictorOptions(overlap=16, batch_size=2, workers=workers)
    predictor = ScenePredictor(ComponentOracle(), oracle_info(64), options)
    with pytest.raises(MemoryError, match='no room'):
        predictor.predict_scene(path)
    assert _threads() == set()


def test_ctrl_c_while_reading_ahead_stops_every_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _, _ = _holey_scene(tmp_path)
    oracle = ComponentOracle()

    def interrupt(images: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        if oracle.calls == 2:
            raise KeyboardInterrupt
        return oracle(images)

    options = PredictorOptions(overlap=16, batch_size=2, workers=2, prefetch=3)
    predictor = ScenePredictor(interrupt, oracle_info(64), options)
    with pytest.raises(KeyboardInterrupt):
        predictor.predict_scene(path)
    assert _threads() == set()
    assert oracle.calls == 2
    again = ScenePredictor(ComponentOracle(), oracle_info(64), options)
    assert len(again.predict_scene(path).polygons) >= 3


def test_workers_and_prefetch_are_checked() -> None:
    with pytest.raises(ConfigError, match='workers=3: use 0, 1 or 2'):
        PredictorOptions(workers=3)
    with pytest.raises(ConfigError, match='prefetch=0'):
        PredictorOptions(prefetch=0)


def test_a_calibrated_model_adds_probability_and_tier(tmp_path: Path) -> None:
    from dataclasses import replace

    from rtsgeo.evaluation import ScoreCalibration

    path, _, _ = _holey_scene(tmp_path)
    options = PredictorOptions(overlap=16)
    plain = ScenePredictor(ComponentOracle(), oracle_info(64), options)
    polygons = plain.predict_scene(path).polygons
    assert len(polygons) and 'probability' not in polygons
    calibration = ScoreCalibration(
        'isotonic', 'iou50', knots=((0.0, 0.0), (1.0, 0.7)), tier_thresholds=(0.6, 0.3)
    )
    info = replace(oracle_info(64), calibration=calibration)
    frame = (
        ScenePredictor(ComponentOracle(), info, options).predict_scene(path).polygons
    )
    np.testing.assert_allclose(frame['probability'], 0.7 * frame['score'])
    assert list(frame['score']) == list(polygons['score'])
    want = np.where(frame['probability'] >= 0.6, 'high', 'medium')
    want[frame['probability'] < 0.3] = 'low'
    assert list(frame['confidence']) == list(want)
