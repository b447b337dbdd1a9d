"""Chip tables, sites and spatially blocked folds, on tiny chips and on lubka1."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from rtsgeo.errors import (
    ConfigError,
    CorruptRasterError,
    DataNotFoundError,
    InvalidImageryError,
    OutputError,
)
from rtsgeo.evaluation import (
    CHIP_SUFFIXES,
    assign_sites,
    fold_roles,
    fold_summary,
    link_fold,
    read_chips,
    site_folds,
    zone_folds,
    zone_label,
)
from tests.evaluation._chips import SITES, SLUMPS, write_chips


@pytest.fixture(scope='module')
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_chips(tmp_path_factory.mktemp('chips'))


@pytest.fixture(scope='module')
def sites(root: Path) -> gpd.GeoDataFrame:
    return assign_sites(read_chips(root))


def by_chip(table: gpd.GeoDataFrame, column: str) -> dict[str, object]:
    return dict(zip(table['chip'], table[column], strict=True))


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


def test_chip_table(root: Path) -> None:
    chips = read_chips(root)
    assert list(chips['chip']) == sorted(SITES)
    assert by_chip(chips, 'slumps') == SLUMPS
    assert by_chip(chips, 'split')['val/f'] == 'val'
    zones = by_chip(chips, 'zone')
    assert (zones['train/a'], zones['val/f'], zones['test/g'], zones['train/h']) == (
        'UTM 8N',
        'UTM 9N',
        'UTM 1N',
        'UTM 60N',
    )
    assert by_chip(chips, 'chip_crs')['val/f'] == 'EPSG:32609'
    masks = by_chip(chips, 'mask')
    assert masks['train/c'] == ''
    assert masks['train/b'] == str(root / 'train' / 'mask' / 'b.tif')
    assert by_chip(chips, 'path')['test/a'] == str(root / 'test' / 'image' / 'a.tif')
    assert chips.crs == 'EPSG:4326'
    assert chips['footprint'].iloc[0].area == pytest.approx(160.0**2)
    # The outline in degrees has the chip's area on the ground.
    area = chips.set_index('chip').geometry.to_crs('EPSG:32608')['train/a'].area
    assert area == pytest.approx(160.0**2, rel=1e-6)


def test_outline_across_the_antimeridian_stays_small(root: Path) -> None:
    chips = read_chips(root).set_index('chip')
    for chip in ('test/g', 'train/h'):
        west, _, east, _ = chips.geometry[chip].bounds
        assert west < 180 < east
        assert east - west < 0.01


def test_connectivity(root: Path) -> None:
    from rtsgeo.datasets import instances_from_mask

    four = by_chip(read_chips(root, connectivity=4), 'slumps')
    assert four == {**SLUMPS, 'train/a': 3}
    # The default counts what the training datasets make instances of.
    with rasterio.open(root / 'train' / 'mask' / 'a.tif') as src:
        mask = src.read(1)
    assert len(instances_from_mask(mask)['label']) == SLUMPS['train/a']


def test_suffixes_are_those_the_datasets_read() -> None:
    from rtsgeo.datasets._files import RASTER_SUFFIXES

    assert CHIP_SUFFIXES == RASTER_SUFFIXES


def test_zone_label() -> None:
    assert zone_label('EPSG:32608') == 'UTM 8N'
    assert zone_label('EPSG:32758') == 'UTM 58S'
    assert zone_label('EPSG:3413') == 'EPSG:3413'


def test_sites(sites: gpd.GeoDataFrame) -> None:
    assert by_chip(sites, 'site') == SITES


def test_min_overlap_is_in_pixels(root: Path) -> None:
    chips = read_chips(root)
    # a2 shares 8 x 16 = 128 pixels with a.
    assert by_chip(assign_sites(chips, min_overlap=127.9), 'site')['val/a2'] == 0
    apart = by_chip(assign_sites(chips, min_overlap=128.1), 'site')
    assert apart['val/a2'] not in (apart['train/a'], apart['test/a'])
    # c and d share 1e-6 m x 160 m: float noise by default, a link below it.
    linked = by_chip(assign_sites(chips, min_overlap=1e-9), 'site')
    assert linked['train/c'] == linked['train/d'] != linked['train/b']
    with pytest.raises(ConfigError, match='min_overlap=0: give a positive area'):
        assign_sites(chips, min_overlap=0)


def test_site_folds_balance_slumps(sites: gpd.GeoDataFrame) -> None:
    folds = site_folds(sites, k=3)
    # Greedy: i (5) -> 0, g+h (4) -> 1, b (4) -> 2, a (3) -> 2, e+f (3) -> 1,
    # d (1) -> 0, c (0) -> 0.
    site_fold = folds.groupby('site')['fold'].agg(set).to_dict()
    assert site_fold == {6: {0}, 1: {1}, 2: {2}, 0: {2}, 5: {1}, 4: {0}, 3: {0}}
    summary = fold_summary(folds)
    assert summary['slumps'].tolist() == [6, 7, 7]
    assert summary['chips'].tolist() == [3, 4, 4]
    assert summary['sites'].tolist() == [3, 2, 2]
    assert_blocked(folds)
    assert site_folds(sites, k=3).equals(folds)


def test_seed_orders_tied_sites_only() -> None:
    table = gpd.GeoDataFrame({'site': range(6), 'slumps': [2] * 6, 'zone': 'UTM 8N'})
    draws = [tuple(site_folds(table, k=3, seed=seed)['fold']) for seed in range(8)]
    assert len(set(draws)) > 1
    for draw in draws:
        assert sorted(np.bincount(draw)) == [2, 2, 2]
    assert draws[3] == tuple(site_folds(table, k=3, seed=3)['fold'])


def test_site_folds_errors(sites: gpd.GeoDataFrame, root: Path) -> None:
    with pytest.raises(ConfigError, match='k=8 folds of 7 sites: give k from 2 to 7'):
        site_folds(sites, k=8)
    with pytest.raises(ConfigError, match='k=1 folds'):
        site_folds(sites, k=1)
    with pytest.raises(ConfigError, match='lacks site: make it with assign_sites'):
        site_folds(read_chips(root))


def test_zone_folds(sites: gpd.GeoDataFrame) -> None:
    folds = zone_folds(sites)
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
    one_zone = sites[sites['zone'] == 'UTM 8N']
    with pytest.raises(ConfigError, match='leave-one-zone-out needs two or more'):
        zone_folds(one_zone)


def test_fold_roles(sites: gpd.GeoDataFrame) -> None:
    folds = site_folds(sites, k=3)
    roles = fold_roles(folds, 2)
    assert (roles[folds['fold'] == 2] == 'test').all()
    assert (roles[folds['fold'] == 0] == 'val').all()  # the next fold, cyclically
    assert (roles[folds['fold'] == 1] == 'train').all()
    assert (fold_roles(folds, 2, val_fold=1)[folds['fold'] == 1] == 'val').all()
    with pytest.raises(ConfigError, match='fold=3 is not a fold'):
        fold_roles(folds, 3)
    with pytest.raises(ConfigError, match='val_fold=2 is the test fold'):
        fold_roles(folds, 2, val_fold=2)
    with pytest.raises(ConfigError, match='2 folds: test, val and train need three'):
        fold_roles(site_folds(sites, k=2), 0)


def test_link_fold(sites: gpd.GeoDataFrame, tmp_path: Path, root: Path) -> None:
    folds = site_folds(sites, k=3)
    out = link_fold(folds, 2, tmp_path / 'fold2')
    linked = {
        path.relative_to(out).as_posix(): os.readlink(path)
        for path in out.rglob('*.tif')
    }
    # Fold 2 (a, a2, b) tests, fold 0 (c, d, i) validates, fold 1 trains.
    assert linked['test/image/test_a.tif'] == str(root / 'test/image/a.tif')
    assert linked['test/image/train_a.tif'] == str(root / 'train/image/a.tif')
    assert linked['test/mask/train_a.tif'] == str(root / 'train/mask/a.tif')
    assert linked['test/slope/train_a.tif'] == str(root / 'train/slope/a.tif')
    assert 'test/slope/val_a2.tif' not in linked
    assert 'val/mask/train_c.tif' not in linked  # c has no mask
    images = {
        role: sorted(p.split('/')[-1] for p in linked if p.startswith(f'{role}/image'))
        for role in ('train', 'val', 'test')
    }
    assert images == {
        'train': ['test_g.tif', 'train_e.tif', 'train_h.tif', 'val_f.tif'],
        'val': ['train_c.tif', 'train_d.tif', 'train_i.tif'],
        'test': ['test_a.tif', 'train_a.tif', 'train_b.tif', 'val_a2.tif'],
    }
    with pytest.raises(OutputError, match='fold2 exists and is not an empty folder'):
        link_fold(folds, 1, out)


def test_user_chips(root: Path, tmp_path: Path) -> None:
    files = [root / 'train' / 'image' / 'b.tif', root / 'val' / 'image' / 'f.tif']
    chips = read_chips(files)
    # Masks from the mask/ folder beside the image folder.
    assert by_chip(chips, 'slumps') == {'b': 4, 'f': 1}
    assert set(chips['split']) == {''}
    plain = tmp_path / 'plain'
    plain.mkdir()
    for path in files:
        (plain / path.name).write_bytes(path.read_bytes())
    # No mask/ beside plain/: no slumps; a folder and a file in it: one chip each.
    again = read_chips([plain, plain / 'b.tif'])
    assert by_chip(again, 'slumps') == {'b': 0, 'f': 0}
    assert by_chip(read_chips(root / 'val'), 'slumps') == {'a2': 0, 'f': 1}


def test_read_errors(root: Path, tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match='nowhere does not exist'):
        read_chips(tmp_path / 'nowhere')
    with pytest.raises(DataNotFoundError, match='no chip found in'):
        read_chips(tmp_path)
    same = [root / 'train' / 'image' / 'a.tif', root / 'test' / 'image' / 'a.tif']
    with pytest.raises(ConfigError, match="are both chip 'a': rename one"):
        read_chips(same)
    with pytest.raises(ConfigError, match='connectivity=6 is not supported'):
        read_chips(root, connectivity=6)
    bare = tmp_path / 'bare.tif'
    with rasterio.open(
        bare, 'w', driver='GTiff', width=4, height=4, count=1, dtype='uint8',
        transform=from_origin(0, 4, 1, 1),
    ) as dst:  # fmt: skip
        dst.write(np.zeros((1, 4, 4), np.uint8))
    with pytest.raises(InvalidImageryError, match=r'bare\.tif has no CRS'):
        read_chips(bare)
    broken = tmp_path / 'broken.tif'
    broken.write_bytes(b'not a tiff')
    with pytest.raises(CorruptRasterError, match=r'broken\.tif cannot be read'):
        read_chips(broken)


@pytest.fixture(scope='module')
def lubka_root(data_dir: Path) -> Path:
    root = data_dir / 's2-rts-lubka1'
    if not root.is_dir():
        pytest.skip(f'{root} is absent')
    return root


@pytest.fixture(scope='module')
def lubka(lubka_root: Path) -> gpd.GeoDataFrame:
    return assign_sites(read_chips(lubka_root))


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


@pytest.mark.data
def test_lubka_four_connected(lubka_root: Path) -> None:
    chips = read_chips(lubka_root, connectivity=4)
    assert chips.groupby('split')['slumps'].sum().to_dict() == {
        'train': 459,
        'val': 42,
        'test': 46,
    }
