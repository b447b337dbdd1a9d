"""``rtsgeo demo``: the whole job on generated data, no user data needed.

Generate seeded synthetic scenes with slumps, train a tiny RGB + NDVI + NIR
model briefly on CPU, map a larger held-out scene with it into a campaign
GeoPackage (polygons, coverage, run table) with a quick-look and an HTML
report, and score the polygons against the scene's true outlines.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

__all__ = ['add_parser', 'run']

#: Modalities of the demo model (the paper's three).
MODALITIES = ('rgb', 'ndvi', 'nir')
#: Tile side of the demo model in pixels (5 m pixels: 640 m tiles).
TILE = 128


def add_parser(subparsers: Any) -> None:
    """Register ``rtsgeo demo``."""
    parser = subparsers.add_parser(
        'demo',
        help='train a tiny model on generated scenes and map one (no data needed)',
        description=(
            'Generate synthetic scenes with slumps, train a tiny RGB + NDVI + NIR '
            'model on CPU, map a held-out scene into a GeoPackage with a '
            'quick-look, and evaluate the polygons against the true outlines.'
        ),
    )
    parser.add_argument(
        '--out', type=Path, default=Path('rtsgeo-output/demo'), help='output folder'
    )
    parser.add_argument('--seed', type=int, default=0, help='seed of data and model')
    parser.add_argument(
        '--steps', type=int, default=200, help='training steps (batch of 4 windows)'
    )
    parser.add_argument(
        '--scene-size', type=int, default=640, help='side of the mapped scene (px)'
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo and print where its outputs are."""
    start = time.perf_counter()
    out: Path = args.out
    from ..campaign.report import write_report
    from ..datasets import make_synthetic_splits

    data = make_synthetic_splits(out / 'data', seed=args.seed, size=192)
    print(f'1/4 wrote synthetic training scenes to {data}')
    model_path = train_model(data, out / 'model.pt', args.seed, args.steps)
    print(f'2/4 trained a tiny model for {args.steps} steps: {model_path}')
    summary, scene = map_scene(out, model_path, args.seed, args.scene_size)
    print(f'3/4 mapped {summary.polygons} slump polygon(s): {summary.out}')
    result = evaluate(summary.out, scene.labels_path)
    labels = {'ap50': 'AP50', 'precision': 'precision', 'recall': 'recall', 'f1': 'F1'}
    scores = ', '.join(
        f'{label} {_figure(getattr(result, name))}' for name, label in labels.items()
    )
    print(f'4/4 against the {result.n_truth} true slumps: {scores}')
    print(f'campaign GeoPackage: {summary.out} (layers slumps, coverage, runs)')
    print(f'quick-look: {out / "quicklooks" / (scene.image_path.stem + ".png")}')
    print(f'report: {write_report(summary.out, out / "report.html").out}')
    print(f'demo finished in {time.perf_counter() - start:.0f} s')
    return 0


def _figure(value: float | None) -> str:
    # Precision is undefined (None) when nothing was detected.
    return 'n/a' if value is None else f'{value:.3f}'


def train_model(data: Path, path: Path, seed: int, steps: int) -> Path:
    """Train the tiny fused model and save it as a trained-model file."""
    from ..trainers import train_steps

    run = train_steps(
        data,
        list(MODALITIES),
        fusion='residual_cross_attention',
        steps=steps,
        batch_size=4,
        patch_size=TILE,
        chip_size=192,
        seed=seed,
        name='demo-nano-rgb-ndvi-nir',
        progress=True,
        accelerator='cpu',
    )
    return run.save(path)


def make_demo_scene(out: Path, seed: int, size: int) -> Any:
    """Write the held-out scene the demo maps (14 slumps) under ``out/scene``."""
    from ..datasets import make_synthetic_scene

    return make_synthetic_scene(
        out / 'scene', seed=seed * 10 + 7, size=size, n_slumps=14, name='demo_scene'
    )


def map_scene(out: Path, model_path: Path, seed: int, size: int) -> tuple[Any, Any]:
    """Map a larger held-out scene into a campaign GeoPackage with a quick-look."""
    from ..campaign import run_campaign
    from ..predict import ScenePredictor

    scene = make_demo_scene(out, seed, size)
    predictor = ScenePredictor.from_checkpoint(model_path)
    campaign = out / 'campaign.gpkg'
    campaign.unlink(missing_ok=True)  # the demo always maps afresh
    summary = run_campaign(
        [scene.image_path], predictor, campaign, quicklook_dir=out / 'quicklooks'
    )
    return summary, scene


def evaluate(campaign: Path, truth: Path) -> Any:
    """Scene-level AP50 and polygon F1 of the mapped slumps."""
    from ..evaluation import evaluate_files

    return evaluate_files(campaign, truth)
