"""Backbone trunks: timm MViTv2 and torchvision ResNet-50, as C2..C5 feature lists."""

from __future__ import annotations

from typing import cast

from torch import Tensor, nn
from torchvision.models import resnet50

from ..errors import ConfigError

__all__ = ['MViTv2Trunk', 'ResNet50Trunk', 'build_trunk']

# (depths, embed_dim, num_heads, expand_attn) of timm's mvitv2 variants; nano is
# rtsgeo's own one-block-per-stage trunk for CPU tests and demos.
_MVIT_VARIANTS: dict[str, tuple[tuple[int, ...], int, int, bool]] = {
    'mvitv2_nano': ((1, 1, 1, 1), 16, 1, True),
    'mvitv2_tiny': ((1, 2, 5, 2), 96, 1, True),
    'mvitv2_small': ((1, 2, 11, 2), 96, 1, True),
    'mvitv2_base': ((2, 3, 16, 3), 96, 1, True),
    'mvitv2_large': ((2, 6, 36, 4), 144, 2, False),
}


class MViTv2Trunk(nn.Module):
    """A timm MViTv2 returning its four stage outputs (strides 4, 8, 16, 32).

    This is what timm's ``features_only=True`` does for MViTv2 (it wraps
    ``forward_intermediates``); holding the ``MultiScaleVit`` directly keeps
    the state-dict keys those of timm checkpoints (``stages.0.blocks.0...``).

    The relative-position tables are sized for ``image_size`` at construction,
    and timm indexes them from the runtime size, so the trunk only accepts
    inputs of exactly ``image_size`` (checked, with a clear error). To use
    another tile size, build the model for it and load the weights:
    :func:`rtsgeo.models.load_trunk_weights` resizes the tables.
    """

    def __init__(
        self,
        name: str,
        in_channels: int,
        image_size: int,
        drop_path_rate: float = 0.0,
    ) -> None:
        """Build the trunk.

        Args:
            name: a key of the MViTv2 variants (``'mvitv2_base'``...).
            in_channels: input channels (1 for NDVI or NIR).
            image_size: the input side in pixels.
            drop_path_rate: stochastic depth rate.
        """
        super().__init__()
        from timm.models.mvitv2 import MultiScaleVit, MultiScaleVitCfg

        depths, dim, heads, expand = _MVIT_VARIANTS[name]
        cfg = MultiScaleVitCfg(
            depths=depths, embed_dim=dim, num_heads=heads, expand_attn=expand
        )
        self.body = MultiScaleVit(
            cfg,
            img_size=(image_size, image_size),
            in_chans=in_channels,
            num_classes=0,
            drop_path_rate=drop_path_rate,
        )
        self.body.prune_intermediate_layers(4, prune_norm=True)
        self.image_size = image_size
        self.out_channels: list[int] = [
            int(i['num_chs']) for i in self.body.feature_info
        ]

    def forward(self, x: Tensor) -> list[Tensor]:
        """C2..C5 feature maps of a ``(B, C, image_size, image_size)`` batch."""
        if tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            msg = (
                f'MViTv2 trunk built for image_size={self.image_size} got an input '
                f'of {tuple(x.shape[-2:])}: tile the scene at {self.image_size} px or '
                'build the model with image_size set to the tile size'
            )
            raise ValueError(msg)
        features = self.body.forward_intermediates(x, intermediates_only=True)
        return list(cast(list[Tensor], features))


class ResNet50Trunk(nn.Module):
    """torchvision's ResNet-50 returning C2..C5.

    Batch norm is trainable (torchvision's ``FrozenBatchNorm2d`` only makes
    sense with pretrained weights; a frozen trunk is in eval mode anyway).
    """

    def __init__(self, in_channels: int) -> None:
        """Build the trunk.

        Args:
            in_channels: input channels.
        """
        super().__init__()
        net = resnet50(weights=None)
        if in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layers = nn.ModuleList([net.layer1, net.layer2, net.layer3, net.layer4])
        self.out_channels: list[int] = [256, 512, 1024, 2048]

    def forward(self, x: Tensor) -> list[Tensor]:
        """C2..C5 feature maps (any input side divisible by 32)."""
        features = []
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x)
            features.append(x)
        return features


def build_trunk(
    name: str, in_channels: int, image_size: int, drop_path_rate: float = 0.0
) -> MViTv2Trunk | ResNet50Trunk:
    """Build a trunk by name.

    Args:
        name: ``'resnet50'`` or an MViTv2 variant (``'mvitv2_base'``...).
        in_channels: input channels.
        image_size: input side in pixels (MViTv2 only).
        drop_path_rate: stochastic depth rate (MViTv2 only).

    Returns:
        The trunk; its ``out_channels`` lists the C2..C5 widths.

    Raises:
        ConfigError: If the name is unknown.
    """
    if name == 'resnet50':
        return ResNet50Trunk(in_channels)
    if name not in _MVIT_VARIANTS:
        known = ', '.join([*_MVIT_VARIANTS, 'resnet50'])
        raise ConfigError(f'unknown backbone {name!r}: choose one of {known}')
    return MViTv2Trunk(name, in_channels, image_size, drop_path_rate)
