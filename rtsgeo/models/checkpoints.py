"""Loading weights from local files: MViTv2 trunks and unimodal models.

Nothing is downloaded. Files are read with ``torch.load(weights_only=True)``
(``.pt``, ``.pth``, ``.pyth``, ``.ckpt``) or safetensors (``.safetensors``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import cast

import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import CheckpointError
from ._io import load_torch_file
from .trunks import MViTv2Trunk, ResNet50Trunk

__all__ = [
    'load_trunk_weights',
    'load_unimodal_checkpoints',
    'read_state_dict',
    'resize_rel_pos',
]

StateDict = dict[str, Tensor]
_BRANCH = re.compile(r'(?:^|\.)backbone\.branches\.([^.]+)\.(.+)$')


def read_state_dict(path: str | Path) -> StateDict:
    """The tensors of a checkpoint file, unwrapped from Lightning/detectron2/pyslowfast.

    Args:
        path: a local ``torch.save`` or safetensors file.

    Returns:
        Name -> tensor.

    Raises:
        CheckpointError: If the file is missing or unreadable.
    """
    path = Path(path)
    if path.suffix == '.safetensors' and path.is_file():
        from safetensors.torch import load_file

        try:
            state: object = load_file(str(path))
        except Exception as error:
            msg = f'{path} is not a readable safetensors file ({type(error).__name__})'
            raise CheckpointError(msg) from None
    else:
        state = load_torch_file(path)
    for key in ('state_dict', 'model', 'model_state'):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping):
        raise CheckpointError(f'checkpoint {path} holds no state dict')
    return {k: v for k, v in state.items() if isinstance(v, Tensor)}


def resize_rel_pos(table: Tensor, length: int) -> Tensor:
    """Linearly interpolate a ``(L, head_dim)`` relative-position table to ``length``.

    As MViTv2 and detectron2 do when the input size changes.
    """
    if table.shape[0] == length:
        return table
    resized = F.interpolate(
        table.T[None].float(), size=length, mode='linear', align_corners=False
    )
    return resized[0].T.to(table.dtype)


def _adapt(state: StateDict, target: Mapping[str, Tensor], source: str) -> StateDict:
    """Fit rel-pos tables and input channels of *state* to the *target* module."""
    from timm.models import adapt_input_conv

    out = {}
    for key, value in state.items():
        want = target.get(key)
        if want is None or want.shape == value.shape:
            out[key] = value
        elif 'rel_pos' in key:
            out[key] = resize_rel_pos(value, want.shape[0])
        elif value.dim() == 4 and value.shape[0] == want.shape[0]:
            # Input channels: a 1-band modality sums the RGB filters (same as
            # the paper's 3-channel duplication, 3x cheaper).
            out[key] = adapt_input_conv(want.shape[1], value)
        else:
            msg = f'{source}: {key} has shape {tuple(value.shape)}, the model '
            raise CheckpointError(msg + f'needs {tuple(want.shape)}: wrong backbone?')
    return out


def _mvit_keys(state: StateDict, trunk: MViTv2Trunk) -> StateDict:
    """Keys of a timm, pyslowfast or detectron2 MViTv2 checkpoint as timm's."""
    from timm.models.mvitv2 import checkpoint_filter_fn

    for prefix in ('backbone.bottom_up.', 'body.', 'trunk.'):
        if any(k.startswith(prefix) for k in state):
            state = {
                k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)
            }
    if any(k.startswith('blocks.') for k in state):  # pyslowfast / detectron2 layout
        state = checkpoint_filter_fn(state, trunk.body)
    return state


def _resnet_keys(state: StateDict) -> StateDict:
    """Torchvision ResNet-50 keys as :class:`ResNet50Trunk`'s."""
    out = {}
    for key, value in state.items():
        key = key.removeprefix('trunk.')
        key = re.sub(r'^conv1\.', 'stem.0.', key)
        key = re.sub(r'^bn1\.', 'stem.1.', key)
        key = re.sub(r'^layer(\d)\.', lambda m: f'layers.{int(m[1]) - 1}.', key)
        out[key] = value
    return out


def load_trunk_weights(trunk: nn.Module, checkpoint: str | Path | StateDict) -> None:
    """Load backbone weights (ImageNet or detection) into a trunk.

    MViTv2: timm, pyslowfast (``MViTv2_B_in1k.pyth``) or detectron2 layouts;
    relative-position tables made at another input size are resized; the
    patch embedding is adapted to the trunk's input channels. ResNet-50:
    torchvision layout. Classification heads and other extra keys are ignored.

    Args:
        trunk: a trunk from :func:`rtsgeo.models.trunks.build_trunk`.
        checkpoint: a file or an already loaded state dict.

    Raises:
        CheckpointError: If trunk weights are missing from the checkpoint.
    """
    source = 'state dict' if isinstance(checkpoint, dict) else str(checkpoint)
    state = checkpoint if isinstance(checkpoint, dict) else read_state_dict(checkpoint)
    if isinstance(trunk, MViTv2Trunk):
        state = {f'body.{k}': v for k, v in _mvit_keys(state, trunk).items()}
    elif isinstance(trunk, ResNet50Trunk):
        state = _resnet_keys(state)
    target = trunk.state_dict()
    state = _adapt({k: v for k, v in state.items() if k in target}, target, source)
    missing = sorted(set(target) - set(state))
    if missing:
        msg = f'{source} lacks {len(missing)} trunk weights, e.g. {missing[:3]}: '
        raise CheckpointError(msg + 'is it a checkpoint of the same backbone?')
    trunk.load_state_dict(state)


def load_unimodal_checkpoints(model: nn.Module, paths: Sequence[str | Path]) -> None:
    """Initialise each modality branch (trunk and pyramid) from a unimodal model.

    Args:
        model: a multimodal model from :func:`rtsgeo.models.build_model`.
        paths: one checkpoint per branch, in ``model.backbone.branches`` order
            (the configured modality order). Each holds the state dict of a
            one-modality rtsgeo model, plain or inside a Lightning checkpoint.
            An empty path leaves its branch as built: pretrain only some
            trunks (say RGB, on data without the other bands).

    Raises:
        CheckpointError: If a file is missing, holds no single modality branch,
            or was trained on another modality or backbone.
    """
    branches = cast(nn.ModuleDict, cast(nn.Module, model.backbone).branches)
    if len(paths) != len(branches):
        msg = f'{len(paths)} unimodal checkpoints for {len(branches)} modalities '
        raise CheckpointError(msg + f'{list(branches)}: give one per modality')
    if not any(str(path) for path in paths):
        raise CheckpointError('every unimodal checkpoint path is empty: give one')
    for (name, branch), path in zip(branches.items(), paths, strict=True):
        if not str(path):
            continue
        found: dict[str, StateDict] = {}
        for key, value in read_state_dict(path).items():
            match = _BRANCH.search(key)
            if match:
                found.setdefault(match[1], {})[match[2]] = value
        if list(found) != [name]:
            msg = f'{path} should hold one {name!r} branch, found {list(found)}: '
            raise CheckpointError(
                msg + 'pass the unimodal checkpoints in modality order'
            )
        try:
            branch.load_state_dict(_adapt(found[name], branch.state_dict(), str(path)))
        except RuntimeError as error:
            msg = f'{path} does not fit the {name!r} branch: {error}'
            raise CheckpointError(msg) from error
