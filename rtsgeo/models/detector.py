"""The multimodal Cascade Mask R-CNN and its factories."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
from torchvision.models.detection.transform import (
    GeneralizedRCNNTransform,
    resize_boxes,
)

from .anchors import DenseAnchorGenerator
from .backbone import LEVELS, MultimodalBackbone
from .cascade import CascadeRoIHeads
from .config import ModelConfig, get_preset
from .heads import (
    DenseSegmentationHead,
    dense_segmentation_loss,
    rescore_by_dense_probability,
)
from .rois import paste_masks_aligned

__all__ = [
    'MultimodalCascadeMaskRCNN',
    'build_anchor_generator',
    'build_model',
    'build_model_from_preset',
    'count_parameters',
]

Targets = list[dict[str, Tensor]]


class _StackedImageTransform(GeneralizedRCNNTransform):
    """Batches the images as they are, enlarged only when ``scale`` asks for it.

    The data pipeline normalises, and tiles are already the model's size;
    torchvision's resizing to a minimum side would change the pixel size RTS
    anchors rely on. An integer ``scale`` enlarges every image by that factor
    (bilinear) and the training targets with it (boxes multiplied, masks by
    nearest neighbour); ``postprocess`` maps the detections back, boxes scaled
    and masks pasted at the input's size (at pixel centres when ``aligned``,
    :func:`~rtsgeo.models.rois.paste_masks_aligned`; torchvision's paste
    otherwise).
    """

    def __init__(self, scale: int = 1, aligned: bool = False) -> None:
        super().__init__(1, 1, [0.0], [1.0])
        self.scale = scale
        self.aligned = aligned

    def postprocess(
        self,
        result: Targets,
        image_shapes: list[tuple[int, int]],
        original_image_sizes: list[tuple[int, int]],
    ) -> Targets:
        """Boxes back to the input's pixels and masks pasted at its size."""
        if not self.aligned:
            return super().postprocess(result, image_shapes, original_image_sizes)
        for pred, shape, size in zip(
            result, image_shapes, original_image_sizes, strict=True
        ):
            pred['boxes'] = resize_boxes(pred['boxes'], shape, size)
            if 'masks' in pred:
                pred['masks'] = paste_masks_aligned(pred['masks'], pred['boxes'], size)
        return result

    def forward(
        self, images: Tensor | list[Tensor], targets: Targets | None = None
    ) -> tuple[ImageList, Targets | None]:
        batch = images if isinstance(images, Tensor) else torch.stack(list(images))
        if batch.dim() != 4 or not batch.is_floating_point():
            msg = f'images must be a float (B, C, H, W) tensor, got {batch.dtype} '
            raise ValueError(msg + f'{tuple(batch.shape)}')
        if targets is not None:
            targets = [dict(t) for t in targets]  # the caller's dicts stay untouched
        if self.scale != 1:
            batch = F.interpolate(
                batch, scale_factor=self.scale, mode='bilinear', align_corners=False
            )
            if targets is not None:
                targets = [self._scale_target(t) for t in targets]
        size = (int(batch.shape[-2]), int(batch.shape[-1]))
        return ImageList(batch, [size] * batch.shape[0]), targets

    def _scale_target(self, target: dict[str, Tensor]) -> dict[str, Tensor]:
        target['boxes'] = target['boxes'] * self.scale
        masks = target.get('masks')
        if masks is not None:
            scaled = F.interpolate(
                masks[:, None].float(), scale_factor=self.scale, mode='nearest'
            )
            target['masks'] = scaled[:, 0].to(masks.dtype)
        return target


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
    ``loss_mask`` (and ``loss_aux_seg`` when ``config.aux_seg_weight`` > 0);
    eval mode returns per image ``boxes``, ``scores``,
    ``labels`` and ``masks`` (float ``(N, 1, H, W)`` probabilities).
    """

    def __init__(self, config: ModelConfig) -> None:
        """Build the model (random weights; see :func:`build_model`).

        Args:
            config: the model configuration.
        """
        backbone = MultimodalBackbone(config)
        anchors = build_anchor_generator(config)
        rpn = RegionProposalNetwork(
            anchors,
            RPNHead(config.fpn_channels, anchors.num_anchors_per_location()[0]),
            fg_iou_thresh=config.rpn_fg_iou,
            bg_iou_thresh=config.rpn_bg_iou,
            batch_size_per_image=256,
            positive_fraction=0.5,
            pre_nms_top_n=config.rpn_proposals,
            post_nms_top_n=config.rpn_proposals,
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
            rois_per_image=config.roi_samples_per_image,
            positive_fraction=config.roi_positive_fraction,
            jitter_copies=config.gt_jitter_copies,
            jitter_amount=config.gt_jitter_amount,
            min_box_size=config.min_box_size * config.input_scale,
            aligned=config.aligned_rois,
        )
        super().__init__(
            backbone,
            rpn,
            heads,
            _StackedImageTransform(config.input_scale, config.aligned_rois),
        )
        self.config = config
        self.aux_seg = (
            DenseSegmentationHead(config.fpn_channels)
            if config.aux_seg_weight > 0
            else None
        )

    def forward(
        self, images: Tensor | list[Tensor], targets: Targets | None = None
    ) -> dict[str, Tensor] | Targets:
        """Losses (train mode) or detections (eval mode); see the class."""
        if self.training and targets is None:
            raise ValueError('targets are needed in train mode')
        batch, targets = self.transform(images, targets)
        features = self.backbone(batch.tensors)
        proposals, losses = self.rpn(batch, features, targets)
        detections, head_losses = self.roi_heads(
            features, proposals, batch.image_sizes, targets
        )
        if not self.training:
            scale = self.config.input_scale
            inputs = [(h // scale, w // scale) for h, w in batch.image_sizes]
            results = self.transform.postprocess(detections, batch.image_sizes, inputs)
            weight = self.config.dense_score_weight
            if self.aux_seg is None or weight == 0:
                return results
            logits = self.aux_seg(features[LEVELS[0]], batch.tensors.shape[-2:])
            # back to the input's pixels, where postprocess pasted the masks
            prob = (
                F.avg_pool2d(logits.sigmoid(), scale) if scale > 1 else logits.sigmoid()
            )
            return [
                rescore_by_dense_probability(result, p[0], weight)
                for result, p in zip(results, prob, strict=True)
            ]
        losses.update(head_losses)
        if self.aux_seg is not None and targets is not None:
            logits = self.aux_seg(features[LEVELS[0]], batch.tensors.shape[-2:])
            aux = dense_segmentation_loss(logits, targets)
            losses['loss_aux_seg'] = aux * self.config.aux_seg_weight
        return losses


def build_anchor_generator(config: ModelConfig) -> AnchorGenerator:
    """The RPN's anchors: torchvision's, or dense ones when the options ask.

    The paper's setting (one scale, density 1) keeps torchvision's
    :class:`AnchorGenerator` exactly; ``anchor_scales`` or ``anchor_density``
    switch to :class:`~rtsgeo.models.anchors.DenseAnchorGenerator`. Sizes are
    in the backbone's pixels: ``anchor_sizes`` times ``input_scale``.
    """
    sizes = [size * config.input_scale for size in config.anchor_sizes]
    if tuple(config.anchor_scales) == (1.0,) and config.anchor_density == 1:
        return AnchorGenerator(
            tuple((size,) for size in sizes),
            (config.anchor_aspect_ratios,) * len(config.anchor_sizes),
        )
    return DenseAnchorGenerator(
        sizes,
        config.anchor_aspect_ratios,
        strides=[4 * 2**level for level in range(len(config.anchor_sizes))],
        scales=config.anchor_scales,
        density=config.anchor_density,
    )


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
