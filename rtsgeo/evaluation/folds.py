"""Spatially blocked folds: chips grouped into sites, sites split into folds.

A score on held-out chips measures "slumps on land the model never saw" only
when no held-out chip shares ground with a training chip. Chips of one place
on several dates, or cut with overlap, are therefore one **site**
(:func:`assign_sites`), and folds are made of whole sites:
:func:`site_folds` balances k folds by slump count, :func:`zone_folds` holds
out one UTM zone (a proxy for a region) at a time;
:func:`~rtsgeo.evaluation.link_fold` lays a fold out for training.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from ..errors import ConfigError
from .chips import _transformer

__all__ = [
    'assign_sites',
    'fold_summary',
    'site_folds',
    'zone_folds',
]


def assign_sites(
    chips: gpd.GeoDataFrame, *, min_overlap: float = 1.0
) -> gpd.GeoDataFrame:
    """Group chips that share ground into sites.

    Two chips are linked when their footprints overlap by at least
    *min_overlap* pixels of area; a site is a connected group of links, so
    chips of one place on any date and in any split are one site. Chips that
    only touch along an edge (neighbours of one tiling) stay apart.

    The overlap is computed in the CRS of one chip of the pair (the first by
    name): chips in the same CRS are compared exactly, a chip in another CRS
    is reprojected with 64 points an edge (far below a millimetre of error
    for chips of a few kilometres). So chips in neighbouring UTM zones are
    linked too, and no global projection is involved, whose distortion or
    seams (the antimeridian in EPSG:4326, the southern hemisphere in a polar
    projection) could create or hide overlaps. Candidate pairs come from a
    k-d tree of footprint centres on the unit sphere.

    Args:
        chips: the table of :func:`~rtsgeo.evaluation.read_chips`.
        min_overlap: smallest shared area that links two chips, in pixels of
            the chip whose CRS is used; must be positive.

    Returns:
        A copy of *chips* with an integer ``site`` column: sites are numbered
        from 0 in the order of the first chip name of each.

    Raises:
        ConfigError: If *chips* lacks a column of
            :func:`~rtsgeo.evaluation.read_chips` or *min_overlap* is not
            positive.
    """
    _require(chips, ('chip', 'chip_crs', 'width', 'height', 'footprint', 'geometry'))
    if not min_overlap > 0:
        msg = f'min_overlap={min_overlap}: give a positive area in pixels'
        raise ConfigError(msg)
    n = len(chips)
    rank = np.empty(n, dtype=int)
    rank[np.argsort(chips['chip'].to_numpy(), kind='stable')] = np.arange(n)
    links = []
    for i, j in _candidate_pairs(chips.geometry):
        first, second = (i, j) if rank[i] < rank[j] else (j, i)
        if _shared_pixels(chips, first, second) >= min_overlap:
            links.append((first, second))
    rows, cols = np.array(links, dtype=int).reshape(-1, 2).T
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    count, component = connected_components(graph, directed=False)
    # Sites are numbered in the order of the first chip name of each.
    first_rank = np.full(count, n)
    np.minimum.at(first_rank, component, rank)
    number = np.empty(count, dtype=int)
    number[np.argsort(first_rank)] = np.arange(count)
    return chips.assign(site=number[component])


def site_folds(chips: gpd.GeoDataFrame, k: int = 5, seed: int = 0) -> gpd.GeoDataFrame:
    """K folds of whole sites, balanced by slump count.

    Greedy: sites in descending order of slumps (then of chips) each go to
    the fold that has the fewest slumps so far (then the fewest chips, then
    the lowest number). *seed* only orders sites that tie on both counts, so
    other seeds give other, equally balanced folds.

    Args:
        chips: a table with a ``site`` column (see :func:`assign_sites`).
        k: number of folds, at least 2 and at most the number of sites.
        seed: seed of the order of tied sites.

    Returns:
        A copy of *chips* with an integer ``fold`` column (0 to k - 1).

    Raises:
        ConfigError: If there is no ``site`` column, or k is below 2 or above
            the number of sites.
    """
    _require(chips, ('site', 'slumps'))
    sites = chips.groupby('site').agg(
        slumps=('slumps', 'sum'), chips=('slumps', 'size')
    )
    if not 2 <= k <= len(sites):
        msg = (
            f'k={k} folds of {len(sites)} sites: give k from 2 to {len(sites)} '
            '(or fold by zones)'
        )
        raise ConfigError(msg)
    tie = np.random.default_rng(seed).permutation(len(sites))
    order = np.lexsort((tie, -sites['chips'].to_numpy(), -sites['slumps'].to_numpy()))
    totals = [(0, 0, fold) for fold in range(k)]
    fold_of: dict[Any, int] = {}
    for index in order:
        slumps, count, fold = min(totals)
        fold_of[sites.index[index]] = fold
        totals[fold] = (
            slumps + int(sites['slumps'].iloc[index]),
            count + int(sites['chips'].iloc[index]),
            fold,
        )
    return chips.assign(fold=chips['site'].map(fold_of).astype(int))


def zone_folds(chips: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Leave-one-zone-out folds: one fold per UTM zone, made of whole sites.

    A site whose chips lie in several zones goes, whole, to the zone of most
    of its chips (ties: the first zone in natural order), so no fold shares
    ground with another. Folds are numbered in natural order of their zone
    (``UTM 8N`` before ``UTM 10N``).

    Args:
        chips: a table with ``site`` and ``zone`` columns.

    Returns:
        A copy of *chips* with an integer ``fold`` column.

    Raises:
        ConfigError: If there is no ``site`` column or fewer than two zones.
    """
    _require(chips, ('site', 'zone'))
    site_zone = chips.groupby('site')['zone'].agg(_majority)
    zones = sorted(set(site_zone), key=_natural_key)
    if len(zones) < 2:
        msg = (
            f'the chips lie in {len(zones)} zone ({", ".join(zones)}): '
            'leave-one-zone-out needs two or more; fold by sites instead'
        )
        raise ConfigError(msg)
    fold_of = {zone: fold for fold, zone in enumerate(zones)}
    return chips.assign(fold=chips['site'].map(site_zone).map(fold_of).astype(int))


def fold_summary(chips: gpd.GeoDataFrame) -> pd.DataFrame:
    """Zones, sites, chips and slumps of each fold.

    Args:
        chips: a table with ``fold``, ``site``, ``zone`` and ``slumps`` columns.

    Returns:
        One row per fold (the index), with ``zones`` (comma-separated),
        ``sites``, ``chips`` and ``slumps``.
    """
    _require(chips, ('fold', 'site', 'zone', 'slumps'))
    groups = chips.groupby('fold')
    return pd.DataFrame(
        {
            'zones': groups['zone'].agg(
                lambda z: ', '.join(sorted(set(z), key=_natural_key))
            ),
            'sites': groups['site'].nunique(),
            'chips': groups.size(),
            'slumps': groups['slumps'].sum(),
        }
    )


def _candidate_pairs(geometry: gpd.GeoSeries) -> list[tuple[int, int]]:
    """Pairs of rows whose footprints may overlap (a superset)."""
    centres, radii = [], []
    for outline in geometry:
        lon, lat = np.radians(shapely.get_coordinates(outline)).T
        points = np.column_stack(
            (np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat))
        )
        centre = points.mean(axis=0)
        centre /= np.linalg.norm(centre)
        centres.append(centre)
        radii.append(float(np.max(np.linalg.norm(points - centre, axis=1))))
    if not centres:
        return []
    radius = np.array(radii) * 1.01 + 1e-9  # margin: sphere vs ellipsoid
    tree = cKDTree(np.array(centres))
    pairs = tree.query_pairs(2 * float(np.max(radius)), output_type='ndarray')
    near = np.linalg.norm(tree.data[pairs[:, 0]] - tree.data[pairs[:, 1]], axis=1) <= (
        radius[pairs[:, 0]] + radius[pairs[:, 1]]
    )
    return [(int(i), int(j)) for i, j in pairs[near]]


def _shared_pixels(chips: gpd.GeoDataFrame, a: int, b: int) -> float:
    """Area shared by chips *a* and *b*, in pixels of *a*, in *a*'s CRS."""
    first, second = chips.iloc[a], chips.iloc[b]
    footprint = second['footprint']
    if second['chip_crs'] != first['chip_crs']:
        dense = shapely.segmentize(footprint, np.sqrt(footprint.area) / 64)
        to_first = _transformer(second['chip_crs'], first['chip_crs'])
        footprint = shapely.transform(
            dense, lambda x, y: to_first.transform(x, y), interleaved=False
        )
    pixel = first['footprint'].area / (first['width'] * first['height'])
    return float(shapely.intersection(first['footprint'], footprint).area / pixel)


def _majority(zones: pd.Series) -> str:
    counts = Counter(zones)
    best = max(counts.values())
    return min((z for z, c in counts.items() if c == best), key=_natural_key)


def _natural_key(text: str) -> list[Any]:
    """Orders numbers in text by value (``UTM 8N`` before ``UTM 10N``)."""
    return [int(part) if part.isdigit() else part for part in re.split(r'(\d+)', text)]


def _require(chips: gpd.GeoDataFrame, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in chips.columns]
    if not missing:
        return
    makers = {'site': 'assign_sites', 'fold': 'site_folds or zone_folds'}
    maker = next((makers[c] for c in missing if c in makers), 'read_chips')
    msg = f'the chip table lacks {", ".join(missing)}: make it with {maker}'
    raise ConfigError(msg)
