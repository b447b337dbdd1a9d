"""Random windows that oversample slumps, which are rare in Arctic scenes."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import shapely
import torch
from shapely import Polygon
from torch.utils.data import Sampler
from torchgeo.datasets import GeoDataset, IntersectionDataset
from torchgeo.datasets.utils import GeoSlice

from .areas import SamplingArea, sampling_areas

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


class PositiveAwareGeoSampler(Sampler[GeoSlice]):
    """Random windows, a set fraction of which contain a labelled object.

    Windows are drawn from the index rows (inside ``roi``) that are at least as
    large as a window, as TorchGeo's :class:`~torchgeo.samplers.RandomGeoSampler`
    draws them: a window never starts in a scene part smaller than itself, and
    it stays inside the area it is drawn from. With probability
    ``positive_fraction`` a window is placed around a random labelled object
    of such an area (the whole object inside when it fits, its centre
    otherwise); the other windows are drawn at random, an area chosen by its
    size. Windows follow the scene's pixel grid. Every draw uses
    ``generator``, so a seeded generator gives a repeatable epoch. When no
    area is large enough the sampler is empty (its length is 0).
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
        self.res = dataset.res
        self.size = (size * self.res[1], size * self.res[0])
        self.length = length
        self.positive_fraction = positive_fraction
        self.generator = generator
        self.areas = sampling_areas(dataset, self.size, roi)
        sizes = [
            (a.bounds[2] - a.bounds[0]) * (a.bounds[3] - a.bounds[1])
            for a in self.areas
        ]
        self._weights = torch.tensor(sizes, dtype=torch.float64)
        boxes = positive_boxes(dataset) if positives is None else positives
        self.positives, self._positive_area = self._place(boxes, roi)

    def _place(
        self, boxes: np.ndarray, roi: Polygon | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Objects whose centre lies in an area (and the roi), and that area."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        if roi is not None:
            inside = shapely.contains_xy(roi, cx, cy)
            boxes, cx, cy = boxes[inside], cx[inside], cy[inside]
        if not self.areas:
            return boxes[:0], np.zeros(0, dtype=np.int64)
        limits = np.array([a.bounds for a in self.areas])
        within = (
            (cx[:, None] >= limits[:, 0])
            & (cy[:, None] >= limits[:, 1])
            & (cx[:, None] <= limits[:, 2])
            & (cy[:, None] <= limits[:, 3])
        )
        placed = within.any(axis=1)
        return boxes[placed], within[placed].argmax(axis=1)

    def __len__(self) -> int:
        """Windows per epoch (0 when no area is as large as a window)."""
        return self.length if self.areas else 0

    def _uniform(self) -> float:
        return float(torch.rand(1, generator=self.generator).item())

    def __iter__(self) -> Iterator[tuple[slice, slice, slice]]:
        """Pixel-aligned windows ``(x, y, t)`` in the dataset's CRS."""
        for _ in range(len(self)):
            use_positive = len(self.positives) and self._uniform() < (
                self.positive_fraction
            )
            if use_positive:
                yield self._around_object()
            else:
                pick = torch.multinomial(self._weights, 1, generator=self.generator)
                area = self.areas[int(pick)]
                x = self._between(area.bounds[0], area.bounds[2] - self.size[1])
                y = self._between(area.bounds[1], area.bounds[3] - self.size[0])
                yield self._window(area, x, y)

    def _between(self, first: float, last: float) -> float:
        return first + self._uniform() * (last - first)

    def _around_object(self) -> tuple[slice, slice, slice]:
        pick = int(torch.randint(len(self.positives), (1,), generator=self.generator))
        box = self.positives[pick]
        area = self.areas[int(self._positive_area[pick])]
        height, width = self.size
        x = self._object_start(box[0], box[2], width, area.bounds[0::2])
        y = self._object_start(box[1], box[3], height, area.bounds[1::2])
        return self._window(area, x, y)

    def _object_start(
        self, low: float, high: float, window: float, extent: tuple[float, ...]
    ) -> float:
        """Start of a window around an object, inside the area's *extent*."""
        first, last = extent[0], extent[1] - window
        centre = (low + high) / 2
        # Whole object inside the window when it fits, else its centre inside;
        # the window stays inside the area either way.
        if high - low <= window:
            lo, hi = max(high - window, first), min(low, last)
        else:
            lo, hi = max(centre - window, first), min(centre, last)
        if lo > hi:  # the object is cut by the area's edge
            lo, hi = max(centre - window, first), min(centre, last)
        return self._between(lo, hi)

    def _window(
        self, area: SamplingArea, x: float, y: float
    ) -> tuple[slice, slice, slice]:
        """The window starting near ``(x, y)``, moved onto the area's grid."""
        height, width = self.size
        left, bottom, right, top = area.bounds
        x = _on_grid(x, left, right - width, area.origin[0], self.res[0])
        y = _on_grid(y, bottom, top - height, area.origin[1], self.res[1])
        return (
            slice(x, x + width),
            slice(y, y + height),
            slice(area.interval.left, area.interval.right),
        )


def _on_grid(
    start: float, first: float, last: float, origin: float, res: float
) -> float:
    """*start* moved onto the grid ``origin + k * res``, kept in [first, last]."""
    k_first = math.ceil((first - origin) / res - 1e-9)
    k_last = math.floor((last - origin) / res + 1e-9)
    if k_last < k_first:  # no grid line in range: stay inside the area
        return first
    k = min(max(round((start - origin) / res), k_first), k_last)
    return origin + k * res
