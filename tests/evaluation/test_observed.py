"""Scene-level evaluation on observed ground only: the unobserved area is left out."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from rtsgeo.evaluation import evaluate_files, evaluate_polygons, remove_unobserved

from .test_files import ORIGIN, figures, scene


def _cloud() -> shapely.Polygon:
    """A cloud over the first row of the scene's slumps (the six at y = ORIGIN)."""
    x, y = ORIGIN
    return shapely.box(x - 200, y - 200, x + 2200, y + 200)


def _with_false_positive_under_cloud(pred: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    x, y = ORIGIN
    extra = gpd.GeoDataFrame(
        {'score': [0.99], 'region': ['a']},
        geometry=[shapely.Point(x + 200, y).buffer(30)],
        crs=pred.crs,
    )
    return pd.concat([pred, extra], ignore_index=True)


def test_neither_predictions_nor_truth_under_the_cloud_count() -> None:
    pred, truth = scene()
    pred = _with_false_positive_under_cloud(pred)
    under = truth.intersects(_cloud())
    assert under.sum() == 6 and not truth[~under].intersects(_cloud()).any()
    got = evaluate_polygons(pred, truth, unobserved=_cloud())
    # The same as if the cloud's slumps and detections had never been there.
    clear_pred = pred[~pred.intersects(_cloud())]
    want = evaluate_polygons(clear_pred, truth[~under])
    assert figures(got) == pytest.approx(figures(want))
    assert (got.n_truth, got.n_pred) == (24, len(clear_pred))
    # Without it, the detection under the cloud is a false positive and the
    # cloud's slumps count as found or missed.
    everything = evaluate_polygons(pred, truth)
    assert everything.n_truth == 30 and everything.fp > got.fp
    assert any('unobserved area left out: 7 prediction(s)' in n for n in got.notes)


def test_a_polygon_cut_by_the_cloud_keeps_its_observed_part() -> None:
    square = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 10, 10)], crs='EPSG:3413')
    cloud = gpd.GeoSeries([shapely.box(5, -5, 20, 20)], crs='EPSG:3413')
    cut, dropped = remove_unobserved(square, cloud.to_crs('EPSG:4326'))
    assert dropped == 0
    assert cut.geometry.iloc[0].area == pytest.approx(50.0, rel=1e-3)
    inside, dropped = remove_unobserved(
        gpd.GeoDataFrame(geometry=[shapely.box(6, 0, 9, 3)], crs='EPSG:3413'), cloud
    )
    assert dropped == 1 and len(inside) == 0


def test_evaluate_files_reads_the_unobserved_polygons(tmp_path: Path) -> None:
    pred, truth = scene()
    pred = _with_false_positive_under_cloud(pred)
    pred.to_file(tmp_path / 'pred.gpkg', layer='slumps')
    truth.to_file(tmp_path / 'truth.gpkg')
    clouds = gpd.GeoDataFrame(geometry=[_cloud()], crs='EPSG:3413')
    clouds.to_crs('EPSG:4326').to_file(tmp_path / 'clouds.geojson')
    got = evaluate_files(
        tmp_path / 'pred.gpkg',
        tmp_path / 'truth.gpkg',
        unobserved=tmp_path / 'clouds.geojson',
    )
    want = evaluate_polygons(pred, truth, unobserved=_cloud())
    assert figures(got) == pytest.approx(figures(want))
    assert got.n_truth == 24


def test_false_positives_per_area_count_observed_ground_only() -> None:
    pred, truth = scene()
    pred = _with_false_positive_under_cloud(pred)
    x, y = ORIGIN
    ground = gpd.GeoDataFrame(
        geometry=[shapely.box(x - 1000, y - 1000, x + 3000, y + 2600)], crs=pred.crs
    )
    plain = evaluate_polygons(pred, truth, area=ground)
    got = evaluate_polygons(pred, truth, area=ground, unobserved=_cloud())
    # Areas are measured equal-area (EPSG:3413 is not): compare shares.
    assert got.area_km2 / plain.area_km2 == pytest.approx(
        1 - 2.4 * 0.4 / 14.4, rel=1e-3
    )
    # The detection under the cloud touches no slump: an isolated false
    # positive without the cloud, nothing with it.
    assert got.n_isolated == plain.n_isolated - 1


def _observed_ground(crs: object) -> gpd.GeoDataFrame:
    """The mapped ground of the scene less the cloud: a coverage layer."""
    x, y = ORIGIN
    ground = shapely.box(x - 1000, y - 1000, x + 3000, y + 2600)
    return gpd.GeoDataFrame(geometry=[ground.difference(_cloud())], crs=crs)


def test_observed_ground_gives_what_the_unobserved_area_gives() -> None:
    pred, truth = scene()
    pred = _with_false_positive_under_cloud(pred)
    got = evaluate_polygons(pred, truth, observed=_observed_ground(pred.crs))
    want = evaluate_polygons(pred, truth, unobserved=_cloud())
    assert figures(got) == pytest.approx(figures(want))
    assert (got.n_truth, got.n_pred) == (want.n_truth, want.n_pred) == (24, 24)
    assert any('observed ground only: 7 prediction(s)' in n for n in got.notes)


def test_observed_only_uses_the_coverage_layer(tmp_path: Path) -> None:
    from rtsgeo.cli.main import main
    from rtsgeo.errors import ConfigError

    pred, truth = scene()
    pred = _with_false_positive_under_cloud(pred)
    campaign = tmp_path / 'campaign.gpkg'
    pred.to_file(campaign, layer='slumps')
    _observed_ground(pred.crs).to_file(campaign, layer='coverage')
    truth.to_file(tmp_path / 'truth.gpkg')
    got = evaluate_files(campaign, tmp_path / 'truth.gpkg', observed_only=True)
    want = evaluate_polygons(pred, truth, unobserved=_cloud())
    assert figures(got) == pytest.approx(figures(want))
    # Without a coverage layer there is no observed ground to keep.
    pred.to_file(tmp_path / 'bare.gpkg', layer='slumps')
    with pytest.raises(ConfigError, match='has no coverage layer: give --coverage'):
        evaluate_files(
            tmp_path / 'bare.gpkg', tmp_path / 'truth.gpkg', observed_only=True
        )
    argv = [
        'evaluate',
        '--pred',
        str(campaign),
        '--truth',
        str(tmp_path / 'truth.gpkg'),
    ]
    assert main([*argv, '--observed-only', '--json']) == 0
    assert main([*argv, '--observed-only', '--area-km2', '10']) == 2
