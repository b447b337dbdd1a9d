"""Box and mask heads, the class-agnostic box loss and test-time box selection."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.ops import boxes as box_ops

__all__ = [
    'BoxPredictor',
    'DenseSegmentationHead',
    'build_box_head',
    'build_mask_head',
    'dense_segmentation_loss',
    'fast_rcnn_loss',
    'rescore_by_dense_probability',
    'select_detections',
]


class BoxPredictor(nn.Module):
    """Class scores and one class-agnostic box delta per RoI."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        """Build the two linear layers.

        Args:
            in_features: width of the box head's output.
            num_classes: classes including background.
        """
        super().__init__()
        self.cls_score = nn.Linear(in_features, num_classes)
        self.bbox_pred = nn.Linear(in_features, 4)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(N, num_classes)`` logits and ``(N, 4)`` box deltas."""
        x = x.flatten(start_dim=1)
        return self.cls_score(x), self.bbox_pred(x)


def build_box_head(kind: str, channels: int, fc_dim: int) -> nn.Module:
    """A box head on ``(N, channels, 7, 7)`` RoI features.

    Args:
        kind: ``'4conv1fc'`` (detectron2's cascade head: four 3x3 convolutions
            and one fully connected layer) or ``'2fc'`` (Mask R-CNN's two
            fully connected layers).
        channels: RoI feature channels.
        fc_dim: width of the fully connected layer(s).

    Returns:
        The head, giving ``(N, fc_dim)`` features.
    """
    if kind == '4conv1fc':
        return FastRCNNConvFCHead((channels, 7, 7), [channels] * 4, [fc_dim])
    return TwoMLPHead(channels * 7 * 7, fc_dim)


def build_mask_head(channels: int, num_classes: int) -> tuple[nn.Module, nn.Module]:
    """Mask R-CNN's head (four 3x3 convolutions) and predictor (deconv, 1x1)."""
    head = MaskRCNNHeads(channels, [channels] * 4, 1)
    return head, MaskRCNNPredictor(channels, channels, num_classes)


def fast_rcnn_loss(
    class_logits: Tensor, box_deltas: Tensor, labels: Tensor, targets: Tensor
) -> tuple[Tensor, Tensor]:
    """Cross-entropy and smooth-L1 box loss (foreground RoIs only).

    Args:
        class_logits: ``(N, num_classes)``.
        box_deltas: ``(N, 4)`` class-agnostic deltas.
        labels: ``(N,)`` class of each RoI (0 background).
        targets: ``(N, 4)`` encoded regression targets.

    Returns:
        Classification loss and box loss (normalised by the number of RoIs, as
        in torchvision).
    """
    classification = F.cross_entropy(class_logits, labels)
    positive = labels > 0
    box = F.smooth_l1_loss(
        box_deltas[positive], targets[positive], beta=1 / 9, reduction='sum'
    )
    return classification, box / max(labels.numel(), 1)


def select_detections(
    boxes: Tensor,
    scores: Tensor,
    score_threshold: float,
    nms_threshold: float,
    limit: int,
    min_size: float = 1e-2,
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-class score threshold, NMS and top-k of one image's RoIs.

    Args:
        boxes: ``(N, 4)`` class-agnostic boxes, already clipped.
        scores: ``(N, num_classes)`` probabilities, background first.
        score_threshold: drop detections below it.
        nms_threshold: IoU of per-class non-maximum suppression.
        limit: most detections kept.
        min_size: boxes narrower or lower than this (pixels) are dropped.

    Returns:
        Boxes, scores and labels of the kept detections, best first.
    """
    num_classes = scores.shape[1]
    labels = torch.arange(num_classes, device=scores.device).expand_as(scores)[:, 1:]
    boxes = boxes[:, None].expand(-1, num_classes - 1, 4).reshape(-1, 4)
    scores, labels = scores[:, 1:].reshape(-1), labels.reshape(-1)
    keep = torch.where(scores > score_threshold)[0]
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    # Slivers thinner than a pixel hold no pixel of an object (seen scoring 0.45
    # along tile edges after short trainings).
    keep = box_ops.remove_small_boxes(boxes, min_size=max(min_size, 1e-2))
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    keep = box_ops.batched_nms(boxes, scores, labels, nms_threshold)[:limit]
    return boxes[keep], scores[keep], labels[keep]


class DenseSegmentationHead(nn.Module):
    """RTS logits for every pixel from one pyramid level (auxiliary loss only).

    A 3x3 convolution, ReLU and a 1x1 convolution, upsampled bilinearly to the
    input size. Its loss adds per-pixel supervision to the shared features;
    its output is not used at inference.
    """

    def __init__(self, channels: int) -> None:
        """Build the two convolutions.

        Args:
            channels: channels of the pyramid level.
        """
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.logits = nn.Conv2d(channels, 1, 1)

    def forward(self, features: Tensor, size: tuple[int, int] | torch.Size) -> Tensor:
        """``(B, 1, H, W)`` logits at the input ``size``."""
        x = self.logits(F.relu(self.conv(features)))
        return F.interpolate(x, size=tuple(size), mode='bilinear', align_corners=False)


def dense_segmentation_loss(logits: Tensor, targets: list[dict[str, Tensor]]) -> Tensor:
    """Binary cross-entropy plus soft Dice against the union of instance masks.

    Dice keeps the loss informative when objects cover a fraction of a
    percent of the pixels, where cross-entropy alone is satisfied by
    predicting background everywhere.

    Args:
        logits: ``(B, 1, H, W)`` logits.
        targets: one dict per image with ``masks`` (``(N, H, W)``, N may be 0).

    Returns:
        The scalar loss.
    """
    truth = torch.stack(
        [
            t['masks'].amax(0).to(logits.dtype)
            if len(t['masks'])
            else logits.new_zeros(logits.shape[-2:])
            for t in targets
        ]
    )[:, None]
    bce = F.binary_cross_entropy_with_logits(logits, truth)
    prob = logits.sigmoid()
    dice = 1 - (2 * (prob * truth).sum() + 1) / (prob.sum() + truth.sum() + 1)
    return bce + dice


def rescore_by_dense_probability(
    result: dict[str, Tensor], probability: Tensor, weight: float
) -> dict[str, Tensor]:
    """Blend each detection's score with the dense RTS probability under its mask.

    The new score is ``score ** (1 - weight) * dense ** weight``, where
    ``dense`` is the mean of ``probability`` over the detection's mask
    (pixels >= 0.5), as mask-scoring detectors rate a detection by its mask:
    the dense head learns from every pixel, the box classifier from a few
    RoIs per object. Detections are sorted again by the new score.

    Args:
        result: one image's detections with ``scores`` ``(N,)`` and ``masks``
            ``(N, 1, H, W)`` probabilities at the input's size.
        probability: ``(H, W)`` dense RTS probability of the same image.
        weight: 0 keeps the scores, 1 uses the dense probability alone.

    Returns:
        A new dict with the blended ``scores``, best first.
    """
    if len(result['scores']) == 0:
        return result
    masks = (result['masks'][:, 0] >= 0.5).to(probability.dtype)
    area = masks.flatten(1).sum(1)
    dense = (masks * probability).flatten(1).sum(1) / area.clamp(min=1)
    scores = (
        result['scores'].clamp(min=1e-6) ** (1 - weight)
        * dense.clamp(min=1e-6) ** weight
    )
    order = scores.argsort(descending=True)
    rescored = {key: value[order] for key, value in result.items()}
    rescored['scores'] = scores[order]
    return rescored
