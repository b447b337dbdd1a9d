from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import torch

from rtsgeo.samplers import CRSGroupedGeoSampler


class Numbered:
    """A stand-in window sampler: yields its own name and a number."""

    def __init__(self, name: str, count: int) -> None:
        self.name, self.count = name, count

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return iter((self.name, i) for i in range(self.count))

    def __len__(self) -> int:
        return self.count


def test_in_order_walks_the_groups_one_after_another() -> None:
    sampler = CRSGroupedGeoSampler([Numbered('a', 2), None, Numbered('c', 3)])
    assert len(sampler) == 5
    assert list(sampler) == [
        (0, ('a', 0)),
        (0, ('a', 1)),
        (2, ('c', 0)),
        (2, ('c', 1)),
        (2, ('c', 2)),
    ]


def test_shuffled_interleaves_the_groups_and_keeps_their_counts() -> None:
    samplers = [Numbered('a', 30), None, Numbered('c', 10)]
    keys = list(
        CRSGroupedGeoSampler(
            samplers, shuffle=True, generator=torch.Generator().manual_seed(1)
        )
    )
    assert Counter(group for group, _ in keys) == {0: 30, 2: 10}
    # Each group's own order is kept; the groups are mixed.
    assert [q for g, q in keys if g == 2] == [('c', i) for i in range(10)]
    groups = [g for g, _ in keys]
    assert groups != sorted(groups)


def test_shuffled_repeats_with_a_seed() -> None:
    def keys(seed: int) -> list[tuple[int, object]]:
        samplers = [Numbered('a', 5), Numbered('b', 5)]
        generator = torch.Generator().manual_seed(seed)
        return list(CRSGroupedGeoSampler(samplers, shuffle=True, generator=generator))

    assert keys(3) == keys(3)
    assert keys(3) != keys(4)


def test_empty_groups_contribute_nothing() -> None:
    sampler = CRSGroupedGeoSampler([Numbered('a', 0), Numbered('b', 2)], shuffle=True)
    assert len(sampler) == 2
    assert [g for g, _ in sampler] == [1, 1]
