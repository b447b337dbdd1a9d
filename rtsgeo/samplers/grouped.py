"""A sampler over a :class:`~rtsgeo.datasets.CRSGroupedDataset`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import torch
from torch.utils.data import Sampler
from torchgeo.datasets.utils import GeoSlice

__all__ = ['CRSGroupedGeoSampler', 'WindowSampler']


class WindowSampler(Protocol):
    """What a group's sampler must offer: windows and their count."""

    def __iter__(self) -> Iterator[GeoSlice]:
        """Windows of one epoch."""

    def __len__(self) -> int:
        """Windows per epoch."""


class CRSGroupedGeoSampler(Sampler[tuple[int, GeoSlice]]):
    """Yields ``(group, query)`` keys from one TorchGeo sampler per CRS group.

    With ``shuffle=False`` the groups are walked in order (for grid sampling in
    evaluation); with ``shuffle=True`` draws from the groups are interleaved at
    random, each group contributing as many keys as its sampler's length (so
    random samplers sized by area keep their proportions).
    """

    def __init__(
        self,
        samplers: Sequence[WindowSampler | None],
        shuffle: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        """Initialise a new CRSGroupedGeoSampler.

        Args:
            samplers: one window sampler per group (TorchGeo's or rtsgeo's);
                None for a group to skip.
            shuffle: interleave the groups at random.
            generator: random generator used when shuffling.
        """
        self.samplers = list(samplers)
        self.shuffle = shuffle
        self.generator = generator

    def __len__(self) -> int:
        """Total number of keys over all groups."""
        return sum(len(s) for _, s in self._active())

    def _active(self) -> list[tuple[int, WindowSampler]]:
        return [(g, s) for g, s in enumerate(self.samplers) if s is not None]

    def __iter__(self) -> Iterator[tuple[int, GeoSlice]]:
        """Keys ``(group, query)``."""
        if not self.shuffle:
            for group, sampler in enumerate(self.samplers):
                if sampler is not None:
                    for query in sampler:
                        yield group, query
            return
        counts = [(g, len(s)) for g, s in self._active()]
        order = torch.tensor([g for g, n in counts for _ in range(n)], dtype=torch.long)
        order = order[torch.randperm(len(order), generator=self.generator)]
        iterators = {g: iter(s) for g, s in enumerate(self.samplers) if s is not None}
        for group in order.tolist():
            yield group, next(iterators[group])
