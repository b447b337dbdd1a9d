"""An oracle "model" and scenes made from masks, to test the predictor exactly.

The oracle labels the connected components of the tile's first channel above
zero, tile by tile, as a detector would: an object cut by a tile edge comes out
cut, so only the cross-tile merge can make it whole again. A scene painted
from a mask (bright where the mask is set) turns it into the ground truth.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import rasterio
import torch
from affine import Affine
from scipy import ndimage
from torch import Tensor, nn

from rtsgeo.models import ModelConfig, TrainedModelInfo
from rtsgeo.predict import MergedInstance, Tile, TileInstance

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


class OracleModule(nn.Module):
    """A :class:`ComponentOracle` as a module (what an ensemble holds).

    ``shift`` moves every mask that many columns to the right (zero-filled):
    a model that sees the oracle's objects elsewhere.
    """

    def __init__(self, shift: int = 0) -> None:
        super().__init__()
        self.oracle = ComponentOracle()
        self.shift = shift

    def forward(self, images: Tensor) -> list[dict[str, Tensor]]:
        outputs = self.oracle(images)
        if self.shift:
            for output in outputs:
                masks = torch.zeros_like(output['masks'])
                masks[..., self.shift :] = output['masks'][..., : -self.shift]
                output['masks'] = masks
        return outputs


def oracle_info(tile_size: int = 64, sensor: str | None = None) -> TrainedModelInfo:
    """Oracle model info: RGB + NIR; the stats map 100 below 0 and 1000 above."""
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


def oracle_tile_instances(
    labels: np.ndarray, tiles: list[Tile], score: float = 0.9
) -> Iterator[tuple[Tile, list[TileInstance]]]:
    """Per tile, the 8-connected components of ``labels > 0`` seen in that tile.

    Components are labelled inside each tile, so an object cut by the tile's
    edge, or split into pieces within it, comes out cut like a detector's.
    """
    height, width = labels.shape
    for tile in tiles:
        r0, r1, c0, c1 = tile.bounds
        window = np.zeros((tile.size, tile.size), dtype=bool)
        rs, cs = max(r0, 0), max(c0, 0)
        re, ce = min(r1, height), min(c1, width)
        window[rs - r0 : re - r0, cs - c0 : ce - c0] = labels[rs:re, cs:ce] > 0
        parts, _count = ndimage.label(window, np.ones((3, 3)))
        instances = []
        for index, box in enumerate(ndimage.find_objects(parts), start=1):
            mask = parts[box] == index
            instances.append(
                TileInstance(mask, r0 + box[0].start, c0 + box[1].start, score, tile)
            )
        yield tile, instances


def paint_instances(
    instances: list[MergedInstance], shape: tuple[int, int]
) -> np.ndarray:
    """Instance ids (1, 2, ...) of merged instances on a scene-sized array."""
    out = np.zeros(shape, dtype=np.int32)
    for i, inst in enumerate(instances, start=1):
        h, w = inst.mask.shape
        view = out[inst.row : inst.row + h, inst.col : inst.col + w]
        view[inst.mask] = i
    return out


def whole_blocks(valid: np.ndarray, k: int) -> np.ndarray:
    """The pixels of the k x k blocks of the grid (from the scene's corner)
    whose pixels are all True; a block reaching past the edge is not."""
    out = np.zeros_like(valid)
    for r0 in range(0, valid.shape[0], k):
        for c0 in range(0, valid.shape[1], k):
            window = valid[r0 : r0 + k, c0 : c0 + k]
            if window.shape == (k, k) and window.all():
                out[r0 : r0 + k, c0 : c0 + k] = True
    return out
