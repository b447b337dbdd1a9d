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
    'build_box_head',
    'build_mask_head',
    'fast_rcnn_loss',
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
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-class score threshold, NMS and top-k of one image's RoIs.

    Args:
        boxes: ``(N, 4)`` class-agnostic boxes, already clipped.
        scores: ``(N, num_classes)`` probabilities, background first.
        score_threshold: drop detections below it.
        nms_threshold: IoU of per-class non-maximum suppression.
        limit: most detections kept.

    Returns:
        Boxes, scores and labels of the kept detections, best first.
    """
    num_classes = scores.shape[1]
    labels = torch.arange(num_classes, device=scores.device).expand_as(scores)[:, 1:]
    boxes = boxes[:, None].expand(-1, num_classes - 1, 4).reshape(-1, 4)
    scores, labels = scores[:, 1:].reshape(-1), labels.reshape(-1)
    keep = torch.where(scores > score_threshold)[0]
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    keep = box_ops.remove_small_boxes(boxes, min_size=1e-2)
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    keep = box_ops.batched_nms(boxes, scores, labels, nms_threshold)[:limit]
    return boxes[keep], scores[keep], labels[keep]
