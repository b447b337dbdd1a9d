"""Why a short CPU run on s2-rts-lubka1 scores what it does: fit, ranking, boxes.

Trains one model exactly as ``train_lubka1.py`` does (same defaults), then
reports, besides the test-split AP50 that script reports:

- the AP50 on the training chips' grid windows (does the model fit its own
  training data at all?);
- the test AP50 with the detection score threshold lowered from 0.05 to 0.001
  (are hits only hidden below the threshold?);
- for every test slump, the best box IoU of any detection, as shares above
  0.1, 0.3 and 0.5, by slump size (can the model place boxes on slumps of a
  few pixels?);
- the detection scores' quantiles.

    python benchmarks/lubka1_diagnostics.py --model RGB --seed 0 --steps 1000

Prints what it measured, the command and the run time, and writes
``diagnostics.json`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.ops import box_iou

sys.path.insert(0, str(Path(__file__).parent))
from train_lubka1 import MODELS, add_training_arguments, lubka1_root, train_model


def train_split_ap50(run: Any, root: Path) -> float:
    """Test-style AP50 over the training chips (a root whose test is train)."""
    from rtsgeo.datamodules import RTSDataModule

    with tempfile.TemporaryDirectory() as tmp:
        for split, source in (('train', 'train'), ('val', 'val'), ('test', 'train')):
            (Path(tmp) / split).symlink_to(root / source, target_is_directory=True)
        datamodule = RTSDataModule(
            root=tmp,
            modalities=run.datamodule.modalities,
            patch_size=run.datamodule.patch_size,
            batch_size=8,
            stats=run.datamodule.stats,
        )
        result = run.trainer.test(run.task, datamodule, verbose=False)[0]
    return float(result['test_segm_map_50'])


def localisation(run: Any) -> dict[str, Any]:
    """Best box IoU of any detection for every test slump, and the scores."""
    datamodule = run.datamodule
    datamodule.setup('test')
    model = run.task.model.eval()
    best, areas, scores = [], [], []
    with torch.no_grad():
        for batch in datamodule.test_dataloader():
            if len(batch['image']) == 0:
                continue
            batch = datamodule.on_after_batch_transfer(batch, 0)
            outputs = model(batch['image'])
            for output, boxes, masks in zip(
                outputs, batch['bbox_xyxy'], batch['mask'], strict=True
            ):
                scores.extend(output['scores'].tolist())
                if len(boxes) == 0:
                    continue
                areas.extend(masks.flatten(1).sum(1).tolist())
                if len(output['boxes']) == 0:
                    best.extend([0.0] * len(boxes))
                else:
                    iou = box_iou(boxes.float(), output['boxes'])
                    best.extend(iou.max(dim=1).values.tolist())
    best_a, area_a = np.array(best), np.array(areas)
    report: dict[str, Any] = {'test_slumps': len(best)}
    for name, keep in (
        ('all', area_a >= 0),
        ('< 25 px', area_a < 25),
        ('>= 25 px', area_a >= 25),
    ):
        chosen = best_a[keep]
        report[name] = {
            'slumps': int(keep.sum()),
            **{
                f'best_iou>={t}': float((chosen >= t).mean()) if len(chosen) else None
                for t in (0.1, 0.3, 0.5)
            },
        }
    quantiles = np.quantile(scores, [0.5, 0.9, 0.99, 1.0]) if scores else []
    report['detections'] = len(scores)
    report['score_quantiles_50_90_99_100'] = [round(float(q), 4) for q in quantiles]
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', choices=list(MODELS), default='RGB')
    parser.add_argument('--seed', type=int, default=0)
    add_training_arguments(parser)
    args = parser.parse_args()
    root = lubka1_root(args)
    if root is None:
        return 2
    start = time.perf_counter()
    run = train_model(root, args.model, args.seed, args)
    report: dict[str, Any] = {'train_seconds': round(run.seconds, 1)}
    report['test_mask_ap50'] = run.evaluate('test')['test_segm_map_50']
    report['train_mask_ap50'] = train_split_ap50(run, root)
    heads = run.task.model.roi_heads
    heads.score_threshold = 0.001
    report['test_mask_ap50_score_0.001'] = run.evaluate('test')['test_segm_map_50']
    report['localisation (score >= 0.001)'] = localisation(run)
    report['command'] = 'python ' + shlex.join(sys.argv)
    report['seconds'] = round(time.perf_counter() - start, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2)
    (args.out / 'diagnostics.json').write_text(text)
    print(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
