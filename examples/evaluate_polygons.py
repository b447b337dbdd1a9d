"""Score predicted slump polygons against reference polygons, as a campaign does.

Writes a synthetic scene (its slump polygons are the reference, in UTM), makes a
prediction GeoPackage like the scene predictor's (layer ``slumps``, column
``score``, EPSG:3413) by shifting and resizing the reference slumps, missing
some and adding false ones, then evaluates it with exact polygon IoU: AP50, AP
and polygon precision / recall / F1 at IoU 0.5. Pass ``--truth FILE`` to use
other reference polygons instead (for example an inventory of
``rts-inventories``). Run:

    python examples/evaluate_polygons.py [--out DIR] [--truth FILE]

The same evaluation from the command line:

    rtsgeo evaluate --pred DIR/pred.gpkg --truth DIR/labels/scene.gpkg
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
import shapely.affinity

from rtsgeo.evaluation import evaluate_files


def fake_predictions(truth: gpd.GeoDataFrame, seed: int = 0) -> gpd.GeoDataFrame:
    """What a decent model might output: most slumps found, a few false ones."""
    rng = np.random.default_rng(seed)
    found = truth.geometry[rng.uniform(size=len(truth)) < 0.85]
    size = np.sqrt(found.area.to_numpy())
    geoms = [
        shapely.affinity.scale(
            shapely.affinity.translate(g, *rng.normal(0, 0.08, 2) * s),
            *rng.uniform(0.9, 1.1, 2),
        )
        for g, s in zip(found, size, strict=True)
    ]
    x0, y0, x1, y1 = truth.total_bounds
    for _ in range(3):  # false positives
        x, y = rng.uniform([x0, y0], [x1, y1])
        geoms.append(shapely.Point(x, y).buffer(rng.uniform(20, 60)))
    scores = np.r_[rng.uniform(0.5, 1.0, len(found)), rng.uniform(0.2, 0.7, 3)]
    frame = gpd.GeoDataFrame({'score': scores}, geometry=geoms, crs=truth.crs)
    return frame.to_crs('EPSG:3413')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--out', type=Path, default=Path('rtsgeo-output/evaluate'))
    parser.add_argument('--truth', type=Path, help='reference polygons (any CRS)')
    args = parser.parse_args()
    truth_path = args.truth
    if truth_path is None:
        from rtsgeo.datasets import make_synthetic_scene  # loads torch: only here

        scene = make_synthetic_scene(args.out, seed=0, n_slumps=20, size=512)
        truth_path = scene.labels_path
    pred_path = args.out / 'pred.gpkg'
    pred_path.parent.mkdir(parents=True, exist_ok=True)
    fake_predictions(gpd.read_file(truth_path)).to_file(pred_path, layer='slumps')

    result = evaluate_files(pred_path, truth_path, iou_threshold=0.5)
    print(result.to_table())
    print(json.dumps(result.to_dict()))


if __name__ == '__main__':
    main()
