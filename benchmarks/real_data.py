"""Scene-level benchmark on real data: rtsgeo against a TorchGeo U-Net, same crops.

Every model trains on the same 128 px positive-aware crops of the
``s2-rts-lubka1`` training chips (same batches, steps and seeds; crops come
from :class:`~rtsgeo.datamodules.CachedRTSDataModule`). Then each maps the
test (or ``--split val``) chips whole, as scenes, and the polygons are scored
by the product's evaluation (:func:`rtsgeo.evaluation.evaluate_files`, as
``rtsgeo evaluate``) against the chips' masks as polygons (8-connected
components): AP50, AP, and precision / recall / F1 at IoU 0.5 (score >= 0.5).

* rtsgeo models (RGB + NDVI + NIR with residual cross-attention, RGB only)
  train with :func:`rtsgeo.trainers.train_steps` (the settings of
  ``benchmarks/train_lubka1.py``), are saved as trained-model files in
  ``--out/models`` (``rtsgeo map --checkpoint`` reads them), and map the
  chips with the product's path: :class:`~rtsgeo.predict.ScenePredictor`
  (tiling, merge, vectorising) inside :func:`~rtsgeo.campaign.run_campaign`,
  one GeoPackage per run in EPSG:3413.
* The peer is TorchGeo's ``SemanticSegmentationTask``: a U-Net with a
  ResNet-18 encoder, no pretrained weights, binary BCE + Dice (``--unet-loss``),
  trained by a short loop over the task's model and loss with AdamW and the
  same schedule. On each whole chip, the 8-connected components of
  probability >= 0.5 are its objects, scored by their mean probability,
  written as polygons in EPSG:3413.

With ``--skip-coco`` left out, the rtsgeo RGB model and the U-Net RGB peer
also train on the ``rgb-rts-coco-yang2023`` training chips
(:class:`~rtsgeo.datamodules.COCODataModule`, ``--coco-size`` px windows) and
are scored by chip-level COCO mask AP50 (pycocotools, the training task's
metric) on its ``valtest`` chips.

    python benchmarks/real_data.py --seeds 0 1 2 --steps 1000 --out bench-real \\
        --split val --model-options small-objects detail_channels=16

``--steps`` defaults to 2000 here (chosen on ``val``), not train_lubka1's 1000.

``--model-options key=value ...`` overrides ModelConfig fields of every rtsgeo
model (the yang2023 one too); values are read as YAML, and the item
``small-objects`` stands for :data:`rtsgeo.models.SMALL_OBJECT_OPTIONS`. The
default is ``small-objects`` (chosen on ``val``); any ``--model-options``
replaces it, and ``--model-options`` with nothing after it trains the preset
as it is. Prints a Markdown table (mean ± std over seeds, wall time per run)
and the command; writes ``results.json`` to ``--out`` after every run. Runs
split over processes or machines (one ``--out`` each) join into one table with
``--merge DIR ...``, which trains nothing and refuses runs of other settings.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import torch
from scipy import ndimage
from torch import Tensor, nn
from train_lubka1 import (
    MODELS,
    add_training_arguments,
    lubka1_root,
    parse_model_options,
    train_model,
)

OUTPUT_CRS = 'EPSG:3413'
#: Anchors of the yang2023 rows (as ``rtsgeo/configs/tiny/coco_rgb.yaml``).
COCO_ANCHORS = [8, 16, 32, 64, 128]
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)

#: Scene-level rows on s2-rts-lubka1: (kind, what) per row name. ``rtsgeo``
#: rows name a model of ``train_lubka1.MODELS``, ``unet`` rows the modalities.
LUBKA1_ROWS: dict[str, tuple[str, Any]] = {
    'rtsgeo RGB+NDVI+NIR (residual cross-attention)': (
        'rtsgeo',
        'RGB+NDVI+NIR (residual cross-attention)',
    ),
    'rtsgeo RGB': ('rtsgeo', 'RGB'),
    'U-Net RGB+NDVI+NIR (stacked, 5 channels)': ('unet', ['rgb', 'ndvi', 'nir']),
    'U-Net RGB': ('unet', ['rgb']),
}
#: Chip-level rows on rgb-rts-coco-yang2023.
COCO_ROWS = ('rtsgeo RGB (yang2023 chips)', 'U-Net RGB (yang2023 chips)')


# ---------------------------------------------------------------- data layout


def subset_root(root: Path, out: Path, limit: int | None, split: str) -> Path:
    """*root* itself, or with ``limit`` a copy made of links to its first chips.

    The training split and the scored split keep their first ``limit`` chips
    by name (the validation split too, which the datamodule opens).
    """
    if limit is None:
        return root
    for name in sorted({'train', 'val', split}):
        images = sorted((root / name / 'image').glob('*.tif'))[:limit]
        for kind in ('image', 'mask'):
            folder = out / name / kind
            folder.mkdir(parents=True, exist_ok=True)
            for image in images:
                link = folder / image.name
                if not link.exists():
                    link.symlink_to((root / name / kind / image.name).resolve())
    return out


def coco_subset(root: Path, out: Path, limit: int | None) -> Path:
    """*root*, or with ``limit`` COCO files of its first chips in *out*."""
    if limit is None:
        return root
    out.mkdir(parents=True, exist_ok=True)
    for name in ('coco_rts_train.json', 'coco_rts_valtest.json'):
        coco = json.loads((root / name).read_text())
        images = coco['images'][:limit]
        ids = {image['id'] for image in images}
        for image in images:
            image['file_name'] = str((root / 'images' / image['file_name']).resolve())
        coco['images'] = images
        coco['annotations'] = [a for a in coco['annotations'] if a['image_id'] in ids]
        (out / name).write_text(json.dumps(coco))
    return out


def truth_polygons(masks: list[Path], path: Path) -> Path:
    """The masks' 8-connected components as polygons in EPSG:3413, in *path*."""
    from rtsgeo.predict.vectorize import vectorize_mask

    frames = []
    for mask_path in masks:
        with rasterio.open(mask_path) as src:
            mask = src.read(1) != 0
            labelled, count = ndimage.label(mask, structure=EIGHT_CONNECTED)
            geometries = [
                vectorize_mask(labelled == k, src.transform)
                for k in range(1, count + 1)
            ]
            frame = gpd.GeoDataFrame(
                {'chip': [mask_path.stem] * count}, geometry=geometries, crs=src.crs
            )
        frames.append(frame.to_crs(OUTPUT_CRS))
    truth = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=OUTPUT_CRS)
    truth.to_file(path, layer='truth', driver='GPKG')
    return path


def scores_of(result: Any) -> dict[str, float | None]:
    """The figures of an EvaluationResult that the table reports."""
    row = result.to_dict()
    keys = ('ap50', 'ap', 'precision', 'recall', 'f1', 'tp', 'fp', 'fn', 'n_pred')
    extra = ('n_truth', 'n_isolated', 'area_km2', 'fp_per_100km2')
    return {k: row[k] for k in (*keys, *extra)}


# ---------------------------------------------------------------- rtsgeo rows


def map_with_rtsgeo(
    model_file: Path | Sequence[Path],
    scenes: list[Path],
    gpkg: Path,
    args: argparse.Namespace,
) -> None:
    """Map the chips as scenes with the product's campaign path (``rtsgeo map``).

    Several model files map as their ensemble (``--checkpoint A B C``).
    """
    from rtsgeo.campaign import run_campaign
    from rtsgeo.predict import PredictorOptions, ScenePredictor

    options = PredictorOptions(
        batch_size=args.batch_size,
        device=args.device,
        score_threshold=args.map_score_threshold,
    )
    predictor = ScenePredictor.from_checkpoint(model_file, options)
    gpkg.unlink(missing_ok=True)  # a campaign resumes: start afresh
    summary = run_campaign([str(s) for s in scenes], predictor, gpkg, crs=OUTPUT_CRS)
    if summary.failed:
        raise RuntimeError(f'{gpkg}: scenes failed to map: {summary.failures}')


def run_rtsgeo(
    root: Path, row: str, seed: int, ctx: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    """Train, save, map and score one rtsgeo model on the lubka1 chips."""
    from rtsgeo.evaluation import evaluate_files

    model_file = ctx['models'] / f'{slug(row)}{ctx["tag"]}-seed{seed}.pt'
    train_seconds = None
    if args.reuse_models and model_file.is_file():
        print(f'{model_file}: reused, not trained again', flush=True)
    else:
        run = train_model(root, LUBKA1_ROWS[row][1], seed, args)
        model_file, train_seconds = run.save(model_file), run.seconds
    if args.stretch_when_mapping:
        model_file = stretched_when_mapping(model_file, root, seed, args)
    gpkg = ctx['maps'] / f'{slug(row)}{ctx["tag"]}-seed{seed}.gpkg'
    start = time.perf_counter()
    map_with_rtsgeo(model_file, ctx['scenes'], gpkg, args)
    result = evaluate_files(gpkg, ctx['truth'])
    return {
        'train_seconds': train_seconds,
        'map_seconds': time.perf_counter() - start,
        'metrics': scores_of(result),
        'model_file': str(model_file),
        'predictions': str(gpkg),
    }


def stretched_when_mapping(
    model_file: Path, root: Path, seed: int, args: argparse.Namespace
) -> Path:
    """A copy of a model trained without a stretch that maps with one.

    Every scene it maps is stretched onto the percentiles of the model's own
    training chips (``--stretch-when-mapping``), fitted as ``scene_norm``
    fits them for training (``fitted_scene_stretch``); the model saw its
    chips unstretched.
    """
    from rtsgeo.models import load_trained_model, save_trained_model

    model, info = load_trained_model(model_file)
    if info.scene_stretch is not None:
        raise SystemExit(f'{model_file} already stretches: --stretch-when-mapping '
                         'is for models trained without --scene-norm')  # fmt: skip
    stretched = argparse.Namespace(**{**vars(args), 'scene_norm': True})
    crops = cached_crops(root, list(info.config.modalities), seed, stretched)
    stretch = crops.fitted_scene_stretch()
    out = model_file.with_name(f'{model_file.stem}-stretched-when-mapping.pt')
    return save_trained_model(
        out, model, info.config, info.stats, info.sensor, info.name, info.gsd_m, stretch
    )


# ---------------------------------------------------------------- U-Net peer


class BCEDiceLoss(nn.Module):
    """Binary cross-entropy plus Dice loss, on logits ``(B, H, W)``."""

    def __init__(self) -> None:
        super().__init__()
        import segmentation_models_pytorch as smp

        self.bce = nn.BCEWithLogitsLoss()
        self.dice = smp.losses.DiceLoss(mode='binary', from_logits=True)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return self.bce(logits, target) + self.dice(logits, target)


def build_unet(in_channels: int, loss: str = 'bce+dice') -> tuple[Any, nn.Module]:
    """TorchGeo's binary U-Net task (ResNet-18 encoder, no pretrained weights).

    Args:
        in_channels: stacked input channels.
        loss: ``'bce'`` or ``'dice'`` (the task's own losses), or
            ``'bce+dice'``, their sum (the peer's default).

    Returns:
        The task and the training criterion.
    """
    try:  # TorchGeo 0.10 renamed SemanticSegmentationTask
        from torchgeo.tasks import SemanticSegmentation
    except ImportError:  # TorchGeo 0.8
        from torchgeo.trainers import SemanticSegmentationTask as SemanticSegmentation

    task = SemanticSegmentation(
        model='unet',
        backbone='resnet18',
        weights=None,
        in_channels=in_channels,
        task='binary',
        loss='dice' if loss == 'dice' else 'bce',
    )
    return task, BCEDiceLoss() if loss == 'bce+dice' else task.criterion


def train_unet(datamodule: Any, seed: int, args: argparse.Namespace) -> Any:
    """Train the U-Net on the datamodule's training batches (the rtsgeo crops).

    The batches are augmented and normalised as the rtsgeo task's are; the
    target is the union of the crop's instance masks. AdamW at ``args.lr``
    with weight decay 0.05, linear warm-up over a tenth of the steps and
    cosine decay (as :func:`rtsgeo.trainers.train_steps`), clipping at 1.
    """
    import lightning

    from rtsgeo.trainers import lr_factor

    lightning.seed_everything(seed, verbose=False)
    datamodule.setup('fit')
    channels = sum(s.stop - s.start for s in datamodule.channel_layout.values())
    task, criterion = build_unet(channels, args.unet_loss)
    model, criterion = task.model.to(args.device), criterion.to(args.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    warmup = max(args.steps // 10, 1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, args.steps, warmup, 'cosine')
    )
    model.train()
    for batch in datamodule.train_dataloader():
        if len(batch['image']) == 0:
            continue
        batch = to_device(batch, args.device)
        if datamodule.augment is not None:
            batch = datamodule.augment(batch)
        batch = datamodule.normalize.to(args.device)(batch)
        target = torch.stack([m.bool().any(0) for m in batch['mask']]).float()
        loss = criterion(model(batch['image']).squeeze(1), target)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
    return model.eval()


def to_device(batch: dict[str, Any], device: str) -> dict[str, Any]:
    """A training batch's tensors (and lists of tensors) on *device*."""
    moved: dict[str, Any] = {}
    for key, value in batch.items():
        if isinstance(value, Tensor):
            value = value.to(device)
        elif isinstance(value, list) and value and isinstance(value[0], Tensor):
            value = [v.to(device) for v in value]
        moved[key] = value
    return moved


def components(prob: Tensor) -> list[tuple[np.ndarray, float]]:
    """8-connected components of ``prob >= 0.5``, each with its mean probability."""
    values = prob.detach().cpu().numpy()
    labelled, count = ndimage.label(values >= 0.5, structure=EIGHT_CONNECTED)
    out = []
    for k in range(1, count + 1):
        mask = labelled == k
        out.append((mask, float(values[mask].mean())))
    return out


@torch.no_grad()
def unet_probability(model: nn.Module, image: Tensor, valid: Tensor) -> Tensor:
    """``(H, W)`` probability of a normalised ``(C, H, W)`` image, 0 on nodata."""
    device = next((p.device for p in model.parameters()), image.device)
    prob = torch.sigmoid(model(image[None].to(device)))[0, 0].cpu()
    return prob * valid.cpu()


def map_with_unet(
    model: nn.Module, datamodule: Any, scenes: list[Path], gpkg: Path
) -> None:
    """Polygons of the U-Net's objects on every whole chip, in EPSG:3413."""
    from rtsgeo.predict.reader import SceneReader
    from rtsgeo.predict.tiling import Tile
    from rtsgeo.predict.vectorize import vectorize_mask

    frames, footprints = [], []
    for scene in scenes:
        with SceneReader(
            scene,
            datamodule.modalities,
            datamodule.stats,
            scene_stretch=getattr(datamodule, 'scene_stretch', None),
        ) as reader:
            # U-Net needs sides divisible by 32: the reader pads with nodata.
            size = 32 * math.ceil(max(reader.height, reader.width) / 32)
            tile = Tile(0, 0, 0, 0, size, (0, reader.height, 0, reader.width))
            image, valid = reader.read(tile)
            found = components(unet_probability(model, image, valid))
            frame = gpd.GeoDataFrame(
                {'scene_id': [scene.stem] * len(found), 'score': [s for _, s in found]},
                geometry=[vectorize_mask(m, reader.transform) for m, _ in found],
                crs=reader.crs,
            )
            # the mapped ground, as rtsgeo map's coverage layer: the valid pixels
            footprint = gpd.GeoDataFrame(
                {'scene_id': [scene.stem]},
                geometry=[vectorize_mask(valid.numpy(), reader.transform)],
                crs=reader.crs,
            )
        frames.append(frame.to_crs(OUTPUT_CRS))
        footprints.append(footprint.to_crs(OUTPUT_CRS))
    slumps = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=OUTPUT_CRS)
    coverage = gpd.GeoDataFrame(
        pd.concat(footprints, ignore_index=True), crs=OUTPUT_CRS
    )
    gpkg.unlink(missing_ok=True)
    slumps.to_file(gpkg, layer='slumps', driver='GPKG')
    coverage.to_file(gpkg, layer='coverage', driver='GPKG')


def cached_crops(root: Path, modalities: list[str], seed: int, args: Any) -> Any:
    """The datamodule of ``train_steps``: the same crops, batches and order."""
    from rtsgeo.datamodules import CachedRTSDataModule

    return CachedRTSDataModule(
        root=str(root),
        chip_size=256,
        modalities=modalities,
        patch_size=args.size,
        batch_size=args.batch_size,
        length=args.steps * args.batch_size,
        positive_fraction=args.positive_fraction,
        seed=seed,
        radiometric=args.radiometric,
        scene_norm='percentile' if args.scene_norm else None,
    )


def run_unet(
    root: Path, row: str, seed: int, ctx: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    """Train, map and score one U-Net on the lubka1 chips."""
    from rtsgeo.evaluation import evaluate_files

    datamodule = cached_crops(root, LUBKA1_ROWS[row][1], seed, args)
    start = time.perf_counter()
    model = train_unet(datamodule, seed, args)
    trained = time.perf_counter()
    gpkg = ctx['maps'] / f'{slug(row)}{ctx["tag"]}-seed{seed}.gpkg'
    map_with_unet(model, datamodule, ctx['scenes'], gpkg)
    result = evaluate_files(gpkg, ctx['truth'])
    return {
        'train_seconds': trained - start,
        'map_seconds': time.perf_counter() - trained,
        'metrics': scores_of(result),
        'predictions': str(gpkg),
    }


# ---------------------------------------------------------------- COCO rows


def coco_datamodule(root: Path, seed: int, args: argparse.Namespace) -> Any:
    """The COCO chips' datamodule with the benchmark's shared settings."""
    from rtsgeo.datamodules import COCODataModule

    return COCODataModule(
        root=str(root),
        patch_size=args.coco_size,
        batch_size=args.batch_size,
        length=args.steps * args.batch_size,
        positive_fraction=args.positive_fraction,
        seed=seed,
    )


def run_rtsgeo_coco(
    root: Path, row: str, seed: int, ctx: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    """Train the rtsgeo RGB model on the COCO chips; chip-level AP50 on valtest."""
    from rtsgeo.trainers import train_steps

    run = train_steps(
        root,
        ['rgb'],
        model=args.preset,
        steps=args.steps,
        batch_size=args.batch_size,
        patch_size=args.coco_size,
        lr=args.lr,
        anchor_sizes=COCO_ANCHORS,
        model_options=args.model_options,
        positive_fraction=args.positive_fraction,
        seed=seed,
        layout='coco',
    )
    model_file = run.save(ctx['models'] / f'{slug(row)}-seed{seed}.pt')
    start = time.perf_counter()
    metrics = run.evaluate('test')
    return {
        'train_seconds': run.seconds,
        'map_seconds': time.perf_counter() - start,
        'metrics': {
            'ap50': metrics['test_segm_map_50'],
            'ap': metrics['test_segm_map'],
            'box_ap50': metrics['test_bbox_map_50'],
        },
        'model_file': str(model_file),
    }


@torch.no_grad()
def score_unet_chips(model: nn.Module, datamodule: Any) -> dict[str, float]:
    """Chip-level COCO AP of the U-Net's components, with the task's metric."""
    from rtsgeo.datasets._instances import boxes_from_masks
    from rtsgeo.trainers.metrics import build_map_metric, metric_targets

    metric = build_map_metric(('segm', 'bbox'))
    for batch in datamodule.test_dataloader():
        valid = batch['valid']
        batch = datamodule.normalize.to('cpu')(batch)
        preds = []
        for image, ok in zip(batch['image'], valid, strict=True):
            found = components(unet_probability(model, image, ok))
            masks = torch.from_numpy(np.array([m for m, _ in found], dtype=bool))
            masks = masks.reshape(len(found), *ok.shape)
            preds.append(
                {
                    'boxes': boxes_from_masks(masks),
                    'scores': torch.tensor([s for _, s in found], dtype=torch.float32),
                    'labels': torch.ones(len(found), dtype=torch.int64),
                    'masks': masks,
                }
            )
        metric.update(preds, metric_targets(batch))
    values = metric.compute()
    return {
        'ap50': float(values['segm_map_50']),
        'ap': float(values['segm_map']),
        'box_ap50': float(values['bbox_map_50']),
    }


def run_unet_coco(
    root: Path, row: str, seed: int, ctx: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    """Train the U-Net RGB peer on the COCO chips' crops; chip-level AP50."""
    datamodule = coco_datamodule(root, seed, args)
    start = time.perf_counter()
    model = train_unet(datamodule, seed, args)
    trained = time.perf_counter()
    datamodule.setup('test')
    metrics = score_unet_chips(model, datamodule)
    return {
        'train_seconds': trained - start,
        'map_seconds': time.perf_counter() - trained,
        'metrics': metrics,
    }


# ---------------------------------------------------------------- report


def slug(name: str) -> str:
    """A file-name form of a row name."""
    return re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Mean and standard deviation of every figure, per row.

    Over seeds on the chip split; with folds (``--cv``), each fold's figures
    are first averaged over its seeds, then mean and standard deviation are
    taken over the folds (the spread between places, not between seeds).
    """
    out: dict[str, dict[str, Any]] = {}
    for row in dict.fromkeys(r['model'] for r in runs):
        mine = [r for r in runs if r['model'] == row]
        folds = list(dict.fromkeys(r.get('fold') for r in mine))
        figures: dict[str, Any] = {'seeds': len({r['seed'] for r in mine})}
        if folds != [None]:
            figures['folds'] = len(folds)
        keys = [*mine[0]['metrics'], 'seconds']
        for key in keys:
            values = [
                r['seconds'] if key == 'seconds' else r['metrics'].get(key)
                for r in mine
            ]
            if any(v is None for v in values):
                figures[key] = None
                continue
            if folds != [None]:  # one value per fold: its seeds' mean
                values = [
                    statistics.mean(v for v, r in zip(values, mine, strict=True)
                                    if r.get('fold') == fold)
                    for fold in folds
                ]  # fmt: skip
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            figures[key] = {'mean': statistics.mean(values), 'std': spread}
        out[row] = figures
    return out


def table(summary: dict[str, dict[str, Any]], rows: dict[str, str]) -> str:
    """The Markdown table of the summary (percentages, mean ± std)."""

    def cell(figures: dict[str, Any], key: str, scale: float = 100) -> str:
        value = figures.get(key)
        if value is None:
            return 'n/a'
        digits = 1 if scale == 100 else 2
        return f'{scale * value["mean"]:.{digits}f} ± {scale * value["std"]:.{digits}f}'

    folds = any('folds' in figures for figures in summary.values())
    lines = [
        f'| model | data, scoring |{" folds |" if folds else ""} seeds | AP50 (%) '
        '| AP (%) | precision (%) | recall (%) | F1 (%) | FP / 100 km² | s / run |',
        f'|---|---|{"---|" if folds else ""}---|---|---|---|---|---|---|---|',
    ]
    for row, figures in summary.items():
        seconds = figures['seconds']
        lines.append(
            f'| {row} | {rows[row]} |'
            + (f' {figures.get("folds", 1)} |' if folds else '')
            + f' {figures["seeds"]} | {cell(figures, "ap50")} '
            f'| {cell(figures, "ap")} | {cell(figures, "precision")} '
            f'| {cell(figures, "recall")} | {cell(figures, "f1")} '
            f'| {cell(figures, "fp_per_100km2", 1)} '
            f'| {seconds["mean"]:.0f} ± {seconds["std"]:.0f} |'
        )
    return '\n'.join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The benchmark's options (the training ones are train_lubka1's)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    add_training_arguments(parser)
    # chosen on val (docs/benchmarks.md): small-objects, scene-level AP50 0.5 %
    # against 0.0 % for the preset as it is (seed 0, 1000 x 4); 2000 steps, rtsgeo
    # fused 5.0 % against 1.5 % at 1000 (seeds 0-2; the U-Net peer 5.2 and 5.4 %)
    parser.set_defaults(
        out=Path('bench-real'), model_options=['small-objects'], steps=2000
    )
    parser.add_argument(
        '--split',
        choices=['test', 'val'],
        default='test',
        help='lubka1 split mapped and scored (val: for choosing settings); with '
        '--cv, the test fold or the validation fold (the next one)',
    )
    parser.add_argument(
        '--models',
        nargs='+',
        default=list(LUBKA1_ROWS),
        choices=list(LUBKA1_ROWS),
        help='scene-level rows to run (default: all)',
    )
    parser.add_argument(
        '--map-score-threshold',
        type=float,
        default=0.05,
        help='rtsgeo detections below this score are dropped when mapping '
        '(low, so that AP sees the ranking; P/R/F1 count scores >= 0.5)',
    )
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help='where the U-Net trains and every model maps (rtsgeo trains on '
        "Lightning's 'auto' accelerator); default cuda when present",
    )
    parser.add_argument(
        '--unet-loss',
        choices=['bce+dice', 'bce', 'dice'],
        default='bce+dice',
        help="the U-Net peer's loss (chosen on val: with 'bce' alone it predicted "
        'nothing after 1000 steps; Dice keeps sparse positive pixels in play)',
    )
    parser.add_argument(
        '--skip-coco', action='store_true', help='skip the yang2023 chip-level rows'
    )
    parser.add_argument(
        '--coco-size',
        type=int,
        default=320,
        help='window side on the yang2023 chips: at least the largest chip (297 px)',
    )
    parser.add_argument(
        '--merge',
        type=Path,
        nargs='+',
        metavar='DIR',
        help='train nothing: join the results.json of these --out folders (runs '
        'split over processes or machines) into one table and --out/results.json',
    )
    parser.add_argument(
        '--cv',
        choices=['sites', 'zones'],
        help='spatially blocked folds instead of the chip split: sites (chips '
        'sharing ground are one site; --k folds balanced by slumps) or zones '
        '(leave one UTM zone out); each fold is tested once, the next fold '
        'validates, the rest trains',
    )
    parser.add_argument(
        '--radiometric',
        action='store_true',
        help='random gain, band balance and haze of the training crops, for '
        'every model (rtsgeo.transforms.RandomRadiometry)',
    )
    parser.add_argument(
        '--scene-norm',
        action='store_true',
        help="per-scene percentile stretch of the bands (rtsgeo's scene_norm="
        "'percentile'), for every lubka1 model: the U-Net trains on and maps "
        'the same stretched chips; the yang2023 rows (RGB images) are not stretched',
    )
    parser.add_argument(
        '--stretch-when-mapping',
        action='store_true',
        help='with --reuse-models: map with the saved rtsgeo models (trained '
        'without --scene-norm), each scene stretched onto the percentiles of the '
        "model's training chips: the stretch at mapping time only",
    )
    parser.add_argument(
        '--k', type=int, default=5, help='number of site folds (--cv sites; 5)'
    )
    parser.add_argument(
        '--folds',
        type=int,
        nargs='+',
        metavar='FOLD',
        help='run only these test folds (to spread a --cv run over processes)',
    )
    parser.add_argument(
        '--reuse-models',
        action='store_true',
        help='map with the rtsgeo model file an interrupted run of the same '
        'settings already saved in --out/models (stopped after training) instead '
        'of training it again; such runs record no train_seconds',
    )
    parser.add_argument(
        '--limit-chips',
        type=int,
        help='use only the first N chips of each split (smoke runs)',
    )
    args = parser.parse_args(argv)
    if args.coco_size % 32:
        parser.error(f'--coco-size {args.coco_size}: use a multiple of 32 (U-Net)')
    if args.cv is None and args.folds is not None:
        parser.error('--folds needs --cv sites or --cv zones')
    if args.stretch_when_mapping and (args.scene_norm or not args.reuse_models):
        parser.error('--stretch-when-mapping needs --reuse-models, not --scene-norm')
    if args.k < 3:
        parser.error(f'--k {args.k}: test, val and train need three folds or more')
    try:
        args.model_options = parse_model_options(args.model_options)
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    return args


#: settings that must agree for runs of several results.json to share a table
MERGE_KEYS = ('split', 'steps', 'batch_size', 'size', 'lr', 'preset',
              'model_options', 'unet_loss', 'map_score_threshold', 'coco_size',
              'limit_chips', 'cv', 'k', 'radiometric', 'scene_norm',
              'stretch_when_mapping')  # fmt: skip
#: what a report written before a setting existed ran with
SETTING_DEFAULTS = {'cv': 'None', 'k': '5', 'radiometric': 'False',
                    'scene_norm': 'False', 'stretch_when_mapping': 'False'}  # fmt: skip


def setting(settings: dict[str, str], key: str) -> str | None:
    """A report's setting, or the value runs had before the setting existed."""
    return settings.get(key, SETTING_DEFAULTS.get(key))


def run_key(run: dict[str, Any]) -> tuple[str, int, int | None]:
    """What identifies a run: its row, seed and test fold (None: chip split)."""
    return run['model'], run['seed'], run.get('fold')


def describe(key: tuple[str, int, int | None]) -> str:
    """A run's key in words."""
    model, seed, fold = key
    return f'{model} seed {seed}' + ('' if fold is None else f' fold {fold}')


def merge(folders: list[Path], out: Path) -> int:
    """Join the runs of several ``results.json`` into one table; 0 or 2."""
    reports = []
    for folder in folders:
        path = folder / 'results.json'
        if not path.is_file():
            print(f'{path}: not found; pass folders that a run wrote (--out)',
                  file=sys.stderr)  # fmt: skip
            return 2
        reports.append((path, json.loads(path.read_text())))
    first_path, first = reports[0]
    runs: list[dict[str, Any]] = []
    seen: set[tuple[str, int, int | None]] = set()
    for path, report in reports:
        for key in MERGE_KEYS:
            mine = setting(report['settings'], key)
            theirs = setting(first['settings'], key)
            if mine != theirs:
                print(f'{path}: {key} is {mine}, {first_path} has {theirs}; '
                      'merge only runs with the same settings',
                      file=sys.stderr)  # fmt: skip
                return 2
        for run in report['runs']:
            if run_key(run) in seen:
                print(f'{path}: {describe(run_key(run))} is in an earlier '
                      'folder too; merge each run once', file=sys.stderr)  # fmt: skip
                return 2
            seen.add(run_key(run))
            runs.append(run)
    runs.sort(key=lambda run: (run.get('fold') or 0, run['seed']))
    rows = {run['model']: run['scoring'] for run in runs}
    # a merged report lists its commands and machines: it can be merged again
    merged = {
        'commands': [
            c for _, r in reports for c in r.get('commands', [r.get('command')])
        ],
        'settings': first['settings'],
        'model_options': first['model_options'],
        'machines': sorted(
            {m for _, r in reports for m in r.get('machines', [r.get('machine')])}
        ),
        'runs': runs,
        'summary': summarise(runs),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / 'results.json').write_text(json.dumps(merged, indent=2))
    print(table(merged['summary'], rows))
    print()
    for command in merged['commands']:
        print(f'command: {command}')
    return 0


def blocked_folds(lubka1: Path, args: argparse.Namespace) -> gpd.GeoDataFrame:
    """lubka1's chips (all splits) with their site and ``--cv`` fold."""
    from rtsgeo.evaluation import assign_sites, read_chips, site_folds, zone_folds

    chips = assign_sites(read_chips(lubka1))
    return site_folds(chips, k=args.k) if args.cv == 'sites' else zone_folds(chips)


def fold_root(chips: gpd.GeoDataFrame, fold: int, out: Path) -> Path:
    """Fold *fold* laid out afresh in *out* (test: the fold, val: the next)."""
    import shutil

    from rtsgeo.evaluation import link_fold

    if out.exists():
        shutil.rmtree(out)  # links only: the chips stay where they are
    return link_fold(chips, fold, out)


def earlier_runs(out: Path, args: argparse.Namespace) -> list[dict[str, Any]] | None:
    """The runs of an earlier run into *out* with the same settings (resume).

    None, with a message, when *out* holds runs of other settings.
    """
    path = out / 'results.json'
    if not path.is_file():
        return []
    report = json.loads(path.read_text())
    settings = {k: str(v) for k, v in vars(args).items()}
    for key in MERGE_KEYS:
        mine, theirs = settings.get(key), setting(report['settings'], key)
        if mine != theirs:
            print(f'{path}: holds runs with {key} {theirs}, not {mine}: give '
                  'another --out, or the same settings to resume',
                  file=sys.stderr)  # fmt: skip
            return None
    return list(report['runs'])


def blocked_runs(folder: Path) -> list[dict[str, Any]] | str:
    """The blocked rtsgeo runs (with a model file) of one --out folder, or why none.

    Each run gains ``chips``, the folder its fold was laid out in (recorded
    since ``--reuse-models``; before, the fold's folder, or its first
    ``--limit-chips`` chips), for the benchmarks that map its folds again.
    """
    results = folder / 'results.json'
    if not results.is_file():
        return f'{results} not found: give the --out of real_data.py --cv'
    report = json.loads(results.read_text())
    cv = report['settings'].get('cv', 'None')
    limited = report['settings'].get('limit_chips', 'None') != 'None'
    runs = [
        {'chips': str(folder / 'chips' / f'{cv}{r["fold"]}{"-limit" * limited}')} | r
        for r in report['runs']
        if r.get('fold') is not None and r.get('model_file')
    ]
    if cv == 'None' or not runs:
        return f'{results}: no blocked rtsgeo runs (run real_data.py with --cv)'
    return runs


def model_options_problem(args: argparse.Namespace) -> str | None:
    """Why ``--model-options`` cannot build a model of the rows run, or None.

    Each rtsgeo row builds its model as training does: the row's modalities
    and fusion, then the options (``unimodal_checkpoints`` needs one path per
    modality of the row).
    """
    from rtsgeo.errors import ConfigError
    from rtsgeo.trainers import build_config

    rows = [LUBKA1_ROWS[r][1] for r in args.models if LUBKA1_ROWS[r][0] == 'rtsgeo']
    specs = [{k: MODELS[name][k] for k in ('modalities', 'fusion')} for name in rows]
    try:
        for spec in specs or [{}]:
            build_config(args.preset, {**spec, **args.model_options})
    except ConfigError as error:
        return str(error)
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 on success, 2 when the data or an option is wrong."""
    args = parse_args(argv)
    if args.merge:
        return merge(args.merge, args.out)
    lubka1 = lubka1_root(args)
    if lubka1 is None:
        return 2
    problem = model_options_problem(args)
    if problem is not None:  # before any training
        print(f'--model-options: {problem}', file=sys.stderr)
        return 2
    if args.cv and not args.skip_coco:
        print('--cv: the yang2023 chip-level rows are not blocked by place: skipped')
        args.skip_coco = True
    yang = lubka1.parent / 'rgb-rts-coco-yang2023'
    if not args.skip_coco and not yang.is_dir():
        print(f'{yang} not found: pass --skip-coco', file=sys.stderr)
        return 2
    out: Path = args.out
    ctx: dict[str, Any] = {'models': out / 'models', 'maps': out / 'maps'}
    for folder in ctx.values():
        folder.mkdir(parents=True, exist_ok=True)
    runs = earlier_runs(out, args)
    if runs is None:
        return 2
    done = {run_key(run) for run in runs}
    # (test fold or None, chip folder, scored split, file-name tag)
    plans: list[tuple[int | None, Path, str, str]] = []
    if args.cv:
        chips = blocked_folds(lubka1, args)
        chips.drop(columns='geometry').to_csv(out / f'folds-{args.cv}.csv', index=False)
        folds = sorted(int(f) for f in chips['fold'].unique())
        for fold in args.folds if args.folds is not None else folds:
            if fold not in folds:
                print(f'--folds {fold}: not a fold; the folds are {folds}',
                      file=sys.stderr)  # fmt: skip
                return 2
            tag = f'{args.cv}{fold}'
            root = fold_root(chips, fold, out / 'chips' / tag)
            root = subset_root(root, out / 'chips' / f'{tag}-limit', args.limit_chips,
                               args.split)  # fmt: skip
            plans.append((fold, root, args.split, f'-{tag}'))
        scored = 'test fold' if args.split == 'test' else 'val fold (for choosing)'
        scoring = (
            f'lubka1 {args.cv} folds, {scored} (unseen places), scene-level polygons'
        )
    else:
        root = subset_root(lubka1, out / 'chips', args.limit_chips, args.split)
        plans.append((None, root, args.split, ''))
        scoring = (
            f'lubka1 {args.split} (same places, other dates), scene-level polygons'
        )
    runner = {'rtsgeo': run_rtsgeo, 'unet': run_unet}
    jobs: list[tuple[str, str, str, Callable[..., dict[str, Any]]]] = [
        (row, scoring, 'lubka1', runner[LUBKA1_ROWS[row][0]]) for row in args.models
    ]
    coco_root = None
    if not args.skip_coco:
        coco_root = coco_subset(yang, out / 'coco', args.limit_chips)
        scoring = 'yang2023 valtest, chip-level masks'
        jobs += [
            (COCO_ROWS[0], scoring, 'coco', run_rtsgeo_coco),
            (COCO_ROWS[1], scoring, 'coco', run_unet_coco),
        ]
    rows = {row: how for row, how, _, _ in jobs}
    rows.update({run['model']: run['scoring'] for run in runs})
    command = 'python ' + shlex.join(
        sys.argv if argv is None else ['real_data.py', *argv]
    )
    start = time.perf_counter()
    for fold, root, split, tag in plans:
        ctx['tag'] = tag
        ctx['scenes'] = sorted((root / split / 'image').glob('*.tif'))
        ctx['truth'] = truth_polygons(
            sorted((root / split / 'mask').glob('*.tif')),
            out / f'truth{tag or "-" + split}.gpkg',
        )
        for seed in args.seeds:
            for row, how, data, job in jobs:
                key = (row, seed, None if data == 'coco' else fold)
                if key in done:
                    print(f'{describe(key)}: done earlier in {out}, kept', flush=True)
                    continue
                data_root = coco_root if data == 'coco' else root
                t0 = time.perf_counter()
                result = job(data_root, row, seed, ctx, args)
                seconds = time.perf_counter() - t0
                runs.append({'model': row, 'scoring': how, 'seed': seed,
                             **({} if key[2] is None else {'fold': fold,
                                                           'chips': str(root)}),
                             'seconds': seconds, **result})  # fmt: skip
                done.add(key)
                ap50 = result['metrics']['ap50']
                print(f'{describe(key)}: AP50 '
                      f'{ap50 if ap50 is None else round(ap50, 4)} ({seconds:.0f} s)',
                      flush=True)  # fmt: skip
                report = {
                    'command': command,
                    'settings': {k: str(v) for k, v in vars(args).items()},
                    'model_options': args.model_options,
                    'machine': f'{platform.processor() or platform.machine()}, '
                    f'{os.cpu_count()} CPU cores, torch threads {args.threads}, '
                    f'device {args.device}',
                    'runs': runs,
                    'summary': summarise(runs),
                    'seconds': time.perf_counter() - start,
                }
                (out / 'results.json').write_text(json.dumps(report, indent=2))
    print()
    print(table(summarise(runs), rows))
    print()
    print(f'command: {command}')
    print(f'run time: {(time.perf_counter() - start) / 60:.1f} min')
    return 0


if __name__ == '__main__':
    sys.exit(main())
