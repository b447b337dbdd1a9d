"""GeoParquet export of campaigns (``fmt='parquet'``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import pytest

from rtsgeo.campaign import run_campaign
from rtsgeo.campaign.export import export_parquet, parquet_paths
from rtsgeo.campaign.merge import merge_campaigns
from rtsgeo.campaign.schema import LAYERS, TIMING_COLUMNS
from rtsgeo.errors import ConfigError, OutputError

from ._fakes import FakePredictor, write_shards


def _digests(out: Path) -> dict[str, str]:
    return {
        name: hashlib.sha256(path.read_bytes()).hexdigest()
        for name, path in parquet_paths(out).items()
    }


def _as_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """Attribute values as plain Python objects, NULL as None."""
    values = frame.astype(object)
    return values.where(values.notna(), None).reset_index(drop=True)


def _assert_same_as_gpkg(out: Path) -> None:
    paths = parquet_paths(out)
    for name, (columns, geometry) in LAYERS.items():
        want = pyogrio.read_dataframe(out, layer=name, read_geometry=bool(geometry))
        want = want.sort_values('scene_id', kind='stable').reset_index(drop=True)
        got = (
            gpd.read_parquet(paths[name]) if geometry else pd.read_parquet(paths[name])
        )
        names = [c.name for c in columns]
        assert list(got.columns) == names + (['geometry'] if geometry else [])
        assert len(got) == len(want)
        assert _as_objects(got[names]).equals(_as_objects(want[names]))
        if geometry:
            assert got.crs == want.crs
            assert list(got.geometry.to_wkb()) == list(want.geometry.to_wkb())


@pytest.mark.parametrize('crs', ['EPSG:3413', 'EPSG:32608'])
def test_parquet_equals_geopackage(
    tmp_path: Path, synthetic_scenes: list[Path], crs: str
) -> None:
    out = tmp_path / 'c.gpkg'
    predictor = FakePredictor(fail_on=('scene_002',))
    summary = run_campaign(synthetic_scenes, predictor, out, crs=crs, fmt='parquet')
    assert (summary.done, summary.failed) == (2, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'c.coverage.parquet',
        'c.gpkg',
        'c.runs.parquet',
        'c.slumps.parquet',
    ]
    _assert_same_as_gpkg(out)
    slumps = gpd.read_parquet(tmp_path / 'c.slumps.parquet')
    assert slumps.crs == crs and len(slumps) == summary.polygons > 0
    geo = json.loads(pq.read_schema(tmp_path / 'c.slumps.parquet').metadata[b'geo'])
    assert geo['primary_column'] == 'geometry'
    assert geo['columns']['geometry']['encoding'] == 'WKB'
    runs = pd.read_parquet(tmp_path / 'c.runs.parquet')
    failed = runs[runs.status == 'failed']
    assert list(failed.scene_id) == ['scene_002']
    assert str(failed.message.iloc[0]).startswith('RuntimeError: model failed')
    # NULL stays NULL in an integer column (not a float NaN), 0 stays 0.
    assert pd.isna(failed.tiles.iloc[0]) and failed.polygons.iloc[0] == 0
    assert runs.tiles.dtype == 'Int64' and runs.valid_area_m2.dtype == 'float64'
    assert runs.message.isna().sum() == 2 and runs.worker.dtype == 'string'


def test_resume_gives_identical_files(
    tmp_path: Path, synthetic_scenes: list[Path]
) -> None:
    out = tmp_path / 'c.gpkg'
    summary = run_campaign(
        synthetic_scenes, FakePredictor(interrupt_on=('scene_001',)), out, fmt='parquet'
    )
    # An interrupted run leaves the GeoPackage resumable and exports nothing.
    assert summary.interrupted and not any(
        p.exists() for p in parquet_paths(out).values()
    )
    run_campaign(synthetic_scenes, FakePredictor(), out, fmt='parquet')
    first = _digests(out)
    again = FakePredictor()
    summary = run_campaign(synthetic_scenes, again, out, fmt='parquet')
    assert again.calls == [] and summary.resumed == 3
    assert _digests(out) == first
    # The resumed campaign's files equal an uninterrupted run's (timings aside).
    clean = tmp_path / 'clean' / 'c.gpkg'
    run_campaign(synthetic_scenes, FakePredictor(), clean, fmt='parquet')
    digests = _digests(clean)
    assert (digests['slumps'], digests['coverage']) == (
        first['slumps'],
        first['coverage'],
    )
    runs = [pd.read_parquet(parquet_paths(p)['runs']) for p in (out, clean)]
    assert (
        runs[0]
        .drop(columns=list(TIMING_COLUMNS))
        .equals(runs[1].drop(columns=list(TIMING_COLUMNS)))
    )


def test_failed_export_keeps_previous_files(
    tmp_path: Path, synthetic_scenes: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / 'c.gpkg'
    run_campaign(synthetic_scenes[:2], FakePredictor(), out, fmt='parquet')
    before = _digests(out)
    run_campaign(synthetic_scenes, FakePredictor(), out)  # GeoPackage only
    original = pd.DataFrame.to_parquet

    def to_parquet(self: pd.DataFrame, path: Path, **kwargs: object) -> None:
        if '.runs.' in str(path):
            Path(path).write_bytes(b'PAR1 half')
            raise OSError(28, 'No space left on device')
        original(self, path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pd.DataFrame, 'to_parquet', to_parquet)
    with pytest.raises(OutputError, match='No space left'):
        export_parquet(out)
    # Nothing was swapped in: the three files are the previous, consistent set.
    assert _digests(out) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith('.')) == []
    monkeypatch.undo()
    export_parquet(out)
    assert len(pd.read_parquet(parquet_paths(out)['runs'])) == 3
    _assert_same_as_gpkg(out)


def test_bad_format_refused_before_mapping(
    tmp_path: Path, synthetic_scenes: list[Path]
) -> None:
    predictor = FakePredictor()
    with pytest.raises(ConfigError, match="format 'csv' is not supported"):
        run_campaign(synthetic_scenes, predictor, tmp_path / 'c.gpkg', fmt='csv')
    with pytest.raises(ConfigError, match=r'name it \.gpkg'):
        run_campaign(synthetic_scenes, predictor, tmp_path / 'c.parquet', fmt='parquet')
    assert predictor.calls == [] and list(tmp_path.iterdir()) == []
    with pytest.raises(OutputError, match='does not exist'):
        export_parquet(tmp_path / 'none.gpkg')


def test_merge_exports_like_one_process(
    tmp_path: Path, synthetic_scenes: list[Path]
) -> None:
    shards = write_shards(tmp_path, synthetic_scenes)
    merged = tmp_path / 'merged.gpkg'
    merge_campaigns(shards, merged, fmt='parquet')
    _assert_same_as_gpkg(merged)
    single = tmp_path / 'single.gpkg'
    run_campaign(synthetic_scenes, FakePredictor(), single, fmt='parquet')
    got, want = _digests(merged), _digests(single)
    assert (got['slumps'], got['coverage']) == (want['slumps'], want['coverage'])
