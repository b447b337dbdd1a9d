"""Mask round trip on real slumps: the best mask IoU a perfect mask head can reach.

Each slump of the 16 memorisation chips (every tenth ``s2-rts-lubka1`` train
mask by name, 8-connected components) is projected onto its own box as a
28 x 28 mask target and pasted back into the chip, as training and inference
do, once with torchvision's helpers (``aligned_rois=False``) and once with
:mod:`rtsgeo.models.rois` (``aligned_rois=True``). No model is involved: the
figures are the ceiling the sampling leaves to the mask head.

    python benchmarks/mask_roundtrip.py
"""

from __future__ import annotations

import sys

import numpy as np
import rasterio
import torch
from scipy import ndimage
from torchvision.models.detection.roi_heads import (
    paste_masks_in_image,
    project_masks_on_boxes,
)

from rtsgeo._datadir import data_dir
from rtsgeo.datasets._instances import boxes_from_masks
from rtsgeo.models.rois import aligned_mask_targets, paste_masks_aligned


def main() -> int:
    base = data_dir()
    if base is None or not (base / 's2-rts-lubka1').is_dir():
        print('s2-rts-lubka1 not found: set RTSGEO_DATA_DIR', file=sys.stderr)
        return 2
    folder = base / 's2-rts-lubka1' / 'train' / 'mask'
    ious: dict[str, list[float]] = {'torchvision': [], 'aligned': []}
    areas: list[float] = []
    for path in sorted(folder.glob('*.tif'))[::10][:16]:
        with rasterio.open(path) as src:
            labels, count = ndimage.label(src.read(1) > 0, np.ones((3, 3)))
        if count == 0:
            continue
        masks = torch.stack([torch.from_numpy(labels == i + 1) for i in range(count)])
        masks = masks.float()
        boxes = boxes_from_masks(masks)
        index = torch.arange(count)
        size = tuple(masks.shape[-2:])
        legacy = project_masks_on_boxes(masks, boxes, index, 28)[:, None]
        pasted = {
            'torchvision': paste_masks_in_image(legacy, boxes, size, padding=1),
            'aligned': paste_masks_aligned(
                aligned_mask_targets(masks, boxes, index, 28)[:, None], boxes, size
            ),
        }
        truth = masks.bool()
        for kind, probability in pasted.items():
            mask = probability[:, 0] >= 0.5
            inter = (mask & truth).flatten(1).sum(1)
            union = (mask | truth).flatten(1).sum(1)
            ious[kind] += (inter / union).tolist()
        areas += truth.flatten(1).sum(1).tolist()
    small = np.array(areas) <= 16
    print(f'{len(areas)} slumps, {int(small.sum())} of them up to 16 px')
    print('| sampling | median IoU | IoU >= 0.5 | IoU >= 0.5, up to 16 px |')
    print('|---|---|---|---|')
    for kind, values in ious.items():
        v = np.array(values)
        print(
            f'| {kind} | {np.median(v):.2f} | {int((v >= 0.5).sum())} of {len(v)} '
            f'| {int((v[small] >= 0.5).sum())} of {int(small.sum())} |'
        )
    print('command: python benchmarks/mask_roundtrip.py')
    return 0


if __name__ == '__main__':
    sys.exit(main())
