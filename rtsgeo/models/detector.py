"""The multimodal Cascade Mask R-CNN and its factories."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from .backbone import MultimodalBackbone
from .cascade import CascadeRoIHeads
from .config import ModelConfig, get_preset

__all__ = [
    'MultimodalCascadeMaskRCNN',
    'build_model',
    'build_model_from_preset',
    'count_parameters',
]

Targets = list[dict[str, Tensor]]


class _StackedImageTransform(GeneralizedRCNNTransform):
    """Batches the images as they are: no resizing, no mean/std normalisation.

    The data pipeline normalises, and tiles are already the model's size;
    torchvision's resizing would change the pixel size RTS anchors rely on.
    ``postprocess`` (pasting masks at input resolution) is torchvision's.
    """

    def __init__(self) -> None:
        super().__init__(1, 1, [0.0], [1.0])

    def forward(
        self, images: Tensor | list[Tensor], targets: Targets | None = None
    ) -> tuple[ImageList, Targets | None]:
        batch = images if isinstance(images, Tensor) else torch.stack(list(images))
        if batch.dim() != 4 or not batch.is_floating_point():
            msg = f'images must be a float (B, C, H, W) tensor, got {batch.dtype} '
            raise ValueError(msg + f'{tuple(batch.shape)}')
        if targets is not None:
            targets = [dict(t) for t in targets]  # the caller's dicts stay untouched
        size = (int(batch.shape[-2]), int(batch.shape[-1]))
        return ImageList(batch, [size] * batch.shape[0]), targets


class MultimodalCascadeMaskRCNN(GeneralizedRCNN):
    """Cascade (or plain) Mask R-CNN on a per-modality, fused backbone.

    ``forward(images, targets=None)``: ``images`` is a float ``(B, C, H, W)``
    tensor (or a list of ``(C, H, W)`` of one size) with the modalities
    stacked in ``channel_layout(config.modalities)`` order, already
    normalised. ``targets`` (train mode) is one dict per image with
    ``boxes`` (float ``(N, 4)`` xyxy pixels), ``labels`` (int64 ``(N,)``, RTS
    = 1) and ``masks`` (uint8 ``(N, H, W)``); ``N`` may be 0. Train mode
    returns the losses ``loss_objectness``, ``loss_rpn_box_reg``,
    ``loss_classifier_stage{k}``, ``loss_box_reg_stage{k}`` (k < stages) and
    ``loss_mask``; eval mode returns per image ``boxes``, ``scores``,
    ``labels`` and ``masks`` (float ``(N, 1, H, W)`` probabilities).
    """

    def __init__(self, config: ModelConfig) -> None:
        """Build the model (random weights; see :func:`build_model`).

        Args:
            config: the model configuration.
        """
        backbone = MultimodalBackbone(config)
        anchors = AnchorGenerator(
            tuple((size,) for size in config.anchor_sizes),
            (config.anchor_aspect_ratios,) * len(config.anchor_sizes),
        )
        rpn = RegionProposalNetwork(
            anchors,
            RPNHead(config.fpn_channels, len(config.anchor_aspect_ratios)),
            fg_iou_thresh=0.7,
            bg_iou_thresh=0.3,
            batch_size_per_image=256,
            positive_fraction=0.5,
            pre_nms_top_n={'training': 2000, 'testing': 1000},
            post_nms_top_n={'training': 2000, 'testing': 1000},
            nms_thresh=0.7,
        )
        stages = config.stages
        heads = CascadeRoIHeads(
            config.fpn_channels,
            config.num_classes,
            ious=config.cascade_ious[:stages],
            loss_weights=config.cascade_loss_weights[:stages],
            box_head=config.box_head,
            fc_dim=config.box_fc_dim,
            detections_per_image=config.detections_per_image,
            score_threshold=config.score_threshold,
        )
        super().__init__(backbone, rpn, heads, _StackedImageTransform())
        self.config = config


def build_model(config: ModelConfig) -> MultimodalCascadeMaskRCNN:
    """Build a model, load the configured weights and freeze what is asked.

    Weights come from local files only: ``config.trunk_checkpoint`` (timm or
    detectron2 MViTv2 weights, for every trunk) and then
    ``config.unimodal_checkpoints`` (one trained unimodal model per modality,
    whose trunk and pyramid initialise that modality's branch).

    Args:
        config: the model configuration.

    Returns:
        The model, in train mode.

    Raises:
        CheckpointError: If a checkpoint is missing or does not fit.
    """
    from .checkpoints import load_trunk_weights, load_unimodal_checkpoints

    model = MultimodalCascadeMaskRCNN(config)
    if config.trunk_checkpoint is not None:
        for branch in model.backbone.branches.values():
            load_trunk_weights(branch.trunk, config.trunk_checkpoint)
    if config.unimodal_checkpoints:
        load_unimodal_checkpoints(model, config.unimodal_checkpoints)
    if config.freeze_trunks:
        model.backbone.freeze_trunks()
    return model


def build_model_from_preset(name: str, **overrides: Any) -> MultimodalCascadeMaskRCNN:
    """Build a preset model, e.g. ``build_model_from_preset('nano_cascade_rgb')``.

    Args:
        name: a key of :data:`rtsgeo.models.PRESETS`.
        **overrides: :class:`ModelConfig` fields to replace.

    Returns:
        The model.
    """
    return build_model(get_preset(name, **overrides))


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """Total and trainable (``requires_grad``) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable
