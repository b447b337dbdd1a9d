"""Cascade R-CNN box heads and a mask head on torchvision's detection primitives.

Follows detectron2's ``CascadeROIHeads``: stage ``k`` refines the boxes of
stage ``k - 1`` and is trained with its own IoU threshold (0.5, 0.6, 0.7) and
box-coder weights; box regression is class-agnostic; the gradient reaching
the features from each stage is scaled by ``1 / stages``; at test time the
class scores of all stages are averaged, computed on each stage's own input
boxes, and the last stage's boxes are kept. The mask head is trained on the
first stage's sampled foreground RoIs. One stage gives plain Mask R-CNN.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.roi_heads import (
    maskrcnn_inference,
    project_masks_on_boxes,
)
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops import boxes as box_ops

from .boxes import jitter_boxes
from .heads import (
    BoxPredictor,
    build_box_head,
    build_mask_head,
    fast_rcnn_loss,
    select_detections,
)
from .rois import PyramidRoIAlign, aligned_mask_targets

__all__ = ['CascadeRoIHeads']

# detectron2's box-coder weights per cascade stage (tighter targets later on).
_STAGE_WEIGHTS = (
    (10.0, 10.0, 5.0, 5.0),
    (20.0, 20.0, 10.0, 10.0),
    (30.0, 30.0, 15.0, 15.0),
)
_POOLED_LEVELS = ['p2', 'p3', 'p4', 'p5']
_POOLED_STRIDES = (4, 8, 16, 32)


class _ScaleGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, scale: float) -> Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return grad * ctx.scale, None


class CascadeRoIHeads(nn.Module):
    """Multi-stage box heads and a mask head, torchvision ``RoIHeads`` compatible."""

    def __init__(
        self,
        channels: int,
        num_classes: int,
        ious: Sequence[float] = (0.5, 0.6, 0.7),
        loss_weights: Sequence[float] = (1.0, 1.0, 1.0),
        box_head: str = '4conv1fc',
        fc_dim: int = 1024,
        detections_per_image: int = 100,
        score_threshold: float = 0.05,
        nms_threshold: float = 0.5,
        rois_per_image: int = 512,
        positive_fraction: float = 0.25,
        jitter_copies: int = 0,
        jitter_amount: float = 0.15,
        min_box_size: float = 1e-2,
        aligned: bool = False,
    ) -> None:
        """Build the stages.

        Args:
            channels: pyramid channels C.
            num_classes: classes including background.
            ious: foreground IoU threshold of each stage (its length is the
                number of stages; at most 3).
            loss_weights: loss weight of each stage.
            box_head: ``'4conv1fc'`` or ``'2fc'``.
            fc_dim: box head width.
            detections_per_image: most detections returned per image.
            score_threshold: detections below it are dropped.
            nms_threshold: IoU of the per-class NMS at test time.
            rois_per_image: RoIs sampled per image for the first stage.
            positive_fraction: largest share of positives among them.
            jitter_copies: jittered copies of each ground-truth box added to
                the proposals while training (see
                :func:`~rtsgeo.models.boxes.jitter_boxes`).
            jitter_amount: largest relative shift and log-scale change of a
                jittered copy.
            min_box_size: detections narrower or lower than this (pixels) are
                dropped.
            aligned: pool RoIs and project mask targets at pixel centres
                (:mod:`rtsgeo.models.rois`); False keeps torchvision's legacy
                sampling.
        """
        super().__init__()
        self.stages = len(ious)
        self.loss_weights = tuple(loss_weights)
        self.aligned = aligned
        self.box_roi_pool: nn.Module
        self.mask_roi_pool: nn.Module
        if aligned:
            self.box_roi_pool = PyramidRoIAlign(_POOLED_LEVELS, _POOLED_STRIDES, 7)
            self.mask_roi_pool = PyramidRoIAlign(_POOLED_LEVELS, _POOLED_STRIDES, 14)
        else:
            self.box_roi_pool = MultiScaleRoIAlign(_POOLED_LEVELS, 7, 2)
            self.mask_roi_pool = MultiScaleRoIAlign(_POOLED_LEVELS, 14, 2)
        self.box_heads = nn.ModuleList(
            build_box_head(box_head, channels, fc_dim) for _ in ious
        )
        self.box_predictors = nn.ModuleList(
            BoxPredictor(fc_dim, num_classes) for _ in ious
        )
        self.mask_head, self.mask_predictor = build_mask_head(channels, num_classes)
        self.box_coders = [det_utils.BoxCoder(w) for w in _STAGE_WEIGHTS[: self.stages]]
        self.matchers = [det_utils.Matcher(iou, iou, False) for iou in ious]
        self.sampler = det_utils.BalancedPositiveNegativeSampler(
            rois_per_image, positive_fraction
        )
        self.jitter_copies = jitter_copies
        self.jitter_amount = jitter_amount
        self.min_box_size = min_box_size
        self.detections_per_image = detections_per_image
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold

    def forward(
        self,
        features: OrderedDict[str, Tensor],
        proposals: list[Tensor],
        image_shapes: list[tuple[int, int]],
        targets: list[dict[str, Tensor]] | None = None,
    ) -> tuple[list[dict[str, Tensor]], dict[str, Tensor]]:
        """Detections (eval) or losses (train), as torchvision's ``RoIHeads``."""
        if self.training:
            if targets is None:
                raise ValueError('targets are needed in train mode')
            return [], self._losses(features, proposals, image_shapes, targets)
        return self._detect(features, proposals, image_shapes), {}

    def _run_stage(
        self,
        stage: int,
        features: OrderedDict[str, Tensor],
        boxes: list[Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> tuple[Tensor, Tensor]:
        pooled = self.box_roi_pool(features, boxes, image_shapes)
        pooled = _ScaleGradient.apply(pooled, 1.0 / self.stages)
        return self.box_predictors[stage](self.box_heads[stage](pooled))

    def _refine(
        self,
        stage: int,
        deltas: Tensor,
        boxes: list[Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> list[Tensor]:
        decoded = self.box_coders[stage].decode(deltas.detach(), boxes)[:, 0]
        parts = decoded.split([len(b) for b in boxes])
        return [
            box_ops.clip_boxes_to_image(b, s)
            for b, s in zip(parts, image_shapes, strict=True)
        ]

    def _match(
        self, stage: int, boxes: list[Tensor], targets: list[dict[str, Tensor]]
    ) -> tuple[list[Tensor], list[Tensor]]:
        matched, labels = [], []
        for boxes_i, target in zip(boxes, targets, strict=True):
            gt = target['boxes']
            if gt.numel() == 0:  # background image
                zeros = torch.zeros(len(boxes_i), dtype=torch.int64, device=gt.device)
                matched.append(zeros)
                labels.append(zeros.clone())
                continue
            index = self.matchers[stage](box_ops.box_iou(gt, boxes_i))
            label = target['labels'][index.clamp(min=0)].to(torch.int64)
            label[index < 0] = 0
            matched.append(index.clamp(min=0))
            labels.append(label)
        return matched, labels

    def _sample(
        self, boxes: list[Tensor], matched: list[Tensor], labels: list[Tensor]
    ) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        positive, negative = self.sampler(labels)
        keep = [torch.where(p | n)[0] for p, n in zip(positive, negative, strict=True)]
        return (
            [b[k] for b, k in zip(boxes, keep, strict=True)],
            [m[k] for m, k in zip(matched, keep, strict=True)],
            [lab[k] for lab, k in zip(labels, keep, strict=True)],
        )

    def _losses(
        self,
        features: OrderedDict[str, Tensor],
        proposals: list[Tensor],
        image_shapes: list[tuple[int, int]],
        targets: list[dict[str, Tensor]],
    ) -> dict[str, Tensor]:
        boxes = [
            torch.cat(
                [
                    p,
                    t['boxes'],
                    jitter_boxes(
                        t['boxes'], self.jitter_copies, self.jitter_amount, shape
                    ),
                ]
            )
            for p, t, shape in zip(proposals, targets, image_shapes, strict=True)
        ]
        losses: dict[str, Tensor] = {}
        for stage in range(self.stages):
            matched, labels = self._match(stage, boxes, targets)
            if stage == 0:
                boxes, matched, labels = self._sample(boxes, matched, labels)
                first = (boxes, matched, labels)
            logits, deltas = self._run_stage(stage, features, boxes, image_shapes)
            gt = [_gt_boxes(t, m) for t, m in zip(targets, matched, strict=True)]
            regression = self.box_coders[stage].encode(gt, boxes)
            cls_loss, box_loss = fast_rcnn_loss(
                logits, deltas, torch.cat(labels), torch.cat(regression)
            )
            weight = self.loss_weights[stage]
            losses[f'loss_classifier_stage{stage}'] = cls_loss * weight
            losses[f'loss_box_reg_stage{stage}'] = box_loss * weight
            if stage + 1 < self.stages:
                boxes = _drop_empty(self._refine(stage, deltas, boxes, image_shapes))
        losses['loss_mask'] = self._mask_loss(features, image_shapes, targets, *first)
        return losses

    def _mask_loss(
        self,
        features: OrderedDict[str, Tensor],
        image_shapes: list[tuple[int, int]],
        targets: list[dict[str, Tensor]],
        boxes: list[Tensor],
        matched: list[Tensor],
        labels: list[Tensor],
    ) -> Tensor:
        positive = [torch.where(lab > 0)[0] for lab in labels]
        boxes = [b[p] for b, p in zip(boxes, positive, strict=True)]
        matched = [m[p] for m, p in zip(matched, positive, strict=True)]
        logits = self._mask_logits(features, boxes, image_shapes)
        project = aligned_mask_targets if self.aligned else project_masks_on_boxes
        size = logits.shape[-1]
        truth = torch.cat(
            [
                project(t['masks'], b, m, size)
                for t, b, m in zip(targets, boxes, matched, strict=True)
            ]
        )
        if truth.numel() == 0:
            return logits.sum() * 0
        classes = torch.cat(
            [t['labels'][m] for t, m in zip(targets, matched, strict=True)]
        )
        chosen = logits[torch.arange(len(classes), device=logits.device), classes]
        return F.binary_cross_entropy_with_logits(chosen, truth)

    def _mask_logits(
        self,
        features: OrderedDict[str, Tensor],
        boxes: list[Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> Tensor:
        pooled = self.mask_roi_pool(features, boxes, image_shapes)
        return self.mask_predictor(self.mask_head(pooled))

    def _detect(
        self,
        features: OrderedDict[str, Tensor],
        proposals: list[Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> list[dict[str, Tensor]]:
        boxes, stage_scores = proposals, []
        for stage in range(self.stages):
            logits, deltas = self._run_stage(stage, features, boxes, image_shapes)
            stage_scores.append(logits.softmax(-1))
            boxes = self._refine(stage, deltas, boxes, image_shapes)
        scores = (torch.stack(stage_scores).sum(0) / self.stages).split(
            [len(b) for b in boxes]
        )
        results = []
        for boxes_i, scores_i in zip(boxes, scores, strict=True):
            kept = select_detections(
                boxes_i,
                scores_i,
                self.score_threshold,
                self.nms_threshold,
                self.detections_per_image,
                self.min_box_size,
            )
            results.append(dict(zip(('boxes', 'scores', 'labels'), kept, strict=True)))
        logits = self._mask_logits(
            features, [r['boxes'] for r in results], image_shapes
        )
        masks = maskrcnn_inference(logits, [r['labels'] for r in results])
        for result, mask in zip(results, masks, strict=True):
            result['masks'] = mask
        return results


def _gt_boxes(target: dict[str, Tensor], matched: Tensor) -> Tensor:
    gt = target['boxes']
    if gt.numel() == 0:  # any finite box: background RoIs get no box loss
        return gt.new_zeros(len(matched), 4) + gt.new_tensor([0.0, 0.0, 1.0, 1.0])
    return gt[matched]


def _drop_empty(boxes: list[Tensor]) -> list[Tensor]:
    # Zero-size boxes would give infinite regression targets in the next stage.
    return [b[box_ops.remove_small_boxes(b, 1e-2)] for b in boxes]
