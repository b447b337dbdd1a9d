"""``rtsgeo map``: map a campaign of scenes into one GeoPackage (and GeoParquet)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

__all__ = ['add_parser', 'load_predictor', 'run']


#: ``rtsgeo.campaign.export.FORMATS``, repeated so that ``--help`` stays light.
FORMATS = ('gpkg', 'parquet')


def add_parser(subparsers: Any) -> None:
    """Register ``rtsgeo map``."""
    parser = subparsers.add_parser(
        'map',
        help='map slumps in scenes with a trained model (resumable)',
        description=(
            'Map every scene with a trained model into one GeoPackage with layers '
            'slumps, coverage and runs. Rerunning the same command resumes: scenes '
            'already done are skipped, failed ones retried. With --format parquet '
            'the finished GeoPackage is also exported to OUT_STEM.slumps.parquet, '
            'OUT_STEM.coverage.parquet and OUT_STEM.runs.parquet beside it. Exit '
            'status: 0 all scenes done, 1 some failed, 130 interrupted, 2 bad input.'
        ),
    )
    parser.add_argument(
        'scenes',
        nargs='*',
        metavar='SCENES',
        help='scene files, folders, globs or .txt lists of paths (or use --stac)',
    )
    parser.add_argument(
        '--stac',
        type=Path,
        metavar='ITEMS',
        help='a STAC ItemCollection JSON file (or a folder of Item JSON files) as '
        'the scene list: item id = scene id, item datetime = acquisition date; '
        "bands from the assets' eo:bands/raster:bands names or --assets",
    )
    parser.add_argument(
        '--assets',
        metavar='BAND=KEY,...',
        help='with --stac: which asset holds each band, e.g. '
        'red=B04,green=B03,blue=B02,nir=B08 (KEY:N for band N of a multi-band asset)',
    )
    parser.add_argument(
        '--checkpoint',
        required=True,
        nargs='+',
        type=Path,
        metavar='CHECKPOINT',
        help='trained-model file or training checkpoint; several make an ensemble: '
        'every model maps the same tiles and their instances are fused (an object '
        'one model of k found keeps 1/k of its score); they must share '
        'modalities, GSD, tile size and per-scene stretch. Give SCENES before '
        '--checkpoint',
    )
    parser.add_argument(
        '--out',
        required=True,
        type=Path,
        help='output .gpkg (the resumable store, written with every --format)',
    )
    parser.add_argument(
        '--crs', default='EPSG:3413', help='output CRS (default EPSG:3413)'
    )
    parser.add_argument('--tile-size', type=int, help='tile size in pixels')
    parser.add_argument('--overlap', type=int, help='tile overlap in pixels')
    parser.add_argument('--batch-size', type=int, help='tiles per forward pass')
    parser.add_argument(
        '--workers',
        type=int,
        help='background threads: 0 maps serially, 1 reads ahead, 2 (default) also '
        'post-processes',
    )
    parser.add_argument(
        '--prefetch', type=int, help='batches per background queue (default 2)'
    )
    parser.add_argument('--device', help="torch device, e.g. 'cpu' or 'cuda:0'")
    parser.add_argument(
        '--tta', action='store_true', help='flip test-time augmentation'
    )
    parser.add_argument(
        '--sensor',
        help='band order of the scenes when their bands are not described, e.g. '
        "'sentinel2' or 'planetscope' (default: the model's training sensor)",
    )
    parser.add_argument(
        '--resample',
        default='on',
        choices=('on', 'off'),
        help="'on' (default): read scenes resampled on the fly to the GSD the "
        "model was trained at (when its file records one); 'off': map at each "
        "scene's own GSD, warning when it differs from the model's by over 25 %%",
    )
    parser.add_argument(
        '--quality-mask',
        metavar='FORMAT[=PATH]',
        help='which pixels are unobserved (cloud, shadow, snow): FORMAT is scl '
        '(Sentinel-2), udm2 (PlanetScope), qa_pixel (Landsat) or nonzero (any '
        "raster); alone it is the scene's band of that name (a STAC asset "
        "mapped with --assets scl=SCL, a preset's band), with =PATH a raster of "
        'its own, {stem} and {dir} filled from the scene path, e.g. '
        "'scl={dir}/{stem}_SCL.tif'. Unobserved pixels are nodata for the model "
        "and absent from the coverage layer (default: the sensor preset's mask "
        'band, if any, else none)',
    )
    parser.add_argument(
        '--unobserved',
        metavar='CLASS,...',
        help='with --quality-mask: the classes that count as unobserved instead '
        "of the format's default, e.g. cloud_medium,cloud_high,thin_cirrus",
    )
    parser.add_argument(
        '--drop-touching-unobserved',
        action='store_true',
        help='drop slumps whose one-pixel rim touches unobserved or nodata pixels '
        '(unobserved_fraction > 0); by default they are kept, with the fraction',
    )
    parser.add_argument(
        '--score-threshold',
        type=float,
        help='drop detections scoring below this (default 0.5)',
    )
    parser.add_argument(
        '--keep-overlaps',
        action='store_true',
        help='keep overlapping detections as separate polygons (for instance-level '
        'evaluation); by default each pixel belongs to at most one slump',
    )
    parser.add_argument(
        '--min-area',
        type=float,
        default=0.0,
        help='drop polygons smaller than this (m^2, geodesic)',
    )
    parser.add_argument(
        '--simplify',
        type=float,
        default=0.0,
        help='simplification tolerance in scene CRS units (metres)',
    )
    parser.add_argument(
        '--shard', help='i/N: map shard i (0-based) of N into OUT.shard-i-of-N'
    )
    parser.add_argument('--devices', type=int, default=1, help='DDP processes per node')
    parser.add_argument('--num-nodes', type=int, default=1, help='DDP nodes')
    parser.add_argument(
        '--accelerator',
        default='auto',
        choices=('auto', 'cpu', 'cuda', 'gpu'),
        help='DDP accelerator (with --devices > 1)',
    )
    parser.add_argument(
        '--format',
        dest='fmt',
        default='gpkg',
        choices=FORMATS,
        help=(
            "'gpkg' (default): the GeoPackage OUT only; 'parquet': also export "
            'its layers as GeoParquet files OUT_STEM.LAYER.parquet beside it once '
            'the run ends uninterrupted (rerun to refresh them)'
        ),
    )
    parser.add_argument(
        '--quicklook',
        type=Path,
        metavar='DIR',
        help='write a PNG per mapped scene into DIR',
    )
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')
    parser.set_defaults(func=run)


def load_predictor(args: argparse.Namespace, device: str | None = None) -> Any:
    """The scene predictor the options describe (options left unset keep defaults)."""
    from ..errors import ConfigError
    from ..predict.scene import PredictorOptions, ScenePredictor
    from ..quality import parse_quality_mask

    quality = None
    if args.quality_mask:
        quality = parse_quality_mask(args.quality_mask, args.unobserved)
    elif args.unobserved:
        raise ConfigError('--unobserved picks classes of --quality-mask: give both')
    given = {
        'tile_size': args.tile_size,
        'overlap': args.overlap,
        'batch_size': args.batch_size,
        'workers': args.workers,
        'prefetch': args.prefetch,
        'device': device or args.device,
        'tta': args.tta or None,
        'keep_overlaps': args.keep_overlaps or None,
        'sensor': args.sensor,
        'score_threshold': args.score_threshold,
        'resample': args.resample == 'on',
        'quality_mask': quality,
        'drop_touching_unobserved': args.drop_touching_unobserved or None,
    }
    options = PredictorOptions(**{k: v for k, v in given.items() if v is not None})
    return ScenePredictor.from_checkpoint(args.checkpoint, options)


class ResolutionLines:
    """Prints one line per finished scene on the GSD it was mapped at.

    Passes every event on to the progress bars, if any.
    """

    def __init__(self, resample: bool, progress: Any = None) -> None:
        """Initialise a new ResolutionLines.

        Args:
            resample: whether scenes are resampled to the model's GSD.
            progress: the progress bars to pass events on to (None: none).
        """
        self.resample = resample
        self.progress = progress

    def scene_started(self, scene: Any, index: int, total: int) -> None:
        """Pass on."""
        if self.progress is not None:
            self.progress.scene_started(scene, index, total)

    def tiles(self, done: int, total: int) -> None:
        """Pass on."""
        if self.progress is not None:
            self.progress.tiles(done, total)

    def scene_finished(self, records: Any) -> None:
        """Print ``scene ID: 2.5 m -> 5 m (model's GSD)``, then pass on.

        With a quality mask the line also gives the share of the scene's data
        the mask left unobserved.
        """
        from ..resolution import describe_resampling

        run = records.run
        if run['status'] != 'failed':
            text = describe_resampling(
                run['scene_gsd_m'], run['model_gsd_m'], self.resample
            )
            line = f'scene {records.scene_id}: {text}'
            hidden = run.get('unobserved_area_m2')
            if hidden is not None:
                seen = run.get('observed_area_m2') or 0.0
                share = hidden / (hidden + seen) if hidden + seen > 0 else 0.0
                line += f'; {share:.0%} of its data unobserved (quality mask)'
            if self.progress is not None:
                from tqdm import tqdm

                tqdm.write(line)
            else:
                print(line)
        if self.progress is not None:
            self.progress.scene_finished(records)

    def close(self) -> None:
        """Close the progress bars."""
        if self.progress is not None:
            self.progress.close()


def list_scenes(args: argparse.Namespace) -> list[Any]:
    """The campaign's scenes: from SCENES, or from the STAC items of ``--stac``.

    Item VRTs are written into ``OUT_STEM.stac/`` beside the output.

    Raises:
        ConfigError: If both or neither of SCENES and ``--stac`` are given, or
            ``--assets`` comes without ``--stac``.
    """
    from ..campaign.scenes import resolve_scenes
    from ..errors import ConfigError

    if bool(args.scenes) == (args.stac is not None):
        msg = 'give scene files (SCENES) or a STAC item list (--stac ITEMS), not both'
        raise ConfigError(
            msg
            if args.scenes
            else 'no scene given: pass SCENES (before --checkpoint) or --stac'
        )
    if args.stac is None:
        if args.assets:
            raise ConfigError('--assets maps STAC assets to bands: use it with --stac')
        return resolve_scenes(args.scenes)
    from ..campaign.stac import stac_scenes

    out: Path = args.out
    return stac_scenes(args.stac, out.with_name(f'{out.stem}.stac'), args.assets)


def shard_output(out: Path, index: int, count: int) -> Path:
    """Where shard *index* of *count* writes: ``campaign.shard-0-of-4.gpkg``."""
    return out.with_name(f'{out.stem}.shard-{index}-of-{count}{out.suffix}')


def print_exports(out: Path) -> None:
    """Print where the GeoParquet files of campaign *out* are."""
    from ..campaign.export import parquet_paths

    for name, path in parquet_paths(out).items():
        print(f'geoparquet {name}: {path}')


def run(args: argparse.Namespace) -> int:
    """Run the campaign and print a summary."""
    # GDAL's block cache defaults to 5 % of RAM; windowed reads need little.
    os.environ.setdefault('GDAL_CACHEMAX', '256')
    from ..campaign.run import run_campaign
    from ..campaign.scenes import parse_shard, shard_scenes
    from ._progress import TqdmProgress, print_summary

    out: Path = args.out
    scenes = list_scenes(args)
    if args.shard:
        index, count = parse_shard(args.shard)
        scenes = shard_scenes(scenes, index, count)
        out = shard_output(out, index, count)
        print(f'shard {index}/{count}: {len(scenes)} scene(s) -> {out}')
    options = {
        'crs': args.crs,
        'quicklook_dir': args.quicklook,
        'fmt': args.fmt,
        'min_area_m2': args.min_area,
        'simplify': args.simplify,
    }
    if args.devices > 1 or args.num_nodes > 1:
        from ..campaign.distributed import run_campaign_ddp

        summary = run_campaign_ddp(
            scenes,
            lambda device: load_predictor(args, device),
            out,
            devices=args.devices,
            num_nodes=args.num_nodes,
            accelerator=args.accelerator,
            progress=ResolutionLines(
                args.resample == 'on', None if args.no_progress else TqdmProgress()
            ),
            **options,
        )
    else:
        predictor = load_predictor(args)
        progress = ResolutionLines(
            args.resample == 'on', None if args.no_progress else TqdmProgress()
        )
        try:
            summary = run_campaign(scenes, predictor, out, progress=progress, **options)
        finally:
            progress.close()
    print_summary(summary)
    if args.fmt == 'parquet' and not summary.interrupted:
        print_exports(out)
    if summary.interrupted:
        return 130
    return 1 if summary.failed else 0
