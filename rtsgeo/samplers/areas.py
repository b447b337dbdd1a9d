"""The parts of a dataset that samplers draw windows from."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from shapely import Polygon
from torchgeo.datasets import GeoDataset

__all__ = ['SamplingArea', 'sampling_areas']


@dataclass(frozen=True)
class SamplingArea:
    """A part of a dataset's index that windows are drawn from.

    Attributes:
        bounds: ``(minx, miny, maxx, maxy)`` of the index row (clipped to the
            region of interest).
        origin: ``(x, y)`` of the row's own corner, which windows align to so
            that they fall on the scene's pixel grid.
        interval: the row's time span.
    """

    bounds: tuple[float, float, float, float]
    origin: tuple[float, float]
    interval: pd.Interval


def sampling_areas(
    dataset: GeoDataset, size: tuple[float, float], roi: Polygon | None = None
) -> list[SamplingArea]:
    """The index rows (inside *roi*) at least as large as a window.

    TorchGeo's random and grid samplers keep the same rows.

    Args:
        dataset: dataset to sample from.
        size: window ``(height, width)`` in CRS units.
        roi: region of interest (default: everywhere).

    Returns:
        One area per kept row, in index order.
    """
    areas = []
    for geometry, interval in zip(
        dataset.index.geometry, dataset.index.index, strict=True
    ):
        minx, miny = geometry.bounds[:2]
        part = geometry if roi is None else geometry.intersection(roi)
        if part.is_empty:
            continue
        bounds = part.bounds
        if bounds[2] - bounds[0] >= size[1] and bounds[3] - bounds[1] >= size[0]:
            areas.append(SamplingArea(bounds, (minx, miny), interval))
    return areas
