from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
from affine import Affine
from rasterio.crs import CRS
from shapely.geometry import box

from rtsgeo.campaign._gpkg import blob_bounds, encode_geometry
from rtsgeo.campaign.records import build_scene_records
from rtsgeo.campaign.schema import RUNS_COLUMNS
from rtsgeo.campaign.store import CampaignStore
from rtsgeo.errors import ConfigError, OutputError

INFO = SimpleNamespace(
    name='m', sha256='a' * 64, modalities=('rgb', 'ndvi'), gsd_m=None
)


def _records(scene_id: str, n: int, x0: float = 500000.0) -> object:
    geoms = [box(x0 + 50 * i, 7599000, x0 + 50 * i + 30, 7599030) for i in range(n)]
    prediction = SimpleNamespace(
        path=f'/data/{scene_id}.tif',
        scene_id=scene_id,
        crs=CRS.from_epsg(32608),
        transform=Affine(5, 0, x0, 0, -5, 7600000),
        polygons=gpd.GeoDataFrame(
            {'score': np.linspace(0.5, 0.9, n)}, geometry=geoms, crs='EPSG:32608'
        ),
        coverage=box(x0, 7598000, x0 + 1000, 7600000),
        acquired=None,
        tiles=4,
        tiles_skipped=0,
        valid_area_m2=2e6,
        scene_gsd_m=5.0,
    )
    return build_scene_records(prediction, INFO, 'EPSG:3413', {'seconds': 0.1})


def _count(path: Path, layer: str) -> int:
    return len(pyogrio.read_dataframe(path, layer=layer, read_geometry=False))


def test_blob_round_trip() -> None:
    geom = box(1, 2, 3, 5)
    blob = encode_geometry(geom, 3413)
    assert blob is not None and blob[:2] == b'GP'
    assert blob_bounds(blob) == (1, 3, 2, 5)
    assert (
        blob_bounds(encode_geometry(box(0, 0, 1, 1).difference(box(0, 0, 2, 2)), 1))
        is None
    )


def test_rows_read_back_with_gdal(tmp_path: Path) -> None:
    path = tmp_path / 'c.gpkg'
    records = _records('s1', 3)
    with CampaignStore(path) as writer:
        writer.write(records)
        writer.write(records)  # rewriting a scene replaces its rows
        assert writer.statuses() == {'s1': 'done'}
    slumps = pyogrio.read_dataframe(path, layer='slumps')
    assert slumps.crs == 'EPSG:3413'
    assert len(slumps) == 3
    expected = records.slumps.geometry.reset_index(drop=True)
    assert slumps.geometry.geom_equals_exact(expected, 1e-6).all()
    assert list(slumps.polygon_id) == list(records.slumps.polygon_id)
    info = pyogrio.read_info(path, layer='slumps')
    assert info['features'] == 3 and info['geometry_type'] == 'MultiPolygon'
    connection = sqlite3.connect(path)
    # GDAL's spatial index was kept in step by our ST_* functions.
    (indexed,) = connection.execute('SELECT count(*) FROM rtree_slumps_geom').fetchone()
    assert indexed == 3
    left = pyogrio.read_dataframe(
        path, layer='slumps', bbox=tuple(slumps.iloc[:1].total_bounds)
    )
    assert len(left) >= 1


def test_other_crs_refused_on_resume(tmp_path: Path) -> None:
    path = tmp_path / 'c.gpkg'
    CampaignStore(path, 'EPSG:3413').close()
    with pytest.raises(ConfigError, match='EPSG:3413'):
        CampaignStore(path, 'EPSG:4326')
    with CampaignStore(path, None) as writer:
        assert writer.crs.to_epsg() == 3413


def test_any_epsg(tmp_path: Path) -> None:
    path = tmp_path / 'c.gpkg'
    with CampaignStore(path, 'EPSG:4326') as writer:
        writer.write(build_scene_records_in(writer.crs))
    slumps = pyogrio.read_dataframe(path, layer='slumps')
    assert slumps.crs == 'EPSG:4326'
    assert -136 < slumps.total_bounds[0] < -134


def build_scene_records_in(crs: object) -> object:
    records = _records('s1', 1)
    assert records.slumps.crs.to_epsg() == 3413
    records.slumps = records.slumps.to_crs(crs)
    records.coverage = records.coverage.to_crs(crs)
    return records


def test_output_from_before_the_gsd_columns_resumes(tmp_path: Path) -> None:
    path = tmp_path / 'old.gpkg'
    with CampaignStore(path) as store:
        store.write(_records('a', 2))
    with sqlite3.connect(path) as connection:  # as written by an older rtsgeo
        for column in ('scene_gsd_m', 'model_gsd_m'):
            connection.execute(f'ALTER TABLE runs DROP COLUMN {column}')
    with CampaignStore(path, None, readonly=True) as reader:  # merge, report
        ((values, _),) = reader.read_rows('runs', 'a')
        row = dict(zip([c.name for c in RUNS_COLUMNS], values, strict=True))
        assert (row['status'], row['valid_area_m2']) == ('done', 2e6)
        assert row['scene_gsd_m'] is row['model_gsd_m'] is None
    with CampaignStore(path) as store:  # resuming adds the columns
        store.write(_records('b', 1))
        assert store.statuses() == {'a': 'done', 'b': 'done'}
    runs = pyogrio.read_dataframe(path, layer='runs').set_index('scene_id')
    assert np.isnan(runs.loc['a', 'scene_gsd_m']) and runs.loc['b', 'scene_gsd_m'] == 5
    assert len(pyogrio.read_dataframe(path, layer='slumps')) == 3


def test_not_a_campaign(tmp_path: Path) -> None:
    other = tmp_path / 'other.gpkg'
    gpd.GeoDataFrame({'a': [1]}, geometry=[box(0, 0, 1, 1)], crs=3413).to_file(other)
    with pytest.raises(ConfigError, match='not an rtsgeo campaign'):
        CampaignStore(other)
    text = tmp_path / 'text.gpkg'
    text.write_text('hello')
    with pytest.raises(ConfigError, match='not a GeoPackage'):
        CampaignStore(text)


@pytest.mark.skipif(os.geteuid() == 0, reason='root ignores permissions')
def test_output_not_writable(tmp_path: Path) -> None:
    locked = tmp_path / 'locked'
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(OutputError, match='not writable'):
            CampaignStore(locked / 'c.gpkg')
        with pytest.raises(OutputError, match='cannot create the folder'):
            CampaignStore(locked / 'sub' / 'c.gpkg')
    finally:
        locked.chmod(0o700)


def test_output_under_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / 'blocker'
    blocker.write_text('not a folder')
    with pytest.raises(OutputError, match='cannot create the folder'):
        CampaignStore(blocker / 'c.gpkg')


def test_output_is_a_folder(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match='is a folder'):
        CampaignStore(tmp_path)


def test_disk_full_mid_scene_leaves_last_commit(tmp_path: Path) -> None:
    path = tmp_path / 'c.gpkg'
    with CampaignStore(path) as writer:
        writer.write(_records('s1', 2))
        connection = writer._connection
        (pages,) = connection.execute('PRAGMA page_count').fetchone()
        # SQLite's own limit on the file size: the next page allocated fails
        # exactly as on a full disk (SQLITE_FULL).
        connection.execute(f'PRAGMA max_page_count = {pages}')
        with pytest.raises(OutputError, match='disk full'):
            writer.write(_records('s2', 400, x0=510000.0))
        assert writer.statuses() == {'s1': 'done'}
    assert _count(path, 'slumps') == 2
    assert _count(path, 'coverage') == 1
    runs = pyogrio.read_dataframe(path, layer='runs')
    assert list(runs.scene_id) == ['s1']
    with CampaignStore(path) as writer:  # and it resumes
        writer.write(_records('s2', 400, x0=510000.0))
    assert _count(path, 'slumps') == 402


def test_error_mid_write_rolls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / 'c.gpkg'
    with CampaignStore(path) as writer:
        writer.write(_records('s1', 2))
        original = CampaignStore._insert
        calls = []

        def failing(self: CampaignStore, name: str, rows: list) -> None:
            calls.append(name)
            if name == 'coverage':  # after this scene's slumps were inserted
                raise OSError(28, 'No space left on device')
            original(self, name, rows)

        monkeypatch.setattr(CampaignStore, '_insert', failing)
        with pytest.raises(OutputError, match='disk full'):
            writer.write(_records('s1', 5))
        assert calls == ['slumps', 'coverage']
    assert _count(path, 'slumps') == 2
    assert len(pyogrio.read_dataframe(path, layer='runs')) == 1
