"""A tiny, seeded folder of RGB chips with COCO annotations (yang2023 layout)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def write_coco_chips(
    root: Path, seed: int = 0, sizes: tuple[tuple[int, int], ...] | None = None
) -> Path:
    """A folder of RGB chips with COCO annotations, in the 2023 RTS data's layout.

    ``coco_rts_train.json`` lists four chips, ``coco_rts_valtest.json`` two
    (PNG and JPEG, under ``images/``). Each chip is noise with one or two
    bright rectangles, annotated as polygons; the last valtest chip has none.

    Args:
        root: folder to write.
        seed: seed of the pixels and the rectangles.
        sizes: ``(width, height)`` of the six chips (default 60-100 px).

    Returns:
        *root*.
    """
    rng = np.random.default_rng(seed)
    sizes = sizes or ((96, 72), (80, 60), (100, 90), (72, 96), (90, 64), (64, 80))
    (root / 'images').mkdir(parents=True, exist_ok=True)
    splits: dict[str, dict[str, list[dict]]] = {
        name: {
            'images': [],
            'annotations': [],
            'categories': [{'id': 1, 'name': 'rts'}],
        }
        for name in ('train', 'valtest')
    }
    for index, (width, height) in enumerate(sizes):
        split = 'train' if index < 4 else 'valtest'
        name = f'{split}_{index:03d}.{"png" if index % 2 else "jpg"}'
        pixels = rng.integers(0, 120, (height, width, 3), dtype=np.uint8)
        coco = splits[split]
        coco['images'].append(
            {'id': index + 1, 'file_name': name, 'width': width, 'height': height}
        )
        for _ in range(0 if index == len(sizes) - 1 else 1 + index % 2):
            w, h = (int(v) for v in rng.integers(8, 24, 2))
            x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
            pixels[y : y + h, x : x + w] = (230, 200, 160)
            coco['annotations'].append(
                {
                    'id': len(coco['annotations']) + 1,
                    'image_id': index + 1,
                    'category_id': 1,
                    'iscrowd': 0,
                    'bbox': [x, y, w, h],
                    'area': w * h,
                    'segmentation': [[x, y, x + w, y, x + w, y + h, x, y + h]],
                }
            )
        Image.fromarray(pixels).save(root / 'images' / name, quality=95)
    for split, coco in splits.items():
        (root / f'coco_rts_{split}.json').write_text(json.dumps(coco))
    return root
