"""Draw mapped slumps over a scene's RGB, NDVI and NIR, beside the true outlines.

    python examples/plot_predictions.py --scene SCENE.tif --pred campaign.gpkg \\
        [--truth labels.gpkg] [--out predictions.png]

``--pred`` is a campaign GeoPackage from ``rtsgeo map`` (layer ``slumps``, any
CRS: polygons are reprojected onto the scene). Predictions are outlined in
yellow, with their score; reference polygons, if given, in red.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import geopandas as gpd
import matplotlib
import numpy as np
import rasterio
import torch

matplotlib.use('Agg')
import matplotlib.pyplot as plt

from rtsgeo.modalities import compute_modalities, resolve_band_names
from rtsgeo.plotting import rgb_quicklook

MODALITIES = ('rgb', 'ndvi', 'nir')


def read_modalities(path: Path) -> tuple[torch.Tensor, np.ndarray, tuple]:
    """The scene's RGB, NDVI and NIR stacked, its valid pixels and its extent."""
    with rasterio.open(path) as src:
        names = resolve_band_names(src.descriptions, str(path))
        data = src.read(masked=True)
        left, bottom, right, top = src.bounds
    valid = ~np.ma.getmaskarray(data).any(axis=0)
    bands = {
        name: torch.from_numpy(np.ma.filled(band, 0).astype(np.float32))
        for name, band in zip(names, data, strict=True)
    }
    stack = compute_modalities(bands, MODALITIES, torch.from_numpy(valid))
    return stack, valid, (left, right, bottom, top)


def outline(ax: plt.Axes, frame: gpd.GeoDataFrame, color: str) -> None:
    for geometry in frame.geometry:
        for polygon in getattr(geometry, 'geoms', [geometry]):
            ax.plot(*polygon.exterior.xy, color=color, linewidth=1.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--scene', type=Path, required=True)
    parser.add_argument('--pred', type=Path, required=True)
    parser.add_argument('--truth', type=Path)
    parser.add_argument('--out', type=Path, default=Path('predictions.png'))
    args = parser.parse_args()

    stack, valid, extent = read_modalities(args.scene)
    with rasterio.open(args.scene) as src:
        crs = src.crs
    pred = gpd.read_file(args.pred, layer='slumps').to_crs(crs)
    pred = pred[pred['scene_id'] == args.scene.stem]
    truth = gpd.read_file(args.truth).to_crs(crs) if args.truth else None

    panels = {
        'RGB': rgb_quicklook(stack[0:3], valid),
        'NDVI': stack[3].numpy(),
        'NIR': stack[4].numpy(),
    }
    figure, axes = plt.subplots(1, 3, figsize=(15, 5.4))
    for ax, (title, image) in zip(axes, panels.items(), strict=True):
        cmap = 'RdYlGn' if title == 'NDVI' else 'gray'
        ax.imshow(image, extent=extent, cmap=None if title == 'RGB' else cmap)
        if truth is not None:
            outline(ax, truth, 'red')
        outline(ax, pred, 'yellow')
        ax.set_title(title)
        ax.set_axis_off()
    for _, row in pred.iterrows():
        point = row.geometry.representative_point()
        axes[0].annotate(f'{row.score:.2f}', (point.x, point.y), color='yellow')
    figure.suptitle(
        f'{args.scene.stem}: {len(pred)} predicted'
        + (f', {len(truth)} true' if truth is not None else '')
    )
    figure.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=90)
    print(f'{len(pred)} predicted slump(s) drawn: {args.out}')


if __name__ == '__main__':
    main()
