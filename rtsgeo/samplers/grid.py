"""Windows on a regular grid over each scene, for evaluation."""

from __future__ import annotations

import math
from collections.abc import Iterator

from shapely import Polygon
from torch.utils.data import Sampler
from torchgeo.datasets import GeoDataset
from torchgeo.datasets.utils import GeoSlice

from .areas import sampling_areas

__all__ = ['SceneGridGeoSampler']


class SceneGridGeoSampler(Sampler[GeoSlice]):
    """Windows on a grid over each scene (index row) inside a region of interest.

    As TorchGeo's ``GridGeoSampler``: each index row, clipped to ``roi``, is
    covered from its lower-left corner by windows ``stride`` apart, the last
    row and column reaching past the scene's edge when the scene is not a
    whole number of strides; parts smaller than a window are skipped. Windows
    follow the scene's pixel grid.
    """

    def __init__(
        self,
        dataset: GeoDataset,
        size: int,
        stride: int | None = None,
        roi: Polygon | None = None,
    ) -> None:
        """Initialise a new SceneGridGeoSampler.

        Args:
            dataset: dataset to sample from.
            size: window size in pixels.
            stride: pixels between window starts (default: ``size``).
            roi: region to sample from (defaults to the dataset's extent).

        Raises:
            ValueError: If ``size`` or ``stride`` is not positive.
        """
        stride = size if stride is None else stride
        if size <= 0 or stride <= 0:
            msg = f'size and stride must be positive, got {size} and {stride}'
            raise ValueError(msg)
        res = dataset.res
        self.size = (size * res[1], size * res[0])
        self.stride = (stride * res[1], stride * res[0])
        self.res = res
        self.areas = sampling_areas(dataset, self.size, roi)

    def _starts(self, low: float, high: float, origin: float, axis: int) -> list[float]:
        res, size, stride = self.res[axis], self.size[1 - axis], self.stride[1 - axis]
        first = origin + math.ceil((low - origin) / res - 1e-9) * res
        count = max(1, math.ceil((high - first - size) / stride - 1e-9) + 1)
        return [first + i * stride for i in range(count)]

    def __iter__(self) -> Iterator[tuple[slice, slice, slice]]:
        """Windows ``(x, y, t)``, scene by scene, row by row."""
        height, width = self.size
        for area in self.areas:
            left, bottom, right, top = area.bounds
            xs = self._starts(left, right, area.origin[0], 0)
            t = slice(area.interval.left, area.interval.right)
            for y in self._starts(bottom, top, area.origin[1], 1):
                for x in xs:
                    yield slice(x, x + width), slice(y, y + height), t

    def __len__(self) -> int:
        """Number of windows."""
        return sum(
            len(self._starts(a.bounds[0], a.bounds[2], a.origin[0], 0))
            * len(self._starts(a.bounds[1], a.bounds[3], a.origin[1], 1))
            for a in self.areas
        )
