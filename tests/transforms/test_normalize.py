"""compute_modality_stats and NormalizeModalities: values, valid pixels, layout."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

from rtsgeo.errors import ConfigError
from rtsgeo.transforms import NormalizeModalities, compute_modality_stats

# ndvi first: the layout follows the modality order, not a fixed one.
MODALITIES = ('ndvi', 'rgb')


def samples(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """(4, 16, 16) windows: ndvi then red, green, blue, each with its own scale.

    Invalid pixels hold a huge value that must never count.
    """
    generator = torch.Generator().manual_seed(seed)
    scale = torch.tensor([0.5, 10.0, 200.0, 3000.0]).view(4, 1, 1)
    offset = torch.tensor([0.1, 5.0, -50.0, 1000.0]).view(4, 1, 1)
    out = []
    for _ in range(count):
        image = torch.randn((4, 16, 16), generator=generator) * scale + offset
        valid = torch.rand((16, 16), generator=generator) > 0.3
        image[:, ~valid] = 1e9
        out.append({'image': image, 'valid': valid})
    return out


def reference(windows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population std of every channel over the valid pixels."""
    pixels = np.concatenate(
        [w['image'][:, w['valid']].double().numpy() for w in windows], axis=1
    )
    return pixels.mean(axis=1), pixels.std(axis=1)


def test_statistics_are_over_valid_pixels() -> None:
    windows = samples(6)
    stats = compute_modality_stats(windows, MODALITIES)
    mean, std = reference(windows)
    assert list(stats) == ['ndvi', 'rgb']
    assert stats['ndvi']['mean'] == pytest.approx(mean[:1], rel=1e-9)
    assert stats['rgb']['mean'] == pytest.approx(mean[1:], rel=1e-9)
    assert stats['ndvi']['std'] == pytest.approx(std[:1], rel=1e-9)
    assert stats['rgb']['std'] == pytest.approx(std[1:], rel=1e-9)


def test_batches_and_single_windows_give_the_same_statistics() -> None:
    windows = samples(6)
    batches = [
        {
            'image': torch.stack([w['image'] for w in windows[i : i + 3]]),
            'valid': torch.stack([w['valid'] for w in windows[i : i + 3]]),
        }
        for i in (0, 3)
    ]
    by_window = compute_modality_stats(windows, MODALITIES)
    by_batch = compute_modality_stats(batches, MODALITIES)
    for name in MODALITIES:
        for key in ('mean', 'std'):
            assert by_batch[name][key] == pytest.approx(by_window[name][key])


def test_without_valid_every_pixel_counts() -> None:
    windows = [{'image': w['image']} for w in samples(2)]
    stats = compute_modality_stats(windows, MODALITIES)
    assert stats['rgb']['mean'][0] > 1e8  # the 1e9 pixels count now


def test_max_samples_stops_early() -> None:
    windows = samples(3)
    poisoned = [*windows, {'image': torch.full((4, 16, 16), 1e9)}]
    stats = compute_modality_stats(iter(poisoned), MODALITIES, max_samples=3)
    assert stats == compute_modality_stats(windows, MODALITIES)


def test_constant_channel_gets_a_tiny_std_not_zero() -> None:
    window = {'image': torch.full((5, 4, 4), 2.0)}
    stats = compute_modality_stats([window], ('rgb', 'ndvi', 'nir'))
    assert stats['nir'] == {'mean': [2.0], 'std': [1e-6]}


def test_no_valid_pixel() -> None:
    def nothing() -> Iterator[dict[str, Any]]:
        yield {
            'image': torch.ones((4, 8, 8)),
            'valid': torch.zeros((8, 8), dtype=torch.bool),
        }

    with pytest.raises(ValueError, match='no valid pixel seen'):
        compute_modality_stats(nothing(), MODALITIES)
    with pytest.raises(ValueError, match='no valid pixel seen'):
        compute_modality_stats([], MODALITIES)


def test_normalised_valid_pixels_have_zero_mean_unit_std() -> None:
    windows = samples(4, seed=1)
    normalize = NormalizeModalities(
        compute_modality_stats(windows, MODALITIES), MODALITIES
    )
    batch = {
        'image': torch.stack([w['image'] for w in windows]),
        'valid': torch.stack([w['valid'] for w in windows]),
    }
    out = normalize(batch)['image']
    valid = batch['valid'].unsqueeze(1).expand_as(out)
    assert bool((out[~valid] == 0).all())  # nodata stays 0, not -mean/std
    per_channel = out.permute(1, 0, 2, 3)[valid.permute(1, 0, 2, 3)].view(4, -1)
    torch.testing.assert_close(
        per_channel.double().mean(1), torch.zeros(4, dtype=torch.double), atol=1e-4,
        rtol=0,
    )  # fmt: skip
    torch.testing.assert_close(
        per_channel.double().std(1, correction=0), torch.ones(4, dtype=torch.double),
        atol=1e-4, rtol=0,
    )  # fmt: skip


def test_each_channel_takes_its_modalitys_statistics() -> None:
    stats = {
        'rgb': {'mean': [1.0, 2.0, 3.0], 'std': [2.0, 4.0, 8.0]},
        'ndvi': {'mean': [0.5], 'std': [0.25]},
        'slope': {'mean': [100.0], 'std': [1.0]},  # unused modalities are fine
    }
    image = torch.tensor([1.0, 5.0, 10.0, 19.0]).view(1, 4, 1, 1)
    out = NormalizeModalities(stats, MODALITIES)({'image': image})['image']
    assert out.flatten().tolist() == [2.0, 2.0, 2.0, 2.0]


def test_missing_or_wrong_statistics() -> None:
    stats = {'rgb': {'mean': [0.0, 0.0, 0.0], 'std': [1.0, 1.0, 1.0]}}
    with pytest.raises(
        ConfigError,
        match=r"no normalisation statistics for modality 'ndvi': have \['rgb'\]",
    ):
        NormalizeModalities(stats, MODALITIES)
    short = {'rgb': {'mean': [0.0], 'std': [1.0, 1.0, 1.0]}}
    with pytest.raises(
        ConfigError, match=r"statistics of 'rgb' need 3 values each, got 1 and 3"
    ):
        NormalizeModalities(short, ('rgb',))
