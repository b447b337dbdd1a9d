"""An oracle "model" and scenes made from masks, to test the predictor exactly.

The oracle labels the connected components of the tile's first channel above
zero, tile by tile, as a detector would: an object cut by a tile edge comes out
cut, so only the cross-tile merge can make it whole again. A scene painted
from a mask (bright where the mask is set) turns it into the ground truth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
import torch
from affine import Affine
from scipy import ndimage
from torch import Tensor

from rtsgeo.models import ModelConfig, TrainedModelInfo

BANDS = ('blue', 'green', 'red', 'nir')


class ComponentOracle:
    """Connected components (8-connected) of channel 0 > 0, one instance each.

    Scores depend only on the component's size (so a cut object scores
    differently in each tile). ``calls`` counts forward calls and tiles.
    """

    def __init__(self) -> None:
        self.calls = 0
        self.tiles = 0

    def __call__(self, images: Tensor) -> list[dict[str, Tensor]]:
        self.calls += 1
        self.tiles += images.shape[0]
        outputs = []
        for image in images:
            labels, count = ndimage.label(image[0].cpu().numpy() > 0, np.ones((3, 3)))
            ids = np.arange(1, count + 1)
            masks = torch.from_numpy(labels[None] == ids[:, None, None]).float()
            sizes = masks.flatten(1).sum(1)
            outputs.append(
                {
                    'masks': masks[:, None],
                    'scores': 0.6 + 0.3 * sizes / (sizes + 50.0),
                    'boxes': torch.zeros(count, 4),
                    'labels': torch.ones(count, dtype=torch.int64),
                }
            )
        return outputs


def oracle_info(tile_size: int = 64, sensor: str | None = None) -> TrainedModelInfo:
    """Model info for the oracle: RGB + NIR, stats that put 100 below and 1000 above 0."""
    config = ModelConfig(
        modalities=('rgb', 'nir'),
        fusion='conv',
        backbone='mvitv2_nano',
        image_size=tile_size,
    )
    stats = {
        'rgb': {'mean': [550.0] * 3, 'std': [100.0] * 3},
        'nir': {'mean': [550.0], 'std': [100.0]},
    }
    return TrainedModelInfo(config, stats, sensor, 'oracle', '', '')


def write_mask_scene(
    path: Path,
    mask: np.ndarray,
    transform: Affine,
    crs: str,
    valid: np.ndarray | None = None,
    descriptions: bool = True,
    tags: dict[str, str] | None = None,
) -> Path:
    """A 4-band uint16 scene: 1000 on the mask, 100 off it, 0 (nodata) off *valid*."""
    image = np.where(mask > 0, 1000, 100).astype(np.uint16)
    if valid is not None:
        image[~valid] = 0
    height, width = mask.shape
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path,
        'w',
        driver='GTiff',
        width=width,
        height=height,
        count=4,
        dtype='uint16',
        crs=crs,
        transform=transform,
        nodata=0,
    ) as dst:
        for band in range(1, 5):
            dst.write(image, band)
            if descriptions:
                dst.set_band_description(band, BANDS[band - 1])
        if tags:
            dst.update_tags(**tags)
    return path
