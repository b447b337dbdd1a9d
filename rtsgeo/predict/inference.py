"""Batched inference on tiles, flip test-time augmentation, per-tile instances."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .merge import TileInstance
from .tiling import Tile

__all__ = [
    'Detections',
    'forward_tiles',
    'fuse_detections',
    'mask_iou',
    'tile_instances',
]

#: One tile's detections: masks ``(N, H, W)`` and scores ``(N,)``. Masks are
#: probabilities, or booleans when already thresholded on an accelerator.
Detections = tuple[Tensor, Tensor]

# Flips of the (H, W) axes: identity, horizontal, vertical. Each is its own inverse.
_FLIPS: tuple[tuple[int, ...], ...] = ((), (-1,), (-2,))


def _flip(x: Tensor, dims: tuple[int, ...]) -> Tensor:
    return torch.flip(x, dims) if dims else x


def _autocast_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 where the GPU supports it (no float16 overflow), else float16."""
    if device.type == 'cuda' and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def _forward(model: nn.Module, images: Tensor, amp: bool) -> list[Detections]:
    autocast: contextlib.AbstractContextManager[object] = (
        torch.autocast(images.device.type, dtype=_autocast_dtype(images.device))
        if amp
        else contextlib.nullcontext()
    )
    with autocast:
        outputs = model(images)
    return [(out['masks'][:, 0].float(), out['scores'].float()) for out in outputs]


def mask_iou(a: Tensor, b: Tensor) -> Tensor:
    """Pairwise IoU ``(N, M)`` of boolean masks ``(N, H, W)`` and ``(M, H, W)``."""
    a2 = a.flatten(1).float()
    b2 = b.flatten(1).float()
    inter = a2 @ b2.T
    union = a2.sum(1)[:, None] + b2.sum(1)[None, :] - inter
    return inter / union.clamp_min(1.0)


def fuse_detections(
    sources: Sequence[Detections], mask_threshold: float = 0.5, iou: float = 0.5
) -> Detections:
    """Fuse detections of one tile from several sources, instance by instance.

    The sources are the augmented views of a tile (flip TTA, mapped back to
    the tile) or the models of an ensemble run on it. Detections of all
    sources are clustered greedily by score: each joins the first cluster
    whose leader's mask it overlaps at *iou* or more (at most one member per
    source). A cluster's mask is the mean of its members' probabilities and
    its score the sum of their scores over the number of sources, so an
    object seen by one source of three keeps a third of its score.

    Args:
        sources: detections of each source, on the same tile's pixels.
        mask_threshold: probability at which a mask pixel is on, for matching.
        iou: mask IoU at which two detections are the same object.

    Returns:
        Fused mask probabilities and scores, by decreasing score.
    """
    masks = torch.cat([m for m, _ in sources])
    scores = torch.cat([s for _, s in sources])
    origins = torch.cat([torch.full((len(s),), i) for i, (_, s) in enumerate(sources)])
    if len(scores) == 0:
        return masks, scores
    order = torch.argsort(scores, descending=True)
    binary = masks >= mask_threshold
    # On the CPU, read one pair at a time below without a device sync each.
    overlaps = mask_iou(binary, binary).cpu()
    leaders: list[int] = []
    clusters: list[list[int]] = []
    for index in order.tolist():
        for leader, members in zip(leaders, clusters, strict=True):
            taken = {int(origins[m]) for m in members}
            if int(origins[index]) not in taken and overlaps[leader, index] >= iou:
                members.append(index)
                break
        else:
            leaders.append(index)
            clusters.append([index])
    merged_masks = torch.stack([masks[c].mean(0) for c in clusters])
    merged_scores = torch.stack([scores[c].sum() / len(sources) for c in clusters])
    order = torch.argsort(merged_scores, descending=True)
    return merged_masks[order], merged_scores[order]


@torch.inference_mode()
def forward_tiles(
    model: nn.Module | Callable[[Tensor], list[dict[str, Tensor]]],
    images: Tensor,
    tta: bool = False,
    amp: bool = False,
    mask_threshold: float = 0.5,
    score_threshold: float | None = None,
) -> list[Detections]:
    """Run the model on a batch of tiles.

    Args:
        model: the detector in eval mode (``model(images)`` returns one dict
            with ``masks`` ``(N, 1, H, W)`` and ``scores`` per image).
        images: normalised ``(B, C, H, W)`` tiles on the model's device.
        tta: also run horizontally and vertically flipped tiles and merge the
            three views per instance (see :func:`fuse_detections`).
        amp: autocast, in bfloat16 where the GPU supports it, else float16
            (use on GPU only).
        mask_threshold: mask probability threshold used to match TTA views.
        score_threshold: without TTA, detections scoring below are dropped
            before they leave the device (with TTA, every view's detections
            count towards the merged score).

    Returns:
        Per tile, masks and scores on the CPU. Without TTA, masks computed
        off the CPU are thresholded there and come back as booleans (a
        quarter of the bytes to copy).
    """
    if not tta:
        outputs = _forward(model, images, amp)  # type: ignore[arg-type]
        if score_threshold is not None:
            outputs = [_above(m, s, score_threshold) for m, s in outputs]
        if images.device.type != 'cpu':
            outputs = [(m >= mask_threshold, s) for m, s in outputs]
        return [(m.cpu(), s.cpu()) for m, s in outputs]
    views: list[list[Detections]] = []
    for dims in _FLIPS:
        outputs = _forward(model, _flip(images, dims), amp)  # type: ignore[arg-type]
        views.append([(_flip(m, dims).cpu(), s.cpu()) for m, s in outputs])
    return [
        fuse_detections([view[i] for view in views], mask_threshold)
        for i in range(images.shape[0])
    ]


def _above(masks: Tensor, scores: Tensor, threshold: float) -> Detections:
    """The detections scoring at least *threshold* (no copy when all do)."""
    keep = scores >= threshold
    if bool(keep.all()):
        return masks, scores
    return masks[keep], scores[keep]


def tile_instances(
    tile: Tile,
    detections: Detections,
    valid: Tensor | np.ndarray,
    score_threshold: float = 0.5,
    mask_threshold: float = 0.5,
) -> list[TileInstance]:
    """A tile's detections as cropped boolean masks in scene coordinates.

    Mask pixels over nodata or padding (``valid`` False) are removed, so nodata
    never yields a detection; instances left empty are dropped.

    Args:
        tile: the tile.
        detections: masks ``(N, size, size)`` (probabilities, or booleans
            already thresholded) and scores ``(N,)``.
        valid: ``(size, size)`` validity of the tile's pixels.
        score_threshold: detections scoring below are dropped.
        mask_threshold: probability at which a mask pixel is on.

    Returns:
        The tile's instances.
    """
    probabilities, scores = detections
    score_values = scores.numpy()
    keep = np.flatnonzero(score_values >= score_threshold)
    if keep.size == 0:
        return []
    valid_np = np.asarray(valid, dtype=bool)
    # numpy, one mask at a time: no torch threads, no copy of the whole stack.
    masks = probabilities.numpy()
    instances: list[TileInstance] = []
    for index in keep:
        mask = masks[index]
        if mask.dtype == bool:
            mask = mask & valid_np
        else:
            mask = mask >= mask_threshold
            mask &= valid_np
        rows = np.flatnonzero(mask.any(1))
        if rows.size == 0:
            continue
        cols = np.flatnonzero(mask.any(0))
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        instances.append(
            TileInstance(
                mask[r0:r1, c0:c1].copy(),
                tile.row_off + int(r0),
                tile.col_off + int(c0),
                float(score_values[index]),
                tile,
            )
        )
    return instances
