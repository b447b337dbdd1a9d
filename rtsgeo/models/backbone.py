"""Per-modality trunks and pyramids, fused into the one pyramid the detector sees."""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import cast

import torch
from torch import Tensor, nn
from torchvision.ops.feature_pyramid_network import (
    FeaturePyramidNetwork,
    LastLevelMaxPool,
)

from ..modalities import channel_layout
from .config import ModelConfig
from .fusion import build_fusion
from .trunks import MViTv2Trunk, ResNet50Trunk, build_trunk

__all__ = ['LEVELS', 'DetailStem', 'ModalityBranch', 'MultimodalBackbone']

#: Pyramid level names, strides 4..64.
LEVELS: tuple[str, ...] = ('p2', 'p3', 'p4', 'p5', 'p6')


def _conv_block(inputs: int, outputs: int, stride: int) -> nn.Sequential:
    """3 x 3 convolution, group normalisation and ReLU."""
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, bias=False),
        nn.GroupNorm(math.gcd(8, outputs), outputs),
        nn.ReLU(inplace=True),
    )


class DetailStem(nn.Module):
    """A full-resolution convolutional path to the stride-4 level.

    Three 3 x 3 convolutions at strides 1, 2 and 2, each with group
    normalisation and ReLU: every stride-4 cell sees the input's pixels
    through a 15 x 15 receptive field built from local filters, which the
    patch embedding of an MViTv2 trunk (one 7 x 7 convolution at stride 4)
    does not give the slumps a few pixels across. Its output is concatenated
    to the trunk's C2 (see ``ModelConfig.detail_channels``).
    """

    def __init__(self, in_channels: int, channels: int) -> None:
        """Build the path.

        Args:
            in_channels: input channels of the modality.
            channels: width of every convolution and of the output.
        """
        super().__init__()
        self.channels = channels
        self.layers = nn.Sequential(
            _conv_block(in_channels, channels, 1),
            _conv_block(channels, channels, 2),
            _conv_block(channels, channels, 2),
        )

    def forward(self, x: Tensor) -> Tensor:
        """``(B, channels, H / 4, W / 4)`` features of a ``(B, C, H, W)`` batch."""
        return cast(Tensor, self.layers(x))


class ModalityBranch(nn.Module):
    """One modality's trunk and feature pyramid (C channels at P2..P6)."""

    def __init__(
        self,
        trunk: MViTv2Trunk | ResNet50Trunk,
        channels: int,
        detail: DetailStem | None = None,
    ) -> None:
        """Wrap a trunk.

        Args:
            trunk: returns C2..C5 and lists their widths in ``out_channels``.
            channels: pyramid channels C.
            detail: a full-resolution path whose output joins C2, or None.
        """
        super().__init__()
        self.trunk = trunk
        widths = list(trunk.out_channels)
        self.detail = detail
        if detail is not None:
            widths[0] += detail.channels
        self.fpn = FeaturePyramidNetwork(
            widths, channels, extra_blocks=LastLevelMaxPool()
        )

    @property
    def trunk_frozen(self) -> bool:
        """Whether no trunk parameter needs a gradient."""
        return not any(p.requires_grad for p in self.trunk.parameters())

    def freeze_trunk(self) -> None:
        """Freeze the trunk (and detail path): no gradients, eval mode."""
        for part in self._extractors():
            part.requires_grad_(False)
            part.eval()

    def _extractors(self) -> list[nn.Module]:
        """The trunk and, when there is one, the detail path."""
        return [self.trunk] if self.detail is None else [self.trunk, self.detail]

    def train(self, mode: bool = True) -> ModalityBranch:
        """Set train mode, keeping a frozen trunk in eval mode."""
        super().train(mode)
        if self.trunk_frozen:
            for part in self._extractors():
                part.eval()
        return self

    def _features(self, x: Tensor) -> list[Tensor]:
        features = list(self.trunk(x))
        if self.detail is not None:
            features[0] = torch.cat([features[0], self.detail(x)], dim=1)
        return features

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        """P2..P6 of a ``(B, C_m, H, W)`` batch."""
        if self.trunk_frozen:
            with torch.no_grad():  # nothing to backpropagate: keep no activations
                features = self._features(x)
        else:
            features = self._features(x)
        pyramid = self.fpn(OrderedDict(zip(LEVELS, features, strict=False)))
        pyramid['p6'] = pyramid.pop('pool')
        return pyramid


class MultimodalBackbone(nn.Module):
    """Split the stacked image by modality, run each branch, fuse the pyramids.

    With ``fusion='channel_expansion'`` (data-level fusion) a single branch,
    named ``'stacked'``, takes every channel. The module follows torchvision's
    backbone contract: ``forward(images) -> OrderedDict`` and ``out_channels``.
    """

    def __init__(self, config: ModelConfig) -> None:
        """Build the branches and the fusion module.

        Args:
            config: the model configuration.
        """
        super().__init__()
        self.layout = channel_layout(config.modalities)
        self.in_channels = config.in_channels
        if config.fusion == 'channel_expansion':
            self.layout = {'stacked': slice(0, self.in_channels)}
        self.branches = nn.ModuleDict(
            {
                name: ModalityBranch(
                    build_trunk(
                        config.backbone,
                        part.stop - part.start,
                        config.network_size,
                        config.drop_path_rate,
                    ),
                    config.fpn_channels,
                    DetailStem(part.stop - part.start, config.detail_channels)
                    if config.detail_channels
                    else None,
                )
                for name, part in self.layout.items()
            }
        )
        self.fusion: nn.Module = build_fusion(
            config.fusion,
            list(self.layout),
            config.primary,
            config.fpn_channels,
            len(LEVELS),
            config.fusion_heads,
            config.fusion_window,
        )
        self.out_channels = config.fpn_channels

    def freeze_trunks(self) -> None:
        """Freeze every branch's trunk."""
        for branch in self.branches.values():
            cast(ModalityBranch, branch).freeze_trunk()

    def forward(self, images: Tensor) -> OrderedDict[str, Tensor]:
        """The fused pyramid of a ``(B, C, H, W)`` batch in channel-layout order."""
        if images.dim() != 4 or images.shape[1] != self.in_channels:
            msg = (
                f'expected images of shape (B, {self.in_channels}, H, W) stacked as '
                f'{ {k: (s.start, s.stop) for k, s in self.layout.items()} }, '
                f'got {tuple(images.shape)}: check the modalities of the data module'
            )
            raise ValueError(msg)
        pyramids = {
            name: branch(images[:, self.layout[name]])
            for name, branch in self.branches.items()
        }
        return self.fusion(pyramids)
