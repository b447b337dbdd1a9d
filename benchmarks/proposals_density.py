"""RPN proposals sized to the tile: speed and accuracy against the fixed 1000.

    python benchmarks/proposals_density.py             # 200 training steps
    python benchmarks/proposals_density.py --steps 50  # quicker, less trained

Trains ``nano_cascade_rgb_ndvi_nir`` at 128 px on synthetic scenes (the
learning test's setting), then builds the same model twice from the same
weights: once with the proposal counts every tile size had before (1000 at
test time, 2000 in training, whatever the tile) and once with the default
density (``ModelConfig.rpn_proposals_per_megapixel``). It scores both on the
validation split (mask and box AP50) and times both in eval mode on the
validation tiles, alternating old and new so that other load on the machine
hits both alike. Prints one JSON object. Run from the repository root
(PYTHONPATH=. when rtsgeo is installed elsewhere).
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from rtsgeo.datasets import make_synthetic_splits
from rtsgeo.models import ModelConfig, MultimodalCascadeMaskRCNN
from rtsgeo.trainers import train_steps

PRESET = 'nano_cascade_rgb_ndvi_nir'
TILE = 128


def fixed_counts(config: ModelConfig) -> ModelConfig:
    """The configuration with the counts of before: 1000 test proposals."""
    return config.with_overrides(
        rpn_proposals_per_megapixel=1000 / (config.image_size**2 / 1e6),
        rpn_min_proposals=1000,
    )


def time_per_tile(
    models: dict[str, torch.nn.Module], batches: list[torch.Tensor], rounds: int
) -> dict[str, dict[str, float]]:
    """Seconds per tile of each model, rounds alternating between the models."""
    seconds: dict[str, list[float]] = {name: [] for name in models}
    tiles = sum(len(b) for b in batches)
    with torch.inference_mode():
        for model in models.values():  # warm-up
            model(batches[0])
        for _ in range(rounds):
            for name, model in models.items():
                start = time.perf_counter()
                for images in batches:
                    model(images)
                seconds[name].append((time.perf_counter() - start) / tiles)
    return {
        name: {'min': min(s), 'median': statistics.median(s)}
        for name, s in seconds.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--steps', type=int, default=200)
    parser.add_argument('--rounds', type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get('RTSGEO_NUM_THREADS', '2')))
    with tempfile.TemporaryDirectory(prefix='rtsgeo-proposals-') as tmp:
        root = make_synthetic_splits(Path(tmp), seed=0, counts=(4, 1, 2), size=192)
        run = train_steps(
            root, ['rgb', 'ndvi', 'nir'], fusion='residual_cross_attention',
            model=PRESET, steps=args.steps, batch_size=4, patch_size=TILE,
            chip_size=192, anchor_sizes=[8, 16, 32, 64, 128], seed=0,
        )  # fmt: skip
        new = run.task.model.eval()
        old = MultimodalCascadeMaskRCNN(fixed_counts(new.config)).eval()
        old.load_state_dict(new.state_dict())
        captured: list[torch.Tensor] = []
        hook = new.register_forward_pre_hook(lambda _, a: captured.append(a[0]))
        scores = {'new': run.evaluate('val')}
        hook.remove()
        run.task.model = old
        scores['old'] = run.evaluate('val')
        run.task.model = new
        timing = time_per_tile({'old': old, 'new': new}, captured, args.rounds)
    row = {
        'preset': PRESET,
        'tile_size': TILE,
        'steps': args.steps,
        'train_s': round(run.seconds, 1),
        'proposals_old': old.config.rpn_proposals,
        'proposals_new': new.config.rpn_proposals,
        'val_tiles': sum(len(b) for b in captured),
        'mask_ap50_old': round(scores['old']['val_segm_map_50'], 4),
        'mask_ap50_new': round(scores['new']['val_segm_map_50'], 4),
        'box_ap50_old': round(scores['old']['val_bbox_map_50'], 4),
        'box_ap50_new': round(scores['new']['val_bbox_map_50'], 4),
        'ms_per_tile_old': round(1000 * timing['old']['median'], 2),
        'ms_per_tile_new': round(1000 * timing['new']['median'], 2),
        'speedup_median': round(timing['old']['median'] / timing['new']['median'], 2),
        'speedup_min': round(timing['old']['min'] / timing['new']['min'], 2),
        'load_average': os.getloadavg(),
    }
    print(json.dumps(row))
    return 0


if __name__ == '__main__':
    sys.exit(main())
