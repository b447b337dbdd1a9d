"""One fold laid out for training: ``train/``, ``val/`` and ``test/`` folders.

The test chips are the fold, the validation chips another fold (by default
the next one), the training chips the rest; :func:`link_fold` writes this as
folders of links in the layout :class:`~rtsgeo.datamodules.RTSDataModule`
reads, so a fold trains and tests like any chip folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import ConfigError, OutputError
from .folds import _require

__all__ = ['fold_roles', 'link_fold']


def fold_roles(
    chips: gpd.GeoDataFrame, fold: int, val_fold: int | None = None
) -> pd.Series:
    """The role of each chip when *fold* is held out.

    Args:
        chips: a table with a ``fold`` column.
        fold: the test fold.
        val_fold: the validation fold; default the next fold (cyclically).

    Returns:
        ``'test'``, ``'val'`` or ``'train'`` per chip, indexed as *chips*.

    Raises:
        ConfigError: If there are fewer than three folds, or a fold is not in
            the table or is given as both test and val.
    """
    _require(chips, ('fold',))
    folds = sorted(int(f) for f in chips['fold'].unique())
    if len(folds) < 3:
        msg = f'{len(folds)} folds: test, val and train need three or more'
        raise ConfigError(msg)
    if val_fold is None and fold in folds:
        val_fold = folds[(folds.index(fold) + 1) % len(folds)]
    for name, value in (('fold', fold), ('val_fold', val_fold)):
        if value not in folds:
            msg = f'{name}={value} is not a fold: give one of {folds}'
            raise ConfigError(msg)
    if val_fold == fold:
        msg = f'val_fold={val_fold} is the test fold: give another fold'
        raise ConfigError(msg)
    roles = np.where(
        chips['fold'] == fold,
        'test',
        np.where(chips['fold'] == val_fold, 'val', 'train'),
    )
    return pd.Series(roles, index=chips.index, name='role')


def link_fold(
    chips: gpd.GeoDataFrame,
    fold: int,
    out: str | Path,
    val_fold: int | None = None,
) -> Path:
    """Lay out one fold as ``train/``, ``val/`` and ``test/`` folders of links.

    Each chip's image is linked as ``<out>/<role>/image/<chip>`` (the chip
    name with ``/`` replaced by ``_``, so equal file names of different
    splits stay apart), its mask under ``mask/``, and the file of the same
    name in every other folder beside the chip's ``image/`` folder (``slope/``)
    under a folder of that name. ``RTSDataModule(root=out)`` and
    :func:`~rtsgeo.trainers.train_steps` read the result.

    Args:
        chips: a table with ``fold``, ``chip``, ``path`` and ``mask`` columns.
        fold: the test fold.
        out: a new or empty folder.
        val_fold: the validation fold; default the next fold (cyclically).

    Returns:
        *out*.

    Raises:
        ConfigError: See :func:`fold_roles`.
        OutputError: If *out* is not empty or a link cannot be made.
    """
    _require(chips, ('fold', 'chip', 'path', 'mask'))
    roles = fold_roles(chips, fold, val_fold)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        msg = f'{out} exists and is not an empty folder: remove it or give another'
        raise OutputError(msg)
    try:
        for role, (_, row) in zip(roles, chips.iterrows(), strict=True):
            name = row['chip'].replace('/', '_') + Path(row['path']).suffix
            for modality, source in _sources(Path(row['path']), row['mask']):
                folder = out / role / modality
                folder.mkdir(parents=True, exist_ok=True)
                os.symlink(source.absolute(), folder / name)
    except OSError as error:
        msg = f'cannot lay out fold {fold} in {out} ({error}): check the folder'
        raise OutputError(msg) from error
    return out


def _sources(image: Path, mask: str) -> list[tuple[str, Path]]:
    """``(folder, file)`` of a chip's image, mask and other modalities."""
    sources = [('image', image)]
    if mask:
        sources.append(('mask', Path(mask)))
    # Other modalities: the same relative path under the folders beside image/.
    root = next((p for p in image.parents if p.name == 'image'), None)
    if root is not None:
        relative = image.relative_to(root)
        for folder in sorted(root.parent.iterdir()):
            other = folder / relative
            if folder.name not in ('image', 'mask') and other.is_file():
                sources.append((folder.name, other))
    return sources
