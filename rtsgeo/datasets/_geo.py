"""The index and query conventions rtsgeo's GeoDatasets share with TorchGeo.

rtsgeo's datasets subclass :class:`~torchgeo.datasets.GeoDataset` and build
their own index, in the layout every TorchGeo dataset, sampler and
:class:`~torchgeo.datasets.IntersectionDataset` reads: a GeoDataFrame of
footprints in the dataset CRS with a ``filepath`` column and a closed
``datetime`` IntervalIndex. rtsgeo's data carries no time, so every row spans
all time.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from pyproj import CRS
from torchgeo.datasets.utils import GeoSlice

__all__ = [
    'all_time',
    'footprint_index',
    'resolve_query',
    'rows_in_window',
    'window_transform',
]


def all_time() -> pd.Interval:
    """The time interval of data without dates: every timestamp pandas knows."""
    return pd.Interval(pd.Timestamp.min, pd.Timestamp.max, closed='both')


def footprint_index(
    filepaths: Sequence[str], footprints: Sequence[shapely.Geometry], crs: CRS
) -> gpd.GeoDataFrame:
    """A TorchGeo-layout index of files and their footprints, over all time.

    Args:
        filepaths: one file per row.
        footprints: the area each file covers, in *crs*.
        crs: CRS of the footprints.

    Returns:
        The index.
    """
    span = all_time()
    times = pd.IntervalIndex.from_tuples(
        [(span.left, span.right)] * len(filepaths), closed='both', name='datetime'
    )
    return gpd.GeoDataFrame(
        {'filepath': list(filepaths)}, index=times, geometry=list(footprints), crs=crs
    )


def resolve_query(
    query: GeoSlice, bounds: tuple[slice, slice, slice]
) -> tuple[slice, slice, slice]:
    """Fill the parts a query leaves out (``ds[x0:x1, y0:y1]``) from *bounds*.

    Args:
        query: ``[xmin:xmax:xres, ymin:ymax:yres, tmin:tmax:tres]``, any part
            of which may be missing or None.
        bounds: the dataset's bounds, as :attr:`GeoDataset.bounds` gives them.

    Returns:
        The full ``(x, y, t)`` slices.
    """
    parts = (query,) if isinstance(query, slice) else tuple(query)
    resolved = list(bounds)
    for axis, part in enumerate(parts):
        full = resolved[axis]
        resolved[axis] = slice(
            full.start if part.start is None else part.start,
            full.stop if part.stop is None else part.stop,
            full.step if part.step is None else part.step,
        )
    x, y, t = resolved
    return x, y, t


def rows_in_window(
    index: gpd.GeoDataFrame, x: slice, y: slice, t: slice
) -> gpd.GeoDataFrame:
    """Rows of *index* whose footprint and time span meet a window, in order."""
    window = shapely.box(x.start, y.start, x.stop, y.stop)
    hits = index.iloc[np.sort(index.sindex.query(window, predicate='intersects'))]
    return hits[hits.index.overlaps(pd.Interval(t.start, t.stop))]


def window_transform(x: slice, y: slice, width: int, height: int) -> Affine:
    """The affine transform of a ``width`` x ``height`` pixel grid over a window.

    rasterio.transform.from_bounds, without its Affine ``*`` deprecation.
    """
    return Affine(
        (x.stop - x.start) / width,
        0.0,
        x.start,
        0.0,
        (y.start - y.stop) / height,
        y.stop,
    )
