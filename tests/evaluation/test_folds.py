"""Sites and spatially blocked folds, on tiny chips and on lubka1."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

from rtsgeo.errors import ConfigError
from rtsgeo.evaluation import (
    assign_sites,
    fold_summary,
    read_chips,
    site_folds,
    zone_folds,
)
from tests.evaluation._chips import SITES, by_chip


def assert_blocked(table: gpd.GeoDataFrame) -> None:
    """No two chips of different folds share a pixel of ground.

    Checked apart from the implementation: candidate pairs by a spatial join
    of the EPSG:4326 outlines, shared area by geopandas in the first chip's CRS.
    """
    assert table['chip'].is_unique
    assert table['fold'].notna().all()
    left, right = table.sindex.query(table.geometry, predicate='intersects')
    for i, j in zip(left, right, strict=True):
        a, b = table.iloc[i], table.iloc[j]
        if i >= j or a['fold'] == b['fold']:
            continue
        pair = gpd.GeoSeries([a.geometry, b.geometry], crs='EPSG:4326')
        local = pair.to_crs(a['chip_crs'])
        shared = local.iloc[0].intersection(local.iloc[1]).area
        pixel = local.iloc[0].area / (a['width'] * a['height'])
        assert shared < pixel, (a['chip'], b['chip'], shared / pixel)


def test_sites(chip_sites: gpd.GeoDataFrame) -> None:
    assert by_chip(chip_sites, 'site') == SITES


def test_min_overlap_is_in_pixels(chip_root: Path) -> None:
    chips = read_chips(chip_root)
    # a2 shares 8 x 16 = 128 pixels with a.
    assert by_chip(assign_sites(chips, min_overlap=127.9), 'site')['val/a2'] == 0
    apart = by_chip(assign_sites(chips, min_overlap=128.1), 'site')
    assert apart['val/a2'] not in (apart['train/a'], apart['test/a'])
    # c and d share 1e-6 m x 160 m: float noise by default, a link below it.
    linked = by_chip(assign_sites(chips, min_overlap=1e-9), 'site')
    assert linked['train/c'] == linked['train/d'] != linked['train/b']
    with pytest.raises(ConfigError, match='min_overlap=0: give a positive area'):
        assign_sites(chips, min_overlap=0)


def test_site_folds_balance_slumps(chip_sites: gpd.GeoDataFrame) -> None:
    folds = site_folds(chip_sites, k=3)
    # Greedy: i (5) -> 0, g+h (4) -> 1, b (4) -> 2, a (3) -> 2, e+f (3) -> 1,
    # d (1) -> 0, c (0) -> 0.
    site_fold = folds.groupby('site')['fold'].agg(set).to_dict()
    assert site_fold == {6: {0}, 1: {1}, 2: {2}, 0: {2}, 5: {1}, 4: {0}, 3: {0}}
    summary = fold_summary(folds)
    assert summary['slumps'].tolist() == [6, 7, 7]
    assert summary['chips'].tolist() == [3, 4, 4]
    assert summary['sites'].tolist() == [3, 2, 2]
    assert_blocked(folds)
    assert site_folds(chip_sites, k=3).equals(folds)


def test_seed_orders_tied_sites_only() -> None:
    table = gpd.GeoDataFrame({'site': range(6), 'slumps': [2] * 6, 'zone': 'UTM 8N'})
    draws = [tuple(site_folds(table, k=3, seed=seed)['fold']) for seed in range(8)]
    assert len(set(draws)) > 1
    for draw in draws:
        assert sorted(np.bincount(draw)) == [2, 2, 2]
    assert draws[3] == tuple(site_folds(table, k=3, seed=3)['fold'])


def test_site_folds_errors(chip_sites: gpd.GeoDataFrame, chip_root: Path) -> None:
    with pytest.raises(ConfigError, match='k=8 folds of 7 sites: give k from 2 to 7'):
        site_folds(chip_sites, k=8)
    with pytest.raises(ConfigError, match='k=1 folds'):
        site_folds(chip_sites, k=1)
    with pytest.raises(ConfigError, match='lacks site: make it with assign_sites'):
        site_folds(read_chips(chip_root))


def test_zone_folds(chip_sites: gpd.GeoDataFrame) -> None:
    folds = zone_folds(chip_sites)
    # e+f (8N and 9N) goes to 8N, g+h (1N and 60N) to 1N: the first zone of a tie.
    fold = by_chip(folds, 'fold')
    assert {chip for chip, f in fold.items() if f == 0} == {
        'test/g',
        'train/h',
        'train/i',
    }
    assert set(fold.values()) == {0, 1}
    summary = fold_summary(folds)
    assert summary['zones'].tolist() == ['UTM 1N, UTM 60N', 'UTM 8N, UTM 9N']
    assert_blocked(folds)
    one_zone = chip_sites[chip_sites['zone'] == 'UTM 8N']
    with pytest.raises(ConfigError, match='leave-one-zone-out needs two or more'):
        zone_folds(one_zone)


@pytest.mark.data
def test_lubka_sites(lubka: gpd.GeoDataFrame) -> None:
    assert len(lubka) == 203
    assert lubka['split'].value_counts().to_dict() == {
        'train': 161,
        'test': 23,
        'val': 19,
    }
    assert lubka.groupby('split')['slumps'].sum().to_dict() == {
        'train': 418,
        'val': 37,
        'test': 42,
    }
    assert lubka['site'].nunique() == 58
    assert lubka['zone'].nunique() == 11
    sizes = lubka.groupby('site').agg(
        chips=('chip', 'size'), slumps=('slumps', 'sum'), zones=('zone', 'nunique')
    )
    largest = sizes.sort_values('chips', ascending=False).iloc[:2]
    assert largest['chips'].tolist() == [33, 31]
    assert largest['slumps'].tolist() == [118, 130]  # 8-connected
    assert (sizes['zones'] == 1).all()  # no site spans two UTM zones
    site = by_chip(lubka, 'site')
    assert site['test/20180706T222019_w_4'] == site['train/20180823T222022_w_4']


@pytest.mark.data
def test_lubka_site_folds(lubka: gpd.GeoDataFrame) -> None:
    folds = site_folds(lubka)
    assert folds['fold'].value_counts().sort_index().tolist() == [31, 33, 49, 44, 46]
    assert fold_summary(folds)['slumps'].tolist() == [130, 118, 83, 83, 83]
    assert (folds.groupby('site')['fold'].nunique() == 1).all()
    assert_blocked(folds)


@pytest.mark.data
def test_lubka_zone_folds(lubka: gpd.GeoDataFrame) -> None:
    folds = zone_folds(lubka)
    assert folds['fold'].nunique() == 11
    assert (folds.groupby('fold')['zone'].nunique() == 1).all()
    assert_blocked(folds)
