from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio
from affine import Affine

from rtsgeo.campaign import run_campaign
from rtsgeo.campaign.store import CampaignStore
from rtsgeo.errors import ConfigError, OutputError
from rtsgeo.models import ModelEnsemble
from rtsgeo.predict import PredictorOptions, ScenePredictor
from tests.predict.oracle import OracleModule, oracle_info, write_mask_scene

from ._fakes import FakeInfo, FakePredictor


def _runs(path: Path) -> dict[str, tuple[str, str | None]]:
    runs = pyogrio.read_dataframe(path, layer='runs')
    return {r.scene_id: (r.status, r.message) for r in runs.itertuples()}


def _slump_scenes(path: Path) -> list[str]:
    frame = pyogrio.read_dataframe(path, layer='slumps', read_geometry=False)
    return sorted(set(frame.scene_id))


def _write_raster(
    path: Path, crs: str, names: tuple[str, ...] | None, count: int = 4
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    res = 0.0001 if crs == 'EPSG:4326' else 5.0
    origin = (-135.0, 69.0) if crs == 'EPSG:4326' else (500000.0, 7600000.0)
    data = np.full((count, 32, 32), 1000, dtype=np.uint16)
    with rasterio.open(
        path,
        'w',
        driver='GTiff',
        width=32,
        height=32,
        count=count,
        dtype='uint16',
        crs=crs,
        transform=Affine(res, 0, origin[0], 0, -res, origin[1]),
        nodata=0,
    ) as dst:
        dst.write(data)
        for band, name in enumerate(names or (), start=1):
            dst.set_band_description(band, name)
    return path


def test_maps_every_scene(tmp_path: Path, synthetic_scenes: list[Path]) -> None:
    out = tmp_path / 'c.gpkg'
    summary = run_campaign(synthetic_scenes, FakePredictor(), out)
    assert (summary.done, summary.failed, summary.resumed) == (3, 0, 0)
    assert summary.polygons == len(pyogrio.read_dataframe(out, layer='slumps')) > 0
    slumps = pyogrio.read_dataframe(out, layer='slumps')
    assert slumps.crs == 'EPSG:3413'
    assert (slumps.model_name == 'fake-oracle').all()
    assert (slumps.modalities == 'rgb,ndvi,nir').all()
    assert (slumps.acquired == '2021-07-15').all()
    assert slumps.polygon_id.is_unique
    coverage = pyogrio.read_dataframe(out, layer='coverage')
    assert sorted(coverage.scene_id) == ['scene_000', 'scene_001', 'scene_002']
    # Every slump lies inside its scene's coverage.
    for row in slumps.itertuples():
        footprint = coverage.geometry[coverage.scene_id == row.scene_id].iloc[0]
        assert footprint.buffer(1e-6).contains(row.geometry)


def test_bad_scenes_fail_alone(tmp_path: Path, synthetic_scenes: list[Path]) -> None:
    bad = tmp_path / 'bad'
    broken = bad / 'broken.tif'
    broken.parent.mkdir()
    broken.write_text('not a raster')
    scenes = [
        *synthetic_scenes,
        bad / 'missing.tif',
        broken,
        _write_raster(bad / 'no_nir.tif', 'EPSG:32608', ('red', 'green', 'blue'), 3),
        _write_raster(
            bad / 'degrees.tif', 'EPSG:4326', ('blue', 'green', 'red', 'nir')
        ),
    ]
    out = tmp_path / 'c.gpkg'
    summary = run_campaign(scenes, FakePredictor(), out)
    assert (summary.done, summary.failed) == (3, 4)
    runs = _runs(out)
    assert runs['missing'][0] == 'failed'
    assert 'missing.tif does not exist' in runs['missing'][1]
    assert runs['broken'][1].startswith('CorruptRasterError')
    assert runs['no_nir'][1].startswith('BandNotFoundError')
    assert "['nir']" in runs['no_nir'][1]
    assert runs['degrees'][1].startswith('InvalidImageryError')
    assert _slump_scenes(out) == ['scene_000', 'scene_001', 'scene_002']


def test_checkpoint_sensor_mismatch(tmp_path: Path) -> None:
    # The model was trained on a 3-band RGB preset; a 4-band file without band
    # descriptions cannot be read with it.
    scene = _write_raster(tmp_path / 'plain.tif', 'EPSG:32608', None)
    predictor = FakePredictor(info=FakeInfo(sensor='rgb'))
    summary = run_campaign([scene], predictor, tmp_path / 'c.gpkg')
    assert summary.failed == 1
    message = summary.failures[0][1]
    assert "sensor preset 'rgb'" in message and '4 bands' in message


def test_resume_skips_final_and_retries_failed(
    tmp_path: Path, synthetic_scenes: list[Path]
) -> None:
    out = tmp_path / 'c.gpkg'
    first = FakePredictor(fail_on=('scene_001',))
    summary = run_campaign(synthetic_scenes, first, out)
    assert (summary.done, summary.failed) == (2, 1)
    assert _runs(out)['scene_001'] == (
        'failed',
        'RuntimeError: model failed on ' + str(synthetic_scenes[1]),
    )
    second = FakePredictor()
    summary = run_campaign(synthetic_scenes, second, out)
    assert second.calls == ['scene_001']
    assert (summary.done, summary.resumed) == (1, 2)
    assert {s for s, _ in _runs(out).values()} == {'done'}
    assert _slump_scenes(out) == ['scene_000', 'scene_001', 'scene_002']


def test_ctrl_c_stops_cleanly_and_resumes(
    tmp_path: Path, synthetic_scenes: list[Path]
) -> None:
    out = tmp_path / 'c.gpkg'
    summary = run_campaign(
        synthetic_scenes, FakePredictor(interrupt_on=('scene_001',)), out
    )
    assert summary.interrupted and summary.done == 1
    assert _runs(out) == {'scene_000': ('done', None)}
    assert _slump_scenes(out) == ['scene_000']
    again = FakePredictor()
    summary = run_campaign(synthetic_scenes, again, out)
    assert again.calls == ['scene_001', 'scene_002'] and not summary.interrupted
    reference = tmp_path / 'ref.gpkg'
    run_campaign(synthetic_scenes, FakePredictor(), reference)
    for layer in ('slumps', 'coverage'):
        got = pyogrio.read_dataframe(out, layer=layer)
        want = pyogrio.read_dataframe(reference, layer=layer)
        assert got.drop(columns='geometry').equals(want.drop(columns='geometry'))
        assert got.geometry.geom_equals_exact(want.geometry, 0).all()


def test_disk_full_stops_campaign(
    tmp_path: Path, synthetic_scenes: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / 'c.gpkg'
    original = CampaignStore._insert

    def insert(self: CampaignStore, name: str, rows: list) -> None:
        original(self, name, rows)
        if name == 'slumps' and rows and rows[0][0][1] == 'scene_001':
            raise OSError(28, 'No space left on device')

    monkeypatch.setattr(CampaignStore, '_insert', insert)
    predictor = FakePredictor()
    with pytest.raises(OutputError, match='disk full'):
        run_campaign(synthetic_scenes, predictor, out)
    assert predictor.calls == ['scene_000', 'scene_001']
    assert _runs(out) == {'scene_000': ('done', None)}
    assert _slump_scenes(out) == ['scene_000']
    monkeypatch.undo()
    summary = run_campaign(synthetic_scenes, FakePredictor(), out)
    assert (summary.done, summary.resumed) == (2, 1)


def test_other_checkpoint_refused(tmp_path: Path, synthetic_scenes: list[Path]) -> None:
    out = tmp_path / 'c.gpkg'
    run_campaign(synthetic_scenes[:1], FakePredictor(), out)
    other = FakePredictor(info=replace(FakeInfo(), sha256='0' * 64, path='other.pt'))
    with pytest.raises(ConfigError, match='another checkpoint'):
        run_campaign(synthetic_scenes, other, out)


def test_output_not_writable_up_front(
    tmp_path: Path, synthetic_scenes: list[Path]
) -> None:
    blocker = tmp_path / 'file'
    blocker.write_text('x')
    predictor = FakePredictor()
    with pytest.raises(OutputError, match='cannot create the folder'):
        run_campaign(synthetic_scenes, predictor, blocker / 'c.gpkg')
    assert predictor.calls == []


def test_other_crs_and_filters(tmp_path: Path, synthetic_scenes: list[Path]) -> None:
    out = tmp_path / 'utm.gpkg'
    run_campaign(synthetic_scenes[:1], FakePredictor(), out, crs='EPSG:32608')
    full = pyogrio.read_dataframe(out, layer='slumps')
    assert full.crs == 'EPSG:32608'
    # Geodesic areas agree with planar UTM areas to the UTM scale factor.
    ratio = full.area_m2 / full.geometry.area
    assert np.allclose(ratio, 1 / 0.9996**2, rtol=2e-4)
    cut = float(full.area_m2.min()) + 1
    filtered = tmp_path / 'filtered.gpkg'
    run_campaign(
        synthetic_scenes[:1], FakePredictor(), filtered, min_area_m2=cut, simplify=5.0
    )
    kept = pyogrio.read_dataframe(filtered, layer='slumps')
    assert len(kept) == (full.area_m2 >= cut).sum()
    assert kept.is_valid.all()


def test_runs_record_both_gsds_and_native_mapping_warns_once(tmp_path: Path) -> None:
    from rtsgeo.errors import ResolutionMismatchWarning
    from rtsgeo.predict import PredictorOptions, ScenePredictor
    from tests.predict.oracle import ComponentOracle, oracle_info
    from tests.predict.test_scene import _scene_pair

    coarse, fine = _scene_pair(tmp_path)
    info = replace(oracle_info(64), gsd_m=5.0)
    resampling = ScenePredictor(ComponentOracle(), info, PredictorOptions())
    out = tmp_path / 'resampled.gpkg'
    run_campaign([coarse, fine, tmp_path / 'missing.tif'], resampling, out)
    runs = pyogrio.read_dataframe(out, layer='runs').set_index('scene_id')
    assert runs.loc['at2.5m', ['scene_gsd_m', 'model_gsd_m']].tolist() == [2.5, 5.0]
    assert runs.loc['at5m', ['scene_gsd_m', 'model_gsd_m']].tolist() == [5.0, 5.0]
    assert runs.loc['missing', 'status'] == 'failed'
    assert np.isnan(runs.loc['missing', 'scene_gsd_m'])
    assert runs.loc['missing', 'model_gsd_m'] == 5.0
    slumps = pyogrio.read_dataframe(out, layer='slumps')
    counts = slumps.groupby('scene_id').size()
    assert counts['at2.5m'] == counts['at5m'] > 0

    native = ScenePredictor(ComponentOracle(), info, PredictorOptions(resample=False))
    with pytest.warns(ResolutionMismatchWarning) as seen:
        run_campaign([coarse, fine], native, tmp_path / 'native.gsd.gpkg')
    mismatches = [w for w in seen if w.category is ResolutionMismatchWarning]
    assert len(mismatches) == 1  # the 2.5 m scene, once; the 5 m one fits
    assert 'at2.5m.tif' in str(mismatches[0].message)


def _mask_scenes(tmp_path: Path, count: int = 3) -> list[Path]:
    from tests.predict.oracle import write_mask_scene

    scenes = []
    rows, cols = np.ogrid[:150, :150]
    for i in range(count):
        mask = (rows - 40 - 20 * i) ** 2 + (cols - 70) ** 2 <= 30**2
        mask |= (rows > 110) & (cols > 20 + 10 * i) & (cols < 60 + 10 * i)
        transform = Affine(3.0, 0.0, 400000.0 + 1000 * i, 0.0, -3.0, 7500000.0)
        path = tmp_path / 'scenes' / f'scene_{i}.tif'
        scenes.append(write_mask_scene(path, mask, transform, 'EPSG:32608'))
    return scenes


def _oracle_predictor(model=None, workers: int = 2):
    from rtsgeo.predict import PredictorOptions, ScenePredictor
    from tests.predict.oracle import ComponentOracle, oracle_info

    options = PredictorOptions(overlap=16, batch_size=2, workers=workers, prefetch=2)
    return ScenePredictor(model or ComponentOracle(), oracle_info(64), options)


def _background_threads() -> list[str]:
    import threading

    return [t.name for t in threading.enumerate() if t.name.startswith('rtsgeo-')]


def test_background_reader_failure_fails_only_its_scene(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rtsgeo.errors import CorruptRasterError
    from rtsgeo.predict.reader import SceneReader

    scenes = _mask_scenes(tmp_path)
    read_into, calls = SceneReader.read_into, []

    def fail_in_scene_1(self, tile, image, valid):
        calls.append(tile)
        name = Path(self.path).name
        if name == 'scene_1.tif' and len(calls) > 12:  # scene_1's 4th tile
            raise CorruptRasterError(f'{name}: bad block')
        return read_into(self, tile, image, valid)

    monkeypatch.setattr(SceneReader, 'read_into', fail_in_scene_1)
    out = tmp_path / 'f.gpkg'
    summary = run_campaign(scenes, _oracle_predictor(), out)
    runs = _runs(out)
    assert runs['scene_1'] == ('failed', 'CorruptRasterError: scene_1.tif: bad block')
    assert runs['scene_0'][0] == runs['scene_2'][0] == 'done'
    assert _slump_scenes(out) == ['scene_0', 'scene_2']
    assert (summary.done, summary.failed) == (2, 1)
    assert _background_threads() == []


def test_ctrl_c_with_background_workers_stops_and_resumes(tmp_path: Path) -> None:
    from tests.predict.oracle import ComponentOracle

    scenes = _mask_scenes(tmp_path)
    oracle = ComponentOracle()

    def interrupt_in_scene_1(images):
        if oracle.calls == 7:  # 5 batches a scene: scene_1's 3rd
            raise KeyboardInterrupt
        return oracle(images)

    out = tmp_path / 'c.gpkg'
    summary = run_campaign(scenes, _oracle_predictor(interrupt_in_scene_1), out)
    assert summary.interrupted and summary.done == 1
    assert _runs(out) == {'scene_0': ('done', None)}
    assert _background_threads() == []
    summary = run_campaign(scenes, _oracle_predictor(), out)
    assert (summary.done, summary.resumed) == (2, 1)
    reference = tmp_path / 'ref.gpkg'
    run_campaign(scenes, _oracle_predictor(workers=0), reference)
    for layer in ('slumps', 'coverage'):
        got = pyogrio.read_dataframe(out, layer=layer)
        want = pyogrio.read_dataframe(reference, layer=layer)
        assert len(got) == len(want) > 0
        assert (got.scene_id == want.scene_id).all()
        assert got.geometry.geom_equals_exact(want.geometry, 0).all()


def _ensemble(names: str) -> ScenePredictor:
    """A predictor of an ensemble of oracles, one per letter of *names*."""
    infos = [
        replace(oracle_info(64), name=n, path=f'{n}.pt', sha256=n * 64) for n in names
    ]
    ensemble = ModelEnsemble([OracleModule() for _ in infos], infos)
    return ScenePredictor(ensemble, ensemble.info, PredictorOptions(overlap=16))


def test_an_ensemble_records_its_checkpoints_and_resumes_only_itself(
    tmp_path: Path,
) -> None:
    mask = np.zeros((96, 96), bool)
    mask[20:60, 30:80] = True
    transform = Affine(5.0, 0.0, 500000.0, 0.0, -5.0, 7600000.0)
    scene = write_mask_scene(tmp_path / 's.tif', mask, transform, 'EPSG:32608')
    out = tmp_path / 'c.gpkg'
    assert run_campaign([scene], _ensemble('ab'), out).done == 1
    record = ['ensemble(a, b)', f'{"a" * 64},{"b" * 64}']
    for layer in ('runs', 'slumps', 'coverage'):
        frame = pyogrio.read_dataframe(out, layer=layer, read_geometry=False)
        assert len(frame) > 0
        columns = frame[['model_name', 'checkpoint_sha256']]
        assert columns.drop_duplicates().values.tolist() == [record], layer
    again = run_campaign([scene], _ensemble('ab'), out)
    assert (again.done, again.resumed) == (0, 1)
    for other in ('ba', 'abc', 'a'):
        with pytest.raises(ConfigError, match='another checkpoint'):
            run_campaign([scene], _ensemble(other), out)
