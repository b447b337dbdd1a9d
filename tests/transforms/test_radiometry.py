"""RandomRadiometry: gain, band balance and haze of the raw bands."""

from __future__ import annotations

import pytest
import torch

from rtsgeo.modalities import normalized_difference
from rtsgeo.transforms import RandomRadiometry

FUSED = ('rgb', 'ndvi', 'nir')  # channels: red, green, blue, NDVI, NIR


def batch(n: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    """Raw reflectance-like windows (200-3000) with their NDVI, a nodata corner."""
    g = torch.Generator().manual_seed(seed)
    bands = 200 + 2800 * torch.rand(n, 4, 16, 16, generator=g)  # r, g, b, nir
    red, nir = bands[:, 0], bands[:, 3]
    ndvi = normalized_difference(nir, red)[:, None]
    image = torch.cat([bands[:, :3], ndvi, bands[:, 3:]], dim=1)
    valid = torch.ones(n, 16, 16, dtype=torch.bool)
    valid[:, :4, :4] = False
    image[:, :, :4, :4] = 0
    return {'image': image, 'valid': valid}


def test_gain_only_scales_bands_and_keeps_ndvi() -> None:
    # one gain for all bands (no balance, no haze): NDVI is unchanged
    data = batch()
    before = data['image'].clone()
    augment = RandomRadiometry(FUSED, gain=(0.5, 2.0), balance=0.0, haze=0.0)
    after = augment(data)['image']
    ratio = after[:, [0, 1, 2, 4]][:, :, 8:, 8:] / before[:, [0, 1, 2, 4]][:, :, 8:, 8:]
    per_window = ratio.flatten(1)
    assert torch.allclose(per_window, per_window[:, :1], rtol=1e-5)
    assert ((per_window[:, 0] >= 0.5) & (per_window[:, 0] <= 2.0)).all()
    assert per_window[:, 0].std() > 0.01  # each window draws its own gain
    assert torch.allclose(after[:, 3], before[:, 3], atol=1e-5)


def test_haze_and_balance_change_ndvi_consistently() -> None:
    data = batch()
    after = RandomRadiometry(FUSED, haze=0.3)(data)['image']
    red, nir = after[:, 0], after[:, 4]
    ok = data['valid']
    assert torch.allclose(
        after[:, 3][ok], normalized_difference(nir, red)[ok], atol=1e-5
    )
    # haze lifts blue more than NIR relative to the bands' size: shorter is hazier
    assert not torch.allclose(after[:, 3][ok], batch()['image'][:, 3][ok], atol=1e-3)


def test_nodata_stays_untouched() -> None:
    data = batch()
    after = RandomRadiometry(FUSED, haze=0.3)(data)['image']
    assert (after[:, :, :4, :4] == 0).all()


def test_seeded_generator_repeats_and_other_modalities_pass() -> None:
    first = RandomRadiometry(FUSED, generator=torch.Generator().manual_seed(3))
    second = RandomRadiometry(FUSED, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first(batch())['image'], second(batch())['image'])
    ndvi_only = RandomRadiometry(('ndvi',))
    data = {'image': torch.rand(2, 1, 8, 8)}
    assert torch.equal(ndvi_only(dict(data))['image'], data['image'])
    with pytest.raises(ValueError, match='gain'):
        RandomRadiometry(FUSED, gain=(2.0, 1.0))


def test_datamodule_composes_it_after_flips() -> None:
    from torch import nn

    from rtsgeo.datamodules import RTSDataModule
    from rtsgeo.transforms import RandomFlipRotate

    plain = RTSDataModule(root='unused')
    assert isinstance(plain.augment, RandomFlipRotate)
    both = RTSDataModule(root='unused', radiometric=True)
    assert isinstance(both.augment, nn.Sequential)
    assert [type(m).__name__ for m in both.augment] == [
        'RandomFlipRotate',
        'RandomRadiometry',
    ]
