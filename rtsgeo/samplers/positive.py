"""Random windows that oversample slumps, which are rare in Arctic scenes."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import shapely
import torch
from shapely import Polygon
from torchgeo.datasets import GeoDataset, IntersectionDataset
from torchgeo.samplers import GeoSampler
from torchgeo.samplers.utils import get_random_bounding_box

__all__ = ['PositiveAwareGeoSampler', 'positive_boxes']


def positive_boxes(dataset: GeoDataset) -> np.ndarray:
    """Bounding boxes of every labelled object, in the dataset's CRS.

    Args:
        dataset: an image/label :class:`~torchgeo.datasets.IntersectionDataset`
            or a label dataset. Polygon labels give their polygons' bounds;
            mask labels are read once over the dataset's footprint.

    Returns:
        ``(N, 4)`` array of ``(minx, miny, maxx, maxy)``.
    """
    labels = (
        dataset.datasets[1] if isinstance(dataset, IntersectionDataset) else dataset
    )
    geometries = getattr(labels, 'geometries', None)
    if geometries is not None:
        footprint = dataset.index.geometry.union_all()
        hits = geometries[geometries.intersects(footprint)]
        return np.asarray(hits.bounds, dtype=np.float64).reshape(-1, 4)
    boxes: list[np.ndarray] = []
    xres, yres = dataset.res
    for geometry in dataset.index.geometry:
        minx, miny, maxx, maxy = geometry.bounds
        sample = labels[slice(minx, maxx), slice(miny, maxy)]
        pixels = sample['bbox_xyxy'].numpy().astype(np.float64)
        if len(pixels):
            crs_boxes = np.stack(
                [
                    minx + pixels[:, 0] * xres,
                    maxy - pixels[:, 3] * yres,
                    minx + pixels[:, 2] * xres,
                    maxy - pixels[:, 1] * yres,
                ],
                axis=1,
            )
            boxes.append(crs_boxes)
    return np.concatenate(boxes) if boxes else np.zeros((0, 4))


class PositiveAwareGeoSampler(GeoSampler):
    """Random windows, a set fraction of which contain a labelled object.

    With probability ``positive_fraction`` a window is placed around a random
    labelled object (the whole object inside when it fits, at a random offset
    otherwise); the other windows are drawn like TorchGeo's
    :class:`~torchgeo.samplers.RandomGeoSampler` (a tile chosen by area, then a
    random pixel-aligned window in it). Every draw uses ``generator``, so a
    seeded generator gives a repeatable epoch.
    """

    def __init__(
        self,
        dataset: GeoDataset,
        size: int,
        length: int,
        positives: np.ndarray | None = None,
        positive_fraction: float = 0.5,
        roi: Polygon | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        """Initialise a new PositiveAwareGeoSampler.

        Args:
            dataset: dataset to sample from.
            size: window size in pixels.
            length: windows per epoch.
            positives: ``(N, 4)`` object boxes in the dataset CRS (default:
                :func:`positive_boxes` of the dataset).
            positive_fraction: share of windows placed on an object, in [0, 1].
            roi: region to sample from (defaults to the dataset's extent).
            generator: random generator for every draw.

        Raises:
            ValueError: If ``positive_fraction`` is outside [0, 1] or ``size``
                or ``length`` is not positive.
        """
        if not 0.0 <= positive_fraction <= 1.0:
            msg = f'positive_fraction must be in [0, 1], got {positive_fraction}'
            raise ValueError(msg)
        if size <= 0 or length <= 0:
            msg = f'size and length must be positive, got {size} and {length}'
            raise ValueError(msg)
        super().__init__(dataset, roi)
        self.size = (size * self.res[1], size * self.res[0])
        self.length = length
        self.positive_fraction = positive_fraction
        self.generator = generator
        boxes = positive_boxes(dataset) if positives is None else positives
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        centres = shapely.points(
            (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        )
        # Only objects of the region of interest (a split's regions, say).
        self.positives = boxes[shapely.contains(self.roi, centres)]
        self.tiles = [g.bounds for g in self.index.geometry]
        self.intervals = list(self.index.index)
        areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in self.tiles]
        self.areas = torch.tensor(areas, dtype=torch.float) + 1e-9

    def __len__(self) -> int:
        """Windows per epoch."""
        return self.length

    def _uniform(self) -> float:
        return float(torch.rand(1, generator=self.generator).item())

    def __iter__(self) -> Iterator[tuple[slice, slice, slice]]:
        """Pixel-aligned windows ``(x, y, t)`` in the dataset's CRS."""
        for _ in range(self.length):
            use_positive = len(self.positives) and self._uniform() < (
                self.positive_fraction
            )
            if use_positive:
                yield self._around_object()
            else:
                tile = int(torch.multinomial(self.areas, 1, generator=self.generator))
                x, y = get_random_bounding_box(
                    self.tiles[tile], self.size, self.res, self.generator
                )
                interval = self.intervals[tile]
                yield x, y, slice(interval.left, interval.right)

    def _around_object(self) -> tuple[slice, slice, slice]:
        pick = int(torch.randint(len(self.positives), (1,), generator=self.generator))
        box = self.positives[pick]
        centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
        tile = self._tile_containing(centre)
        height, width = self.size
        start_x = self._offset(box[0], box[2], width, self.tiles[tile][0], 0)
        start_y = self._offset(box[1], box[3], height, self.tiles[tile][1], 1)
        interval: pd.Interval = self.intervals[tile]
        return (
            slice(start_x, start_x + width),
            slice(start_y, start_y + height),
            slice(interval.left, interval.right),
        )

    def _offset(
        self, low: float, high: float, window: float, origin: float, axis: int
    ) -> float:
        # Whole object inside the window when it fits, else its centre inside.
        if high - low <= window:
            first, last = high - window, low
        else:
            first, last = (low + high) / 2 - window, (low + high) / 2
        start = first + self._uniform() * (last - first)
        res = self.res[axis]
        return origin + round((start - origin) / res) * res

    def _tile_containing(self, point: tuple[float, float]) -> int:
        for i, (minx, miny, maxx, maxy) in enumerate(self.tiles):
            if minx <= point[0] <= maxx and miny <= point[1] <= maxy:
                return i
        distances = [
            (point[0] - (b[0] + b[2]) / 2) ** 2 + (point[1] - (b[1] + b[3]) / 2) ** 2
            for b in self.tiles
        ]
        return int(np.argmin(distances))
