"""The mapping and training figures of one CUDA device, as one JSON object.

    python benchmarks/gpu_check.py                 # on a GPU machine (< 6 min)
    python benchmarks/gpu_check.py --dry-run       # the same steps, tiny, on CPU

On the device it measures, for the paper's model
(``cascade_mvitv2_b_rgb_ndvi_nir_residual_cross_attention``, 512 px tiles):

* ``step_memory``: peak CUDA memory of one training step at batch 1, with
  trainable and with frozen trunks, beside the paper's Table 2 (3361 MB and
  1754 MB);
* ``inference``: tiles/s in eval mode at batch 8 and 16 under bfloat16
  autocast (float16 where the device has no bfloat16);
* ``mapping``: the scene predictor on a generated 8192 px scene, measured as
  ``rtsgeo benchmark predict`` measures one scene: tiles/s end to end, and the
  device's busy share, the device time of the same tiles alone (synchronised)
  over the end-to-end time;
* ``data``: ``rtsgeo benchmark data`` with 8 workers on ``--data-root``
  (default ``$RTSGEO_DATA_DIR/s2-rts-lubka1``), if it is there.

Without CUDA it prints one line and exits 2. ``--dry-run`` runs every step on
the CPU with ``nano_cascade_rgb_ndvi_nir``, a 192 px scene and synthetic data
(memory figures are then null): a check of this script, not a measurement.
A step that fails records its error and the others still run (exit 1).
Run from the repository root (PYTHONPATH=. when rtsgeo is installed elsewhere).
"""

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

PAPER_PRESET = 'cascade_mvitv2_b_rgb_ndvi_nir_residual_cross_attention'
DRY_PRESET = 'nano_cascade_rgb_ndvi_nir'
#: Paper Table 2: training memory of the three-modality model (MB).
PAPER_STEP_MB = {'trainable_trunks': 3361, 'frozen_trunks': 1754}


class Settings:
    """What to run where: the real check or the dry run."""

    def __init__(self, dry_run: bool, data_root: str | None) -> None:
        self.dry_run = dry_run
        self.device = torch.device('cpu' if dry_run else 'cuda')
        self.preset = DRY_PRESET if dry_run else PAPER_PRESET
        self.tile = 64 if dry_run else 512
        self.batches = (2, 4) if dry_run else (8, 16)
        self.scene_size = 192 if dry_run else 8192
        self.data_workers = 0 if dry_run else 8
        self.data_root = data_root
        self.amp = not dry_run
        self.repeats = 1 if dry_run else 3

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        if not self.amp:
            return contextlib.nullcontext()
        bf16 = torch.cuda.is_bf16_supported()
        return torch.autocast('cuda', torch.bfloat16 if bf16 else torch.float16)

    def sync(self) -> None:
        if self.device.type == 'cuda':
            torch.cuda.synchronize()


def _target(size: int) -> dict[str, torch.Tensor]:
    mask = torch.zeros(1, size, size, dtype=torch.uint8)
    mask[0, size // 4 : size // 2, size // 4 : size // 2] = 1
    q = float(size // 4)
    return {
        'boxes': torch.tensor([[q, q, 2 * q, 2 * q]]),
        'labels': torch.ones(1, dtype=torch.int64),
        'masks': mask,
    }


def step_memory(s: Settings) -> dict[str, Any]:
    """Peak device memory of one training step, trainable and frozen trunks."""
    from rtsgeo.models import build_model_from_preset

    row: dict[str, Any] = {'preset': s.preset, 'tile': s.tile, 'paper_mb': None}
    if not s.dry_run:
        row['paper_mb'] = PAPER_STEP_MB
    for key, frozen in (('trainable_trunks', False), ('frozen_trunks', True)):
        torch.manual_seed(0)
        model = build_model_from_preset(
            s.preset, image_size=s.tile, freeze_trunks=frozen
        )
        model = model.to(s.device).train()
        config = model.config
        image = torch.randn(1, config.in_channels, s.tile, s.tile, device=s.device)
        target = {k: v.to(s.device) for k, v in _target(s.tile).items()}
        if s.device.type == 'cuda':
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        sum(model(image, [target]).values()).backward()
        s.sync()
        row[key] = {
            'peak_mb': (
                round(torch.cuda.max_memory_allocated() / 2**20, 1)
                if s.device.type == 'cuda'
                else None
            ),
            'step_s': round(time.perf_counter() - start, 3),
        }
        del model, image, target
    return row


def inference(s: Settings) -> dict[str, Any]:
    """Eval-mode tiles/s at each batch size, under autocast on the device."""
    from rtsgeo.models import build_model_from_preset

    torch.manual_seed(0)
    model = build_model_from_preset(s.preset, image_size=s.tile).to(s.device).eval()
    channels = model.config.in_channels
    row: dict[str, Any] = {'preset': s.preset, 'tile': s.tile, 'autocast': s.amp}
    for batch in s.batches:
        images = torch.randn(batch, channels, s.tile, s.tile, device=s.device)
        with torch.inference_mode(), s.autocast():
            model(images)  # warm-up
            s.sync()
            start = time.perf_counter()
            for _ in range(s.repeats):
                model(images)
            s.sync()
        seconds = time.perf_counter() - start
        row[f'batch_{batch}_tiles_per_s'] = round(batch * s.repeats / seconds, 2)
    return row


def _threshold(model: torch.nn.Module, info: Any, s: Settings, scene: Path) -> float:
    """The score keeping about 5 detections a tile on the first tiles.

    Random weights score everything about alike: a fixed threshold would keep
    all detections or none (``rtsgeo benchmark predict`` calibrates the same).
    """
    from rtsgeo.predict import PredictorOptions, ScenePredictor

    options = PredictorOptions(batch_size=s.batches[0], device=str(s.device))
    predictor = ScenePredictor(model, info, options)
    with predictor.open(scene) as reader, torch.inference_mode(), s.autocast():
        _, images, _ = next(iter(predictor.iter_batches(reader)))
        outputs = predictor.model(images.to(s.device))
    scores = torch.cat([o['scores'].float().cpu() for o in outputs])
    ranked = scores.sort(descending=True).values
    return float(ranked[min(len(ranked) - 1, 5 * len(images))]) if len(ranked) else 0.5


def mapping(s: Settings, work: Path) -> dict[str, Any]:
    """The scene predictor on a generated scene, as the predict benchmark runs it."""
    from rtsgeo.benchmark.predict import measure_scene, scene_statistics
    from rtsgeo.datasets import make_synthetic_scene
    from rtsgeo.models import (
        TrainedModelInfo,
        build_model_from_preset,
        save_trained_model,
    )

    start = time.perf_counter()
    scene = make_synthetic_scene(
        work, seed=0, size=s.scene_size, n_slumps=s.scene_size // 48
    ).image_path
    torch.manual_seed(0)
    model = build_model_from_preset(s.preset, image_size=s.tile)
    stats = scene_statistics(scene, model.config.modalities)
    save_trained_model(scene.parent / 'model.pt', model, model.config, stats)
    info = TrainedModelInfo(model.config, stats, None, s.preset, '', '')
    threshold = _threshold(model.to(s.device).eval(), info, s, scene)
    del model
    prepared = time.perf_counter() - start
    row = measure_scene(
        str(scene.parent / 'model.pt'),
        str(scene),
        s.tile,
        s.batches[0],
        threshold,
        repeats=1,
        workers=2,
        device=str(s.device),
    )
    return {
        'scene_px': s.scene_size,
        'batch_size': s.batches[0],
        'workers': 2,
        'score_threshold': round(threshold, 4),
        'tiles': row['tiles'],
        'polygons': row['polygons'],
        'end_to_end_s': round(row['end_to_end_s'], 3),
        'tiles_per_s': round(row['tiles'] / row['end_to_end_s'], 2),
        'device_alone_s': round(row['model_forward_s'], 3),
        'device_busy_share': round(row['model_forward_s'] / row['end_to_end_s'], 3),
        'preparation_s': round(prepared, 1),
    }


def data(s: Settings, work: Path) -> dict[str, Any]:
    """``rtsgeo benchmark data`` on the real data (or synthetic in a dry run)."""
    from rtsgeo.benchmark import run_data_benchmark

    root = s.data_root
    if s.dry_run and root is None:
        from rtsgeo.datasets import make_synthetic_splits

        root = str(make_synthetic_splits(work / 'splits', counts=(2, 1, 1), size=128))
    if root is None or not Path(root).is_dir():
        return {'skipped': f'no data root {root}: pass --data-root'}
    batches = 2 if s.dry_run else 20
    patch = 64 if s.dry_run else 256
    return run_data_benchmark(
        root, workers=s.data_workers, batches=batches, patch_size=patch
    )


def _default_root() -> str | None:
    base = os.environ.get('RTSGEO_DATA_DIR')
    return str(Path(base) / 's2-rts-lubka1') if base else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--dry-run', action='store_true', help='tiny, on the CPU')
    parser.add_argument(
        '--data-root',
        help='s2-rts-lubka1 folder for the data step (default: under '
        'RTSGEO_DATA_DIR; a dry run makes tiny synthetic splits instead)',
    )
    args = parser.parse_args(argv)
    if args.data_root is None and not args.dry_run:
        args.data_root = _default_root()
    if not args.dry_run and not torch.cuda.is_available():
        message = 'gpu_check: no CUDA device here; run it on a GPU, or use --dry-run'
        print(message, file=sys.stderr)
        return 2
    s = Settings(args.dry_run, args.data_root)
    start = time.perf_counter()
    row: dict[str, Any] = {
        'device': 'cpu (dry run)' if s.dry_run else torch.cuda.get_device_name(),
        'torch': torch.__version__,
        'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
    }
    failed = False
    with tempfile.TemporaryDirectory(prefix='rtsgeo-gpu-check-') as tmp:
        steps: dict[str, Callable[[], dict[str, Any]]] = {
            'step_memory': lambda: step_memory(s),
            'inference': lambda: inference(s),
            'mapping': lambda: mapping(s, Path(tmp) / 'scene'),
            'data': lambda: data(s, Path(tmp)),
        }
        for name, step in steps.items():
            began = time.perf_counter()
            try:
                row[name] = step()
            except Exception as error:  # the other steps still run
                row[name] = {'error': f'{type(error).__name__}: {error}'}
                failed = True
            row[name]['seconds'] = round(time.perf_counter() - began, 1)
    row['seconds'] = round(time.perf_counter() - start, 1)
    print(json.dumps(row))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
