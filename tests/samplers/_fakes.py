"""A GeoDataset of bare footprints: what the samplers read of a dataset."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from torchgeo.datasets import GeoDataset

UTM = 'EPSG:32608'
RES = 10.0
X0, Y0 = 500000.0, 7600000.0


def pixels(col0: float, row0: float, col1: float, row1: float) -> shapely.Polygon:
    """Box in pixel units of the 10 m test grid (rows going north)."""
    return shapely.box(
        X0 + col0 * RES, Y0 + row0 * RES, X0 + col1 * RES, Y0 + row1 * RES
    )


class Footprints(GeoDataset):
    """Scenes that are only footprints; indexing one is an error."""

    def __init__(self, footprints: list[shapely.Polygon], res: float = RES) -> None:
        span = (pd.Timestamp.min, pd.Timestamp.max)
        times = pd.IntervalIndex.from_tuples(
            [span] * len(footprints), closed='both', name='datetime'
        )
        self.index = gpd.GeoDataFrame(
            {'filepath': [f'scene{i}.tif' for i in range(len(footprints))]},
            index=times,
            geometry=footprints,
            crs=UTM,
        )
        self._pixel = (res, res)

    @property
    def res(self) -> tuple[float, float]:
        return self._pixel

    @res.setter
    def res(self, new: Any) -> None:
        self._pixel = new

    def __getitem__(self, query: Any) -> dict[str, Any]:
        raise NotImplementedError('samplers must not read the data')
