"""The paper's fusion strategies (tables 3-5), one interface for all.

Every fusion module maps ``{modality: pyramid}`` to one pyramid with the same
level names and shapes, fusing level by level with its own weights per level.
``F_m`` below is modality ``m``'s map at one level, ``p`` the primary
modality (the attention query, RGB by default) and ``a`` the auxiliaries.

- ``conv``: ``Conv1x1(concat_m F_m)``, the paper's "single convolutional layer".
- ``residual_conv``: ``Conv(sum_m F_m + Conv1x1(concat_m F_m))``.
- ``stacked_attention``: ``Conv(S)`` with ``S`` the self-attention over the
  tokens of every modality stacked, averaged back over modalities.
- ``residual_stacked_attention``: ``Conv(sum_m F_m + S)``.
- ``cross_attention``: ``Conv(sum_a CrossAttn_a(F_p, F_a))``.
- ``residual_cross_attention`` (default, eq. 1-3):
  ``F'_a = CrossAttn_a(F_p, F_a)``; ``F'' = Conv(F_p + sum_a F_a + sum_a F'_a)``.

``Conv`` is a ``C -> C`` 3x3 projection. Attention is windowed
(:mod:`rtsgeo.models.attention`), so it is linear in the pixel count.
Data-level fusion (``channel_expansion``) happens before the trunk: the
backbone then has one pyramid and uses :class:`PassThroughFusion`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .attention import WindowAttention

__all__ = [
    'ConvFusion',
    'CrossAttentionFusion',
    'PassThroughFusion',
    'StackedAttentionFusion',
    'build_fusion',
]

Pyramid = OrderedDict[str, Tensor]


class PassThroughFusion(nn.Module):
    """No fusion: returns the only pyramid (one modality or channel expansion)."""

    def forward(self, pyramids: dict[str, Pyramid]) -> Pyramid:
        """The single input pyramid."""
        if len(pyramids) != 1:
            msg = f'PassThroughFusion takes one pyramid, got {list(pyramids)}'
            raise ValueError(msg)
        return next(iter(pyramids.values()))


class _PyramidFusion(nn.Module):
    """Shared plumbing: modality order, per-level loop, residual, projections."""

    def __init__(
        self,
        modalities: Sequence[str],
        primary: str,
        channels: int,
        levels: int,
        residual: bool,
    ) -> None:
        super().__init__()
        if primary not in modalities or len(modalities) < 2:
            msg = f'fusion needs >= 2 modalities including primary={primary!r}'
            raise ConfigError(f'{msg}, got {list(modalities)}')
        self.primary = primary
        self.auxiliaries = [m for m in modalities if m != primary]
        self.modalities = [primary, *self.auxiliaries]
        self.residual = residual
        self.project = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, padding=1) for _ in range(levels)
        )

    def forward(self, pyramids: dict[str, Pyramid]) -> Pyramid:
        """Fuse level by level.

        Args:
            pyramids: modality -> ordered ``{level: (B, C, H, W)}``, same levels.

        Returns:
            The fused pyramid, with the primary's level names and shapes.
        """
        missing = [m for m in self.modalities if m not in pyramids]
        if missing:
            raise ValueError(f'fusion inputs lack modalities {missing}')
        fused: Pyramid = OrderedDict()
        for index, level in enumerate(pyramids[self.primary]):
            maps = {m: pyramids[m][level] for m in self.modalities}
            out = self.fuse_level(index, maps)
            if self.residual:  # eq. 3: add every modality's map
                out = out + torch.stack(list(maps.values())).sum(dim=0)
            fused[level] = self.project[index](out)
        return fused

    def fuse_level(self, index: int, maps: dict[str, Tensor]) -> Tensor:
        """The map of one level before the residual and the output projection."""
        raise NotImplementedError


class ConvFusion(_PyramidFusion):
    """Feature-level convolutional fusion, plain or residual."""

    def __init__(
        self,
        modalities: Sequence[str],
        primary: str,
        channels: int,
        levels: int,
        residual: bool,
    ) -> None:
        """Build one ``N*C -> C`` 1x1 convolution per level.

        Args:
            modalities: modality names.
            primary: the primary modality.
            channels: channels C of every level.
            levels: number of pyramid levels.
            residual: add every modality's map before the projection.
        """
        super().__init__(modalities, primary, channels, levels, residual)
        width = channels * len(self.modalities)
        self.reduce = nn.ModuleList(
            nn.Conv2d(width, channels, 1) for _ in range(levels)
        )
        if not residual:  # the reduction is the paper's single layer
            self.project = nn.ModuleList(nn.Identity() for _ in range(levels))

    def fuse_level(self, index: int, maps: dict[str, Tensor]) -> Tensor:
        """``reduce(concat)`` of the modalities' maps."""
        return cast(Tensor, self.reduce[index](torch.cat(list(maps.values()), dim=1)))


class _AttentionFusion(_PyramidFusion):
    """Fusion by windowed attention: one attention module per level."""

    def __init__(
        self,
        modalities: Sequence[str],
        primary: str,
        channels: int,
        levels: int,
        residual: bool,
        heads: int = 8,
        window: int = 16,
    ) -> None:
        """Build the attention of every level.

        Args:
            modalities: modality names.
            primary: the primary modality (queries of cross-attention).
            channels: channels C of every level.
            levels: number of pyramid levels.
            residual: add every modality's map before the projection (eq. 3).
            heads: attention heads.
            window: attention window side.
        """
        super().__init__(modalities, primary, channels, levels, residual)
        self.attention = nn.ModuleList(
            self.level_attention(channels, heads, window) for _ in range(levels)
        )

    def level_attention(self, channels: int, heads: int, window: int) -> nn.Module:
        """The attention module of one level."""
        raise NotImplementedError


class StackedAttentionFusion(_AttentionFusion):
    """Self-attention over the stacked modalities, plain or residual."""

    def level_attention(self, channels: int, heads: int, window: int) -> nn.Module:
        """One self-attention over all modalities."""
        return WindowAttention(channels, heads, window)

    def fuse_level(self, index: int, maps: dict[str, Tensor]) -> Tensor:
        """Stacked self-attention of the modalities' maps."""
        stacked = list(maps.values())
        return cast(Tensor, self.attention[index](stacked, stacked))


class CrossAttentionFusion(_AttentionFusion):
    """One cross-attention per auxiliary modality, primary as query (eq. 1-3)."""

    def level_attention(self, channels: int, heads: int, window: int) -> nn.Module:
        """One cross-attention per auxiliary modality."""
        return nn.ModuleDict(
            {a: WindowAttention(channels, heads, window) for a in self.auxiliaries}
        )

    def fuse_level(self, index: int, maps: dict[str, Tensor]) -> Tensor:
        """``sum_a CrossAttn_a(F_p, F_a)`` over the auxiliary modalities."""
        attention = cast(nn.ModuleDict, self.attention[index])
        query = maps[self.primary]
        crossed = [attention[a]([query], [maps[a]]) for a in self.auxiliaries]
        return torch.stack(crossed).sum(dim=0)


def build_fusion(
    name: str,
    modalities: Sequence[str],
    primary: str,
    channels: int,
    levels: int = 5,
    heads: int = 8,
    window: int = 16,
) -> nn.Module:
    """Build a fusion module by strategy name.

    Args:
        name: ``'none'``, ``'channel_expansion'``, ``'conv'``, ``'stacked_attention'``,
            ``'cross_attention'``, or ``'residual_'`` + one of the last three.
        modalities: modality names of the pyramids to fuse.
        primary: the primary modality (attention query).
        channels: channels C of every level.
        levels: number of pyramid levels.
        heads: attention heads.
        window: attention window side.

    Returns:
        A module mapping ``{modality: pyramid}`` to one pyramid.

    Raises:
        ConfigError: If the name is unknown.
    """
    if name in ('none', 'channel_expansion'):
        return PassThroughFusion()
    residual = name.startswith('residual_')
    kind = name.removeprefix('residual_')
    if kind == 'conv':
        return ConvFusion(modalities, primary, channels, levels, residual)
    if kind == 'stacked_attention':
        return StackedAttentionFusion(
            modalities, primary, channels, levels, residual, heads, window
        )
    if kind == 'cross_attention':
        return CrossAttentionFusion(
            modalities, primary, channels, levels, residual, heads, window
        )
    raise ConfigError(f'unknown fusion {name!r}: see rtsgeo.models.FUSIONS')
