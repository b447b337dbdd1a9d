"""Measure the scene predictor: throughput, overhead over the model, memory.

The benchmark maps a generated synthetic scene and the same scene repeated
2 x 2 (four times the area), each in a fresh Python process so that its peak
resident set size (RSS) is its own. In each process it first maps the scene
end to end (reading, normalisation, inference, merge, vectorisation,
footprint), then runs the model alone over the same tiles in the same batches
(reading not timed), so ``overhead_ratio`` compares like with like on the same
machine. Run ``python -m rtsgeo.benchmark.predict measure ...`` for one scene.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = [
    'describe',
    'measure_scene',
    'run_predict_benchmark',
    'scene_statistics',
    'write_benchmark_scenes',
]

DEFAULT_BENCHMARK_PRESET = 'nano_cascade_rgb_ndvi_nir'


def _peak_rss_mb() -> float:
    """This process's peak resident set size in MB.

    Linux's ``VmHWM`` is the high-water mark of this program's memory alone.
    ``ru_maxrss`` is not: it survives ``exec``, so in a child process it
    starts at the RSS of the parent it was forked from, and a benchmark
    parent that has written a large scene would hide the child's own peak.
    """
    from .model import _rss_mb

    try:
        with open('/proc/self/status') as f:
            fields = dict(line.split(':', 1) for line in f if ':' in line)
        peak = int(fields['VmHWM'].split()[0]) / 1024
    except (OSError, KeyError, ValueError):  # not Linux
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The high-water mark and /proc/self/statm count pages slightly
    # differently; the peak is at least the RSS now.
    return max(peak, _rss_mb())


def measure_scene(
    checkpoint: str,
    scene: str,
    tile_size: int | None,
    batch_size: int,
    score_threshold: float,
    repeats: int = 2,
    workers: int = 2,
    prefetch: int = 2,
    device: str = 'cpu',
) -> dict[str, Any]:
    """Map one scene end to end, then run the model alone over its tiles.

    Call in a fresh process (see :func:`run_predict_benchmark`). On CUDA the
    model-alone pass waits for the device after each batch, so
    ``model_forward_s`` is the time the device needs for the scene's tiles.

    Returns:
        ``tiles``, ``tiles_skipped``, ``polygons``, ``end_to_end_s``,
        ``model_forward_s`` (each the fastest of *repeats*), ``area_km2``,
        ``peak_rss_mb`` (the process's peak RSS) and ``rss_before_mapping_mb``
        (its RSS with the model loaded and warmed up, before mapping), and
        ``overhead_ratio_in_run``: end to end over the model's own calls
        within the fastest end-to-end run (a cross-check that other load on
        the machine cannot skew, as both share the same seconds).
    """
    import torch

    from ..predict.pipeline import release_free_memory
    from ..predict.scene import PredictorOptions, ScenePrediction, ScenePredictor
    from .model import _rss_mb

    torch.manual_seed(0)
    predictor = ScenePredictor.from_checkpoint(
        checkpoint,
        PredictorOptions(
            tile_size=tile_size,
            batch_size=batch_size,
            score_threshold=score_threshold,
            workers=workers,
            prefetch=prefetch,
            device=device,
        ),
    )
    model = predictor.model
    size = predictor.tile_size
    channels = predictor.info.config.in_channels
    sync = torch.cuda.synchronize if predictor.device.type == 'cuda' else _nothing
    with torch.inference_mode():  # warm-up: first calls allocate and plan
        model(torch.zeros(batch_size, channels, size, size, device=predictor.device))
    before = _rss_mb()
    runs: list[tuple[float, float, float]] = []
    outcome: list[ScenePrediction] = []
    timed = _TimedModel(model)
    for _ in range(repeats):
        # Alternate the two measurements and keep the fastest of each: the
        # figures least disturbed by other work on the machine.
        predictor.model, timed.seconds = timed, 0.0
        start = time.perf_counter()
        outcome.append(predictor.predict_scene(scene))
        end_to_end = time.perf_counter() - start
        predictor.model = model
        forward = 0.0
        with predictor.open(scene) as reader:
            for _, images, _ in predictor.iter_batches(reader):
                with torch.inference_mode(), _autocast(predictor):
                    images = images.to(predictor.device)
                    sync()
                    start = time.perf_counter()
                    model(images)
                    sync()
                    forward += time.perf_counter() - start
                # As the predictor does after each batch, untimed: without it
                # this pass alone would grow the process's memory.
                release_free_memory()
            area = reader.width * reader.height * reader.pixel_area_m2 / 1e6
        runs.append((end_to_end, forward, end_to_end / timed.seconds))
    result = outcome[0]
    fastest = min(runs)
    forward = min(r[1] for r in runs)
    return {
        'tiles': result.tiles,
        'tiles_skipped': result.tiles_skipped,
        'polygons': len(result.polygons),
        'end_to_end_s': fastest[0],
        'model_forward_s': forward,
        'overhead_ratio_in_run': fastest[2],
        'area_km2': area,
        'peak_rss_mb': _peak_rss_mb(),
        'rss_before_mapping_mb': before,
    }


def _nothing() -> None:
    pass


def _autocast(predictor: Any) -> Any:
    """The autocast the predictor's pipeline runs the model under."""
    import contextlib

    import torch

    from ..predict.inference import _autocast_dtype

    if not predictor.amp:
        return contextlib.nullcontext()
    device = predictor.device
    return torch.autocast(device.type, dtype=_autocast_dtype(device))


class _TimedModel:
    """The model, adding up the seconds its calls take inside the pipeline."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.seconds = 0.0

    def __call__(self, images: Any) -> Any:
        start = time.perf_counter()
        outputs = self.model(images)
        self.seconds += time.perf_counter() - start
        return outputs


def write_benchmark_scenes(
    directory: Path, size: int, seed: int = 0
) -> tuple[Path, Path]:
    """A synthetic scene and the same scene repeated 2 x 2 (four times the area).

    Returns:
        The base scene's and the large scene's image paths.
    """
    import rasterio
    from rasterio.windows import Window

    from ..datasets import make_synthetic_scene

    base = make_synthetic_scene(
        directory, seed=seed, size=size, n_slumps=max(2, size // 48), nodata_hole=True
    ).image_path
    large = directory / 'image' / 'scene_4x.tif'
    with rasterio.open(base) as src:
        profile = src.profile | {'width': 2 * size, 'height': 2 * size}
        data = src.read()
        with rasterio.open(large, 'w', **profile) as dst:
            for i in range(2):
                for j in range(2):
                    dst.write(data, window=Window(j * size, i * size, size, size))
            for band, name in enumerate(src.descriptions, start=1):
                dst.set_band_description(band, name or '')
    return base, large


def scene_statistics(
    scene: Path, modalities: tuple[str, ...]
) -> dict[str, dict[str, list[float]]]:
    """Normalisation statistics of *modalities* over a (small) scene's valid pixels."""
    import rasterio
    import torch

    from ..modalities import compute_modalities, required_bands
    from ..transforms import compute_modality_stats

    with rasterio.open(scene) as src:
        data = torch.from_numpy(src.read().astype('float32'))
        names = list(src.descriptions)
    bands = {n: data[i] for i, n in enumerate(names) if n in required_bands(modalities)}
    valid = (data != 0).all(0)
    image = compute_modalities(bands, modalities, valid)
    return compute_modality_stats([{'image': image, 'valid': valid}], modalities)


def _preset_checkpoint(preset: str, tile_size: int, scene: Path, path: Path) -> Path:
    """An untrained preset model with statistics of the scene, saved to *path*."""
    import torch

    from ..models import build_model_from_preset, get_preset, save_trained_model

    torch.manual_seed(0)
    config = get_preset(preset, image_size=tile_size)
    model = build_model_from_preset(preset, image_size=tile_size)
    stats = scene_statistics(scene, config.modalities)
    return save_trained_model(path, model, config, stats, name=f'{preset} (untrained)')


def _calibrate_threshold(checkpoint: Path, scene: Path, per_tile: int) -> float:
    """Score that keeps about *per_tile* detections per tile on a few tiles."""
    import torch

    from ..predict.scene import ScenePredictor

    predictor = ScenePredictor.from_checkpoint(checkpoint)
    with predictor.open(scene) as reader, torch.inference_mode():
        _, images, _ = next(iter(predictor.iter_batches(reader)))
        scores = torch.cat([out['scores'] for out in predictor.model(images)])
    ranked = scores.sort(descending=True).values
    index = min(len(ranked) - 1, per_tile * images.shape[0])
    return float(ranked[index]) if len(ranked) else 0.5


def _run_child(
    args: list[str], module: str = 'rtsgeo.benchmark.predict'
) -> dict[str, Any]:
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [root, env.get('PYTHONPATH')]))
    # The allocator runs with its defaults, as in a user's process: the peak
    # RSS (VmHWM) then counts what the heap keeps as well as live data.
    command = [sys.executable, '-m', module, 'measure', *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f'benchmark process failed:\n{done.stderr[-3000:]}')
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def run_predict_benchmark(
    checkpoint: str | None = None,
    preset: str | None = None,
    size: int = 512,
    tile_size: int | None = None,
    batch_size: int = 4,
    score_threshold: float | None = None,
    detections_per_tile: int = 5,
    repeats: int = 2,
    workers: int = 2,
    prefetch: int = 2,
) -> dict[str, Any]:
    """Map a synthetic scene and the same scene at four times the area.

    Args:
        checkpoint: a trained-model file; else an untrained *preset* is used.
        preset: model preset (default ``nano_cascade_rgb_ndvi_nir``).
        size: side of the base scene in pixels (the large one is twice that).
        tile_size: tile side (default: the model's; 128 for a preset).
        batch_size: tiles per forward pass.
        score_threshold: detection threshold; by default 0.5 for a checkpoint,
            and for an untrained preset the score that keeps about
            *detections_per_tile* per tile (random weights score everything
            about 0.5, so a fixed threshold keeps all or nothing).
        detections_per_tile: target of that calibration.
        repeats: end-to-end and model-only passes per scene (fastest kept).
        workers: the predictor's background threads (0, 1 or 2).
        prefetch: batches each background queue holds.

    Returns:
        The figures (see the module docstring and ``rtsgeo benchmark predict``).
    """
    with tempfile.TemporaryDirectory(prefix='rtsgeo-bench-') as tmp:
        work = Path(tmp)
        base, large = write_benchmark_scenes(work, size)
        calibrated = False
        if checkpoint is None:
            preset = preset or DEFAULT_BENCHMARK_PRESET
            tile_size = tile_size or 128
            checkpoint = str(_preset_checkpoint(preset, tile_size, base, work / 'm.pt'))
            if score_threshold is None:
                score_threshold = _calibrate_threshold(
                    Path(checkpoint), base, detections_per_tile
                )
                calibrated = True
        threshold = 0.5 if score_threshold is None else score_threshold
        common = ['--batch-size', str(batch_size), '--score-threshold', str(threshold)]
        common += ['--repeats', str(repeats), f'--workers={workers}']
        common += [f'--prefetch={prefetch}']
        if tile_size:
            common += ['--tile-size', str(tile_size)]
        runs = {
            name: _run_child([checkpoint, str(scene), *common])
            for name, scene in (('base', base), ('x4', large))
        }
    return _summarise(
        runs,
        checkpoint if preset is None else preset,
        tile_size,
        batch_size,
        threshold,
        calibrated,
    )


def _summarise(
    runs: dict[str, dict[str, Any]],
    model: str,
    tile_size: int | None,
    batch_size: int,
    threshold: float,
    calibrated: bool,
) -> dict[str, Any]:
    tiles = sum(r['tiles'] for r in runs.values())
    end_to_end = sum(r['end_to_end_s'] for r in runs.values())
    forward = sum(r['model_forward_s'] for r in runs.values())
    area = sum(r['area_km2'] for r in runs.values())
    base, large = runs['base']['peak_rss_mb'], runs['x4']['peak_rss_mb']
    start_base = runs['base']['rss_before_mapping_mb']
    start_large = runs['x4']['rss_before_mapping_mb']
    return {
        'model': model,
        'tile_size': tile_size,
        'batch_size': batch_size,
        'score_threshold': round(threshold, 4),
        'score_threshold_calibrated': calibrated,
        'tiles': tiles,
        'tiles_per_s': round(tiles / end_to_end, 3),
        'km2_per_h': round(area / end_to_end * 3600, 2),
        'model_forward_s': round(forward, 3),
        'end_to_end_s': round(end_to_end, 3),
        'overhead_ratio': round(end_to_end / forward, 3),
        'overhead_ratio_in_run': round(
            end_to_end
            / sum(
                r['end_to_end_s'] / r['overhead_ratio_in_run'] for r in runs.values()
            ),
            3,
        ),
        'peak_rss_mb_base': round(base, 1),
        'peak_rss_mb_4x': round(large, 1),
        'rss_ratio_4x': round(large / base, 3),
        'mapping_rss_growth_mb_base': round(base - start_base, 1),
        'mapping_rss_growth_mb_4x': round(large - start_large, 1),
        'scenes': {k: {n: round(v, 3) for n, v in r.items()} for k, r in runs.items()},
    }


def describe(row: dict[str, Any]) -> str:
    """The benchmark's figures as a few lines of text."""
    return '\n'.join(
        [
            f'{row["model"]}: {row["tiles"]} tiles of {row["tile_size"]} px, '
            f'batch {row["batch_size"]}, score threshold {row["score_threshold"]}',
            f'  {row["tiles_per_s"]} tiles/s, {row["km2_per_h"]} km2/h',
            f'  end to end {row["end_to_end_s"]} s, model alone '
            f'{row["model_forward_s"]} s: overhead ratio {row["overhead_ratio"]}',
            f'  peak RSS {row["peak_rss_mb_base"]} MB (base), '
            f'{row["peak_rss_mb_4x"]} MB (4x area): ratio {row["rss_ratio_4x"]}',
        ]
    )


def _main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog='python -m rtsgeo.benchmark.predict')
    parser.add_argument('mode', choices=['measure'])
    parser.add_argument('checkpoint')
    parser.add_argument('scene')
    parser.add_argument('--tile-size', type=int)
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--score-threshold', type=float, default=0.5)
    parser.add_argument('--repeats', type=int, default=2)
    parser.add_argument('--workers', type=int, default=0)
    parser.add_argument('--prefetch', type=int, default=2)
    args = parser.parse_args(argv)
    result = measure_scene(
        args.checkpoint,
        args.scene,
        args.tile_size,
        args.batch_size,
        args.score_threshold,
        args.repeats,
        args.workers,
        args.prefetch,
    )
    print(json.dumps(result))


if __name__ == '__main__':
    _main(sys.argv[1:])
