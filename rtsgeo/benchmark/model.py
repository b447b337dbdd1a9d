"""Measure a model on this machine: parameters, training-step memory, fusion cost.

Memory is the peak resident set size (RSS) of a fresh Python process, sampled
every millisecond, minus its RSS just before the model is built: it counts
the weights, one forward and backward pass of batch 1 (gradients included,
no optimizer state), like the paper's Table 2. Each measurement runs in its
own process so that one does not inherit another's allocator high-water mark.
Run ``python -m rtsgeo.benchmark.model step|fusion ...`` to get one figure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    'PAPER_TABLE2',
    'measure_fusion',
    'measure_parameters',
    'measure_step',
    'run_isolated',
]

#: Paper Table 2 by number of modalities: (total M, trainable M, memory MB
#: with trainable trunks, memory MB with frozen pretrained trunks).
PAPER_TABLE2: dict[int, tuple[int, int, int, int | None]] = {
    1: (103, 103, 1649, None),
    2: (170, 69, 2527, 1454),
    3: (230, 78, 3361, 1754),
}


def _rss_mb() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def _peak_during(work: Callable[[], Any]) -> tuple[float, float]:
    """Run *work*; return its seconds and the peak RSS (MB) sampled meanwhile."""
    peak = [_rss_mb()]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.001)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.perf_counter()
    work()
    seconds = time.perf_counter() - start
    done.set()
    thread.join()
    return seconds, max(peak[0], _rss_mb())


def measure_parameters(preset: str, size: int) -> dict[str, Any]:
    """Total and trainable parameters of a preset (its own freezing)."""
    from ..models.detector import build_model_from_preset, count_parameters

    model = build_model_from_preset(preset, image_size=size)
    total, trainable = count_parameters(model)
    return {'params_total': total, 'params_trainable': trainable}


def measure_step(preset: str, size: int, frozen: bool) -> dict[str, float]:
    """Peak memory (MB over the pre-build RSS) and time of one training step.

    Call in a fresh process (see :func:`run_isolated`).
    """
    import torch

    from ..models.config import get_preset
    from ..models.detector import build_model

    torch.manual_seed(0)
    config = get_preset(preset, image_size=size, freeze_trunks=frozen)
    image = torch.randn(1, config.in_channels, size, size)
    mask = torch.zeros(1, size, size, dtype=torch.uint8)
    mask[0, size // 4 : size // 2, size // 4 : size // 2] = 1
    quarter = float(size // 4)
    box = torch.tensor([[quarter, quarter, 2 * quarter, 2 * quarter]])
    target = {'boxes': box, 'labels': torch.ones(1, dtype=torch.int64), 'masks': mask}
    base = _rss_mb()
    timing: dict[str, float] = {}

    def step() -> None:
        model = build_model(config).train()
        start = time.perf_counter()
        sum(model(image, [target]).values()).backward()
        timing['step_s'] = time.perf_counter() - start

    _, peak = _peak_during(step)
    return {'peak_mb': peak - base, 'step_s': timing['step_s']}


def measure_fusion(preset: str, size: int, repeats: int = 3) -> dict[str, float]:
    """Time (forward + backward, ms) and peak memory (MB) of the fusion at P2.

    The fusion module of the preset, for one pyramid level, on random
    ``(1, C, size/4, size/4)`` maps of every modality. Call in a fresh process.
    """
    import torch

    from ..models.config import get_preset
    from ..models.fusion import build_fusion

    config = get_preset(preset)
    torch.manual_seed(0)
    fusion = build_fusion(
        config.fusion,
        list(config.modalities),
        config.primary,
        config.fpn_channels,
        1,
        config.fusion_heads,
        config.fusion_window,
    )
    side = size // 4
    maps = {
        m: {'p2': torch.randn(1, config.fpn_channels, side, side, requires_grad=True)}
        for m in config.modalities
    }
    run = lambda: fusion(maps)['p2'].square().mean().backward()  # noqa: E731
    base = _rss_mb()
    _, peak = _peak_during(run)  # cold: the allocator holds nothing yet
    seconds, _ = _peak_during(lambda: [run() for _ in range(repeats)])
    return {'fusion_ms': 1000 * seconds / repeats, 'fusion_peak_mb': peak - base}


def run_isolated(kind: str, preset: str, size: int, frozen: bool = False) -> dict:
    """Run :func:`measure_step` or :func:`measure_fusion` in a new process.

    Args:
        kind: ``'step'`` or ``'fusion'``.
        preset: model preset name.
        size: input side in pixels.
        frozen: freeze the trunks (``'step'`` only).

    Returns:
        The measurement's dictionary.
    """
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [root, env.get('PYTHONPATH')]))
    # glibc then maps every block over 64 KiB on its own and unmaps it when
    # freed, so RSS follows live tensors instead of the heap's high-water mark.
    env.setdefault('MALLOC_MMAP_THRESHOLD_', '65536')
    args = [sys.executable, '-m', 'rtsgeo.benchmark.model', kind, preset, str(size)]
    args += ['--frozen'] if frozen else []
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        msg = f'benchmark {kind} {preset} {size} failed:\n{done.stderr[-2000:]}'
        raise RuntimeError(msg)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _main(argv: list[str]) -> None:
    kind, preset, size = argv[0], argv[1], int(argv[2])
    if kind == 'step':
        result = measure_step(preset, size, frozen='--frozen' in argv)
    else:
        result = measure_fusion(preset, size)
    print(json.dumps(result))


if __name__ == '__main__':
    _main(sys.argv[1:])
