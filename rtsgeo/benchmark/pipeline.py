"""Measure everything but the model: the scene pipeline with a stand-in model.

``rtsgeo benchmark predict --pipeline-only`` maps a generated synthetic scene
and the same scene repeated 2 x 2 through the campaign (reading,
normalisation, threshold, merge, vectorisation, footprint, GeoPackage) with
:class:`StandInModel` in place of the detector: it returns a fixed set of
objects per tile and sleeps a set time per tile, so the model costs no CPU
and the figures are the ceiling of the pipeline around a model of that
speed. Each scene is mapped in a fresh process, so its peak resident set size
(RSS) is its own. With a quality-mask format, a generated cloud mask of that
format is written beside each scene (see :mod:`rtsgeo.benchmark.clouds`) and
the scenes are mapped with it. Run ``python -m rtsgeo.benchmark.pipeline
measure ...`` for one scene.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import torch
from torch import Tensor

__all__ = [
    'StandInModel',
    'describe_pipeline',
    'measure_pipeline',
    'run_pipeline_benchmark',
]

_MODALITIES = ('rgb', 'ndvi', 'nir')
_STAGES = ('read_s', 'model_s', 'post_s', 'write_s')


class StandInModel:
    """A detector's output contract at a fixed cost and no CPU.

    Every tile gets the same *objects* square instances (side an eighth of
    the tile, on a diagonal, scores from 0.9 down), so neighbouring tiles
    share objects for the merge to join; the call sleeps *model_ms* per tile.
    """

    def __init__(self, objects: int, model_ms: float) -> None:
        """Initialise a new StandInModel.

        Args:
            objects: instances returned per tile.
            model_ms: milliseconds slept per tile.
        """
        self.objects = objects
        self.model_ms = model_ms
        self._cache: dict[int, dict[str, Tensor]] = {}

    def _instances(self, size: int) -> dict[str, Tensor]:
        if size not in self._cache:
            side = max(size // 8, 2)
            masks = torch.zeros(self.objects, 1, size, size)
            boxes = torch.zeros(self.objects, 4)
            step = max((size - side) // max(self.objects, 1), 1)
            for k in range(self.objects):
                at = (k * step) % (size - side)
                masks[k, 0, at : at + side, at : at + side] = 1.0
                boxes[k] = torch.tensor([at, at, at + side, at + side])
            self._cache[size] = {
                'masks': masks,
                'boxes': boxes,
                'scores': torch.linspace(0.9, 0.6, self.objects),
                'labels': torch.ones(self.objects, dtype=torch.int64),
            }
        return self._cache[size]

    def __call__(self, images: Tensor) -> list[dict[str, Tensor]]:
        """The instances of every tile, after sleeping ``model_ms`` per tile."""
        time.sleep(self.model_ms * images.shape[0] / 1000)
        return [dict(self._instances(images.shape[-1])) for _ in images]


def _timed(
    stack: contextlib.ExitStack, owner: Any, name: str, seconds: list[float]
) -> None:
    """Add the wall time of each call of ``owner.name`` to ``seconds[0]``.

    The attribute is restored when *stack* closes.
    """
    method: Callable[..., Any] = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            seconds[0] += time.perf_counter() - start

    stack.enter_context(mock.patch.object(owner, name, timed))


def _one_pass(predictor: Any, scene: str) -> dict[str, Any]:
    """Map *scene* once into a new GeoPackage, timing the stages."""
    from ..campaign import run_campaign
    from ..predict import scene as scene_module
    from ..predict.reader import SceneReader

    read, post, forward, mapping = [0.0], [0.0], [0.0], [0.0]
    with (
        contextlib.ExitStack() as stack,
        tempfile.TemporaryDirectory(prefix='rtsgeo-pipeline-') as tmp,
    ):
        _timed(stack, SceneReader, 'read_into', read)
        _timed(stack, scene_module._RowAssembler, 'add', post)
        _timed(stack, scene_module._RowAssembler, 'finish', post)
        _timed(stack, predictor, 'model', forward)
        _timed(stack, predictor, 'predict_scene', mapping)
        start = time.perf_counter()
        summary = run_campaign([scene], predictor, Path(tmp) / 'out.gpkg')
        end_to_end = time.perf_counter() - start
    if summary.failures:
        raise RuntimeError(f'the benchmark scene failed: {summary.failures}')
    return {
        'tiles': summary.tiles,
        'polygons': summary.polygons,
        'end_to_end_s': end_to_end,
        'read_s': read[0],
        'model_s': forward[0],
        'post_s': post[0],
        'write_s': end_to_end - mapping[0],
    }


def measure_pipeline(
    scene: str,
    stats: dict[str, dict[str, list[float]]],
    tile_size: int,
    batch_size: int,
    workers: int,
    prefetch: int,
    model_ms: float,
    objects: int,
    warmup: str | None = None,
    repeats: int = 1,
    quality_mask: str | None = None,
) -> dict[str, Any]:
    """Map one scene into a campaign GeoPackage with :class:`StandInModel`.

    Call in a fresh process (see :func:`run_pipeline_benchmark`) for a
    peak RSS of its own. The reader's and the post-processing's methods are
    wrapped to time them while it runs. With *warmup*, that scene is mapped
    first, untimed, so that what a process pays once (imports done on first
    use, GDAL's and the GeoPackage driver's start-up) is left out, as in a
    campaign of many scenes. The scene is mapped *repeats* times and the
    fastest pass kept, as the model benchmark does: on a shared machine the
    fastest pass is the one least disturbed.

    Args:
        scene: the scene raster.
        stats: normalisation statistics of the three modalities.
        tile_size: tile side.
        batch_size: tiles per model call.
        workers: the predictor's background threads (0, 1 or 2).
        prefetch: batches each background queue holds.
        model_ms: milliseconds the stand-in model sleeps per tile.
        objects: instances the stand-in model returns per tile.
        warmup: a scene mapped first, untimed (None: none).
        repeats: passes over the scene; the fastest is reported.
        quality_mask: the predictor's quality mask (see
            :class:`~rtsgeo.predict.PredictorOptions`); None: none. With a
            mask, each pass is followed by one without it, and the fastest
            of those is given too.

    Returns:
        ``tiles``, ``polygons``, ``end_to_end_s``, ``area_km2``,
        ``peak_rss_mb``, with a mask ``end_to_end_s_without_mask``, and the
        seconds spent in ``read_s`` (reading and
        normalising tiles), ``model_s`` (the stand-in's calls),
        ``post_s`` (threshold, merge, vectorise) and ``write_s`` (records,
        reprojection and the GeoPackage). With background workers the
        stages overlap, so they add up to more than ``end_to_end_s``.
    """
    from ..campaign import run_campaign
    from ..models import TrainedModelInfo, get_preset
    from ..predict.scene import PredictorOptions, ScenePredictor
    from .predict import _peak_rss_mb

    config = get_preset('nano_cascade_rgb_ndvi_nir', image_size=tile_size)
    info = TrainedModelInfo(config, stats, None, 'stand-in', '', '')
    model = StandInModel(objects, model_ms)
    options = PredictorOptions(
        batch_size=batch_size,
        workers=workers,
        prefetch=prefetch,
        quality_mask=quality_mask,
    )
    predictor = ScenePredictor(model, info, options)
    # With a mask, the same scene without it too, passes taking turns, so
    # that the drop compares passes seconds apart in one process.
    predictors = {'mask': predictor}
    if quality_mask is not None:
        plain = dataclasses.replace(options, quality_mask=None)
        predictors['plain'] = ScenePredictor(model, info, plain)
    if warmup is not None:
        with tempfile.TemporaryDirectory(prefix='rtsgeo-pipeline-') as tmp:
            for name, each in predictors.items():
                run_campaign([warmup], each, Path(tmp) / f'warmup-{name}.gpkg')
    passes: dict[str, list[dict[str, Any]]] = {name: [] for name in predictors}
    for _ in range(max(repeats, 1)):
        for name, each in predictors.items():
            passes[name].append(_one_pass(each, scene))
    best = {
        name: min(runs, key=lambda figures: figures['end_to_end_s'])
        for name, runs in passes.items()
    }
    with predictor.open(scene) as reader:
        area = reader.width * reader.height * reader.pixel_area_m2 / 1e6
    row = {
        **best['mask'],
        'area_km2': area,
        'peak_rss_mb': _peak_rss_mb(),
    }
    if 'plain' in best:
        row['end_to_end_s_without_mask'] = best['plain']['end_to_end_s']
    return row


def run_pipeline_benchmark(
    size: int = 4096,
    tile_size: int = 512,
    batch_size: int = 8,
    workers: int = 2,
    prefetch: int = 2,
    model_ms: float = 0.0,
    objects: int = 5,
    repeats: int = 2,
    quality_mask: str | None = None,
) -> dict[str, Any]:
    """Map a synthetic scene and the same scene at four times the area.

    Each is mapped in a process of its own after a warm-up scene one tile wide,
    so the figures are those of a campaign's steady state.

    Args:
        size: side of the base scene in pixels (the large one is twice that).
        tile_size: tile side.
        batch_size: tiles per model call.
        workers: the predictor's background threads (0, 1 or 2).
        prefetch: batches each background queue holds.
        model_ms: milliseconds the stand-in model sleeps per tile.
        objects: instances the stand-in model returns per tile.
        repeats: passes over each scene in its process; the fastest is kept.
        quality_mask: a quality-mask format (``scl``, ``udm2``, ``qa_pixel``,
            ``nonzero``): map every scene with a generated cloud mask of that
            format (:func:`~rtsgeo.benchmark.clouds.write_cloud_mask`), and
            without it, passes taking turns in each process; None: without
            a mask only.

    Returns:
        The figures: ``tiles``, ``tiles_per_s``, ``km2_per_h``, the stage
        seconds of both scenes together, ``peak_rss_mb_base``,
        ``peak_rss_mb_4x`` and ``rss_ratio_4x``; with a mask also
        ``tiles_per_s_without_mask`` and ``mask_drop_pct``, the throughput
        lost to the mask in percent (fastest passes of each).
    """
    from ..datasets import make_synthetic_scene
    from .predict import _run_child, scene_statistics, write_benchmark_scenes

    with tempfile.TemporaryDirectory(prefix='rtsgeo-bench-') as tmp:
        base, large = write_benchmark_scenes(Path(tmp), size)
        # The stand-in model returns its instances whatever the pixels, so
        # the warm-up scene needs no slumps.
        warmup = make_synthetic_scene(
            Path(tmp) / 'warmup', seed=1, size=tile_size, n_slumps=0
        ).image_path
        # Statistics here, from the base scene: computing them reads a whole
        # scene, which would dwarf the pipeline's own peak memory.
        stats = Path(tmp) / 'stats.json'
        stats.write_text(json.dumps(scene_statistics(base, _MODALITIES)))
        masked = []
        if quality_mask is not None:
            from ..quality import get_mask_format
            from .clouds import write_cloud_mask

            fmt = get_mask_format(quality_mask).name
            for scene in (base, large, warmup):
                write_cloud_mask(scene, fmt)
            masked = [f'--quality-mask={fmt}={{dir}}/{{stem}}_{fmt}.tif']
        common = [
            f'--stats={stats}',
            f'--tile-size={tile_size}',
            f'--batch-size={batch_size}',
            f'--workers={workers}',
            f'--prefetch={prefetch}',
            f'--model-ms={model_ms}',
            f'--objects={objects}',
            f'--warmup={warmup}',
            f'--repeats={repeats}',
            *masked,
        ]
        runs = {
            name: _run_child([str(scene), *common], 'rtsgeo.benchmark.pipeline')
            for name, scene in (('base', base), ('x4', large))
        }
    total = {
        key: sum(r[key] for r in runs.values())
        for key in (*('tiles', 'polygons', 'end_to_end_s', 'area_km2'), *_STAGES)
    }
    seconds = total['end_to_end_s']
    paired = {}
    if quality_mask is not None:
        plain_s = sum(r['end_to_end_s_without_mask'] for r in runs.values())
        paired = {
            'tiles_per_s_without_mask': round(total['tiles'] / plain_s, 3),
            'mask_drop_pct': round(100 * (1 - plain_s / seconds), 2),
        }
    base_rss, large_rss = runs['base']['peak_rss_mb'], runs['x4']['peak_rss_mb']
    return {
        'model': 'stand-in',
        'scene_size': size,
        'tile_size': tile_size,
        'batch_size': batch_size,
        'workers': workers,
        'prefetch': prefetch,
        'model_ms': model_ms,
        'objects': objects,
        'repeats': repeats,
        'quality_mask': quality_mask,
        'tiles': total['tiles'],
        'polygons': total['polygons'],
        'tiles_per_s': round(total['tiles'] / seconds, 3),
        'km2_per_h': round(total['area_km2'] / seconds * 3600, 2),
        **paired,
        'end_to_end_s': round(seconds, 3),
        **{key: round(total[key], 3) for key in _STAGES},
        'peak_rss_mb_base': round(base_rss, 1),
        'peak_rss_mb_4x': round(large_rss, 1),
        'rss_ratio_4x': round(large_rss / base_rss, 3),
        'scenes': {k: {n: round(v, 3) for n, v in r.items()} for k, r in runs.items()},
    }


def describe_pipeline(row: dict[str, Any]) -> str:
    """The pipeline benchmark's figures as a few lines of text."""
    return '\n'.join(
        [
            f'stand-in model ({row["model_ms"]} ms/tile, {row["objects"]} '
            f'objects/tile): {row["tiles"]} tiles of {row["tile_size"]} px, '
            f'batch {row["batch_size"]}, workers {row["workers"]}, '
            f'quality mask {row.get("quality_mask") or "none"}',
            f'  {row["tiles_per_s"]} tiles/s, {row["km2_per_h"]} km2/h',
            *(
                [
                    f'  without the mask, passes taking turns: '
                    f'{row["tiles_per_s_without_mask"]} tiles/s; the mask costs '
                    f'{row["mask_drop_pct"]} % of the throughput'
                ]
                if 'mask_drop_pct' in row
                else []
            ),
            f'  end to end {row["end_to_end_s"]} s; reading {row["read_s"]} s, '
            f'model {row["model_s"]} s, post-processing {row["post_s"]} s, '
            f'writing {row["write_s"]} s',
            f'  peak RSS {row["peak_rss_mb_base"]} MB (base), '
            f'{row["peak_rss_mb_4x"]} MB (4x area): ratio {row["rss_ratio_4x"]}',
        ]
    )


def _main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog='python -m rtsgeo.benchmark.pipeline')
    parser.add_argument('mode', choices=['measure'])
    parser.add_argument('scene')
    parser.add_argument('--stats', required=True, help='JSON statistics file')
    parser.add_argument('--tile-size', type=int, default=512)
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--workers', type=int, default=0)
    parser.add_argument('--prefetch', type=int, default=2)
    parser.add_argument('--model-ms', type=float, default=0.0)
    parser.add_argument('--objects', type=int, default=5)
    parser.add_argument('--warmup', help='a scene mapped first, untimed')
    parser.add_argument('--repeats', type=int, default=1, help='fastest pass kept')
    parser.add_argument('--quality-mask', help='FORMAT=PATH of the mask')
    args = parser.parse_args(argv)
    result = measure_pipeline(
        args.scene,
        json.loads(Path(args.stats).read_text()),
        args.tile_size,
        args.batch_size,
        args.workers,
        args.prefetch,
        args.model_ms,
        args.objects,
        args.warmup,
        args.repeats,
        args.quality_mask,
    )
    print(json.dumps(result))


if __name__ == '__main__':
    _main(sys.argv[1:])
