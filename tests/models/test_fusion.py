import math
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F

from rtsgeo.errors import ConfigError
from rtsgeo.models import (
    FUSIONS,
    CrossAttentionFusion,
    PassThroughFusion,
    WindowAttention,
    build_fusion,
)

MODALITIES = ('rgb', 'ndvi', 'nir')
FEATURE_FUSIONS = [f for f in FUSIONS if f not in ('none', 'channel_expansion')]
SIZES = (20, 10, 5, 3, 2)  # 20 and 10 are not multiples of the window: padding


def pyramids(channels: int = 8) -> dict[str, OrderedDict[str, torch.Tensor]]:
    torch.manual_seed(0)
    return {
        m: OrderedDict(
            (f'p{i + 2}', torch.randn(2, channels, s, s, requires_grad=True))
            for i, s in enumerate(SIZES)
        )
        for m in MODALITIES
    }


@pytest.mark.parametrize('name', FEATURE_FUSIONS)
def test_fusion_shapes_and_gradients(name: str) -> None:
    fusion = build_fusion(name, MODALITIES, 'rgb', 8, levels=5, heads=2, window=8)
    inputs = pyramids()
    out = fusion(inputs)
    assert list(out) == list(inputs['rgb'])
    for level, value in out.items():
        assert value.shape == inputs['rgb'][level].shape
    sum(v.square().sum() for v in out.values()).backward()
    for modality, pyramid in inputs.items():
        for level, value in pyramid.items():
            assert value.grad is not None, (modality, level)
            assert value.grad.abs().sum() > 0, (modality, level)


def test_primary_may_be_any_modality() -> None:
    fusion = build_fusion('residual_cross_attention', MODALITIES, 'ndvi', 8, 5, 2, 8)
    assert isinstance(fusion, CrossAttentionFusion)
    assert fusion.auxiliaries == ['rgb', 'nir']


def test_unknown_fusion_and_bad_primary() -> None:
    with pytest.raises(ConfigError, match='unknown fusion'):
        build_fusion('sum', MODALITIES, 'rgb', 8)
    with pytest.raises(ConfigError, match='primary'):
        build_fusion('conv', MODALITIES, 'dem', 8)


def test_pass_through() -> None:
    inputs = pyramids()
    assert PassThroughFusion()({'rgb': inputs['rgb']}) is inputs['rgb']
    with pytest.raises(ValueError, match='one pyramid'):
        PassThroughFusion()(inputs)


def _cross_attention(attn: WindowAttention, fq: torch.Tensor, fc: torch.Tensor):
    """softmax(QK^T / sqrt(d)) V over all pixels, written out, one head."""
    q_tokens = fq.flatten(2).transpose(1, 2)  # (B, HW, C)
    c_tokens = fc.flatten(2).transpose(1, 2)
    q = q_tokens @ attn.q.weight.T + attn.q.bias
    k = c_tokens @ attn.k.weight.T + attn.k.bias
    v = c_tokens @ attn.v.weight.T + attn.v.bias
    weights = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(q.shape[-1]), dim=-1)
    out = (weights @ v) @ attn.out.weight.T + attn.out.bias
    return out.transpose(1, 2).reshape(fq.shape)


def test_residual_cross_attention_equals_equations_1_to_3() -> None:
    torch.manual_seed(1)
    fusion = build_fusion('residual_cross_attention', MODALITIES, 'rgb', 4, 1, 1, 8)
    maps = {m: torch.randn(1, 4, 3, 3) for m in MODALITIES}
    out = fusion({m: OrderedDict(p2=x) for m, x in maps.items()})['p2']

    attention = fusion.attention[0]
    f1 = _cross_attention(attention['ndvi'], maps['rgb'], maps['ndvi'])  # eq. 1
    f2 = _cross_attention(attention['nir'], maps['rgb'], maps['nir'])  # eq. 2
    total = maps['rgb'] + maps['ndvi'] + maps['nir'] + f1 + f2
    conv = fusion.project[0]
    expected = F.conv2d(total, conv.weight, conv.bias, padding=1)  # eq. 3
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_window_attention_is_local() -> None:
    torch.manual_seed(2)
    attn = WindowAttention(8, 2, 4)
    query, context = torch.randn(1, 8, 8, 8), torch.randn(1, 8, 8, 8)
    before = attn([query], [context])
    context[:, :, 4:, 4:] += 10  # only the bottom-right window changes
    after = attn([query], [context])
    torch.testing.assert_close(before[:, :, :4], after[:, :, :4])
    assert not torch.allclose(before[:, :, 4:, 4:], after[:, :, 4:, 4:])


def test_window_attention_masks_padding() -> None:
    torch.manual_seed(3)
    attn = WindowAttention(8, 2, 4)
    query, context = torch.randn(1, 8, 6, 6), torch.randn(1, 8, 6, 6)
    out = attn([query], [context])
    # The 2x2 bottom-right corner is its own (padded) window: same as alone.
    alone = attn([query[:, :, 4:, 4:]], [context[:, :, 4:, 4:]])
    torch.testing.assert_close(out[:, :, 4:, 4:], alone, rtol=1e-5, atol=1e-5)
