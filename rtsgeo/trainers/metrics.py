"""COCO-style instance metrics of model outputs, through torchmetrics.

The model returns per image ``boxes``, ``scores``, ``labels`` and ``masks``
(``(N, 1, H, W)`` probabilities); batches carry ``bbox_xyxy``, ``label`` and
``mask`` (``(N, H, W)`` uint8). Predicted masks are binarised at 0.5, as
detectron2 and torchvision do before COCO evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchmetrics.detection import MeanAveragePrecision

__all__ = [
    'COCO_IOU_THRESHOLDS',
    'MASK_THRESHOLD',
    'METRIC_KEYS',
    'RegionAP50',
    'build_map_metric',
    'metric_predictions',
    'metric_targets',
    'select_metrics',
]

#: Probability above which a predicted mask pixel belongs to the instance.
MASK_THRESHOLD = 0.5

#: COCO's IoU thresholds exactly as pycocotools makes them (float64). torchmetrics'
#: default float32 ones round differently, which changes AP@[.5:.95] and recall
#: when an IoU equals a threshold (common with small integer masks).
COCO_IOU_THRESHOLDS: list[float] = np.linspace(0.5, 0.95, 10).tolist()

#: torchmetrics keys reported for each IoU type: AP, AP50, AP75, recall.
METRIC_KEYS: tuple[str, ...] = ('map', 'map_50', 'map_75', 'mar_100')


def build_map_metric(
    iou_types: tuple[str, ...] = ('segm', 'bbox'), backend: str = 'pycocotools'
) -> MeanAveragePrecision:
    """A COCO mean-average-precision metric for masks and boxes.

    Args:
        iou_types: ``'segm'`` (masks) and/or ``'bbox'``.
        backend: ``'pycocotools'`` or ``'faster_coco_eval'`` (same numbers).

    Returns:
        The metric; :meth:`compute` gives keys like ``segm_map_50``.
    """
    return MeanAveragePrecision(
        iou_type=iou_types,  # type: ignore[arg-type]
        iou_thresholds=COCO_IOU_THRESHOLDS,
        backend=backend,  # type: ignore[arg-type]
    )


def metric_predictions(
    outputs: Sequence[Mapping[str, Tensor]],
) -> list[dict[str, Tensor]]:
    """Model outputs as torchmetrics predictions (boolean masks)."""
    preds = []
    for out in outputs:
        masks = out['masks']
        if masks.dim() == 4:
            masks = masks[:, 0]
        preds.append(
            {
                'boxes': out['boxes'].detach().float(),
                'scores': out['scores'].detach().float(),
                'labels': out['labels'].detach().long(),
                'masks': masks.detach() > MASK_THRESHOLD,
            }
        )
    return preds


def metric_targets(batch: Mapping[str, Any]) -> list[dict[str, Tensor]]:
    """A batch's instance targets as torchmetrics targets."""
    return [
        {'boxes': boxes.float(), 'labels': labels.long(), 'masks': masks.bool()}
        for boxes, labels, masks in zip(
            batch['bbox_xyxy'], batch['label'], batch['mask'], strict=True
        )
    ]


def select_metrics(values: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The reported keys of a computed metric, named ``{prefix}_{type}_{key}``."""
    out = {}
    for iou_type in ('segm', 'bbox'):
        for key in METRIC_KEYS:
            name = f'{iou_type}_{key}'
            if name in values:
                out[f'{prefix}_{name}'] = values[name].float()
    return out


class RegionAP50:
    """Mask AP50 per region name, for batches that carry ``region``.

    Not a module: its metrics are made on first sight of a region and live on
    the device of the predictions they receive.
    """

    def __init__(self, backend: str = 'pycocotools') -> None:
        """Start with no region.

        Args:
            backend: COCO evaluation backend of the per-region metrics.
        """
        self.backend = backend
        self.metrics: dict[str, MeanAveragePrecision] = {}

    def update(
        self,
        regions: Sequence[str | None],
        preds: list[dict[str, Tensor]],
        targets: list[dict[str, Tensor]],
    ) -> None:
        """Add the windows of named regions (others are skipped)."""
        for region, pred, target in zip(regions, preds, targets, strict=True):
            if region is None:
                continue
            name = str(region)
            metric = self.metrics.get(name)
            if metric is None:
                metric = build_map_metric(('segm',), self.backend)
                self.metrics[name] = metric
            metric.to(pred['masks'].device).update([pred], [target])

    def compute(self, prefix: str) -> dict[str, Tensor]:
        """``{prefix}_segm_map_50_{region}`` for each region seen, then reset."""
        out = {}
        for name, metric in sorted(self.metrics.items()):
            value = metric.compute()['map_50']
            out[f'{prefix}_segm_map_50_{_slug(name)}'] = torch.as_tensor(value).float()
        self.metrics.clear()
        return out


def _slug(name: str) -> str:
    return ''.join(c if c.isalnum() else '_' for c in name.strip()).lower()
