"""Roles of the chips when a fold is held out, and the fold laid out as links."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import pytest

from rtsgeo.errors import ConfigError, OutputError
from rtsgeo.evaluation import fold_roles, link_fold, site_folds


def test_fold_roles(chip_sites: gpd.GeoDataFrame) -> None:
    folds = site_folds(chip_sites, k=3)
    roles = fold_roles(folds, 2)
    assert (roles[folds['fold'] == 2] == 'test').all()
    assert (roles[folds['fold'] == 0] == 'val').all()  # the next fold, cyclically
    assert (roles[folds['fold'] == 1] == 'train').all()
    assert (fold_roles(folds, 2, val_fold=1)[folds['fold'] == 1] == 'val').all()
    with pytest.raises(
        ConfigError, match=r'fold=3 is not a fold: give one of \[0, 1, 2\]'
    ):
        fold_roles(folds, 3)
    with pytest.raises(ConfigError, match='val_fold=2 is the test fold'):
        fold_roles(folds, 2, val_fold=2)
    with pytest.raises(ConfigError, match='2 folds: test, val and train need three'):
        fold_roles(site_folds(chip_sites, k=2), 0)


def test_link_fold(
    chip_sites: gpd.GeoDataFrame, tmp_path: Path, chip_root: Path
) -> None:
    folds = site_folds(chip_sites, k=3)
    out = link_fold(folds, 2, tmp_path / 'fold2')
    linked = {
        path.relative_to(out).as_posix(): os.readlink(path)
        for path in out.rglob('*.tif')
    }
    # Fold 2 (a, a2, b) tests, fold 0 (c, d, i) validates, fold 1 trains.
    assert linked['test/image/test_a.tif'] == str(chip_root / 'test/image/a.tif')
    assert linked['test/image/train_a.tif'] == str(chip_root / 'train/image/a.tif')
    assert linked['test/mask/train_a.tif'] == str(chip_root / 'train/mask/a.tif')
    assert linked['test/slope/train_a.tif'] == str(chip_root / 'train/slope/a.tif')
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


@pytest.mark.data
def test_link_lubka_fold(lubka: gpd.GeoDataFrame, tmp_path: Path) -> None:
    out = link_fold(site_folds(lubka), 0, tmp_path / 'fold0')
    counts = {}
    for role in ('train', 'val', 'test'):
        names = {
            folder: sorted(p.name for p in (out / role / folder).iterdir())
            for folder in ('image', 'mask', 'slope')
        }
        assert names['image'] == names['mask'] == names['slope']
        counts[role] = len(names['image'])
    # Fold 0 is the UTM 45N site (31 chips); fold 1, the UTM 8N site, validates.
    assert counts == {'train': 139, 'val': 33, 'test': 31}
    assert all(path.exists() for path in out.rglob('*.tif'))
