"""Map a folder of scenes into one campaign GeoPackage, then resume it.

    python examples/map_scenes.py --checkpoint MODEL --scenes DIR [--out DIR]
    python examples/map_scenes.py --checkpoint MODEL --stac ITEMS.json [--out DIR]

MODEL is a trained-model file (``model.pt`` from ``rtsgeo demo``) or a training
checkpoint (``.ckpt`` from ``rtsgeo fit``, see examples/train_unimodal.py).
``--stac`` takes the scenes from a STAC ItemCollection instead (bands from the
assets' ``eo:bands``). Without either, three synthetic scenes are generated in
OUT/generated. Scenes at another GSD than the model's are resampled to it as
they are read. The same job on the command line:

    rtsgeo map DIR/*.tif --checkpoint MODEL --out OUT/campaign.gpkg \\
        --quicklook OUT/quicklooks
    rtsgeo map --stac ITEMS.json --checkpoint MODEL --out OUT/campaign.gpkg
    rtsgeo report OUT/campaign.gpkg --out OUT/report.html
"""

from __future__ import annotations

import argparse
from pathlib import Path

import geopandas as gpd

from rtsgeo.campaign import run_campaign, stac_scenes, write_report
from rtsgeo.datasets import make_synthetic_scene
from rtsgeo.predict import PredictorOptions, ScenePredictor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--checkpoint', type=Path, required=True)
    parser.add_argument('--scenes', type=Path, help='folder of GeoTIFF scenes')
    parser.add_argument('--stac', type=Path, help='STAC ItemCollection JSON file')
    parser.add_argument('--out', type=Path, default=Path('rtsgeo-output/map'))
    args = parser.parse_args()
    scenes: list = [args.scenes]
    if args.stac is not None:
        # One scene per item; its VRT (the item's bands, no pixel copied) goes here.
        scenes = stac_scenes(args.stac, args.out / 'stac')
    elif args.scenes is None:
        for seed in range(3):
            # Writes OUT/generated/image/sceneN.tif (and its labels and mask).
            make_synthetic_scene(
                args.out / 'generated', seed=seed, size=256, name=f'scene{seed}'
            )
        scenes = [args.out / 'generated' / 'image']

    # One predictor (model, tiling, thresholds) for the whole campaign.
    options = PredictorOptions(score_threshold=0.5, batch_size=4)
    predictor = ScenePredictor.from_checkpoint(args.checkpoint, options)
    campaign = args.out / 'campaign.gpkg'
    summary = run_campaign(
        scenes, predictor, campaign, crs='EPSG:3413', quicklook_dir=args.out / 'ql'
    )
    print(
        f'mapped {summary.done} scene(s), {summary.polygons} polygon(s), '
        f'{summary.valid_area_m2 / 1e6:.2f} km2 in {summary.seconds:.1f} s'
    )

    # Running again resumes: every scene is already final, nothing is redone.
    again = run_campaign(scenes, predictor, campaign)
    print(f'second run: {again.resumed} scene(s) already done, {again.done} mapped')

    slumps = gpd.read_file(campaign, layer='slumps')
    runs = gpd.read_file(campaign, layer='runs')
    print('slumps columns:', ', '.join(slumps.columns))
    # Both GSDs are recorded: the scene's own and the one the model was trained at.
    columns = ['scene_id', 'status', 'scene_gsd_m', 'model_gsd_m']
    print('runs:', runs[columns].to_dict('records'))

    # One HTML page (opens offline): map by score, histograms, model, scene statuses.
    report = write_report(campaign, args.out / 'report.html')
    print(f'report: {report.out} ({report.slumps} slump(s))')


if __name__ == '__main__':
    main()
