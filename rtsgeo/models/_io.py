"""Reading ``torch.save`` files safely: tensors and plain values only.

Every file rtsgeo reads with torch (trained models, Lightning checkpoints,
trunk and unimodal weights) goes through :func:`load_torch_file`, which uses
``torch.load(weights_only=True)``: a file that holds arbitrary Python objects
is refused, never unpickled. Its error is one line that names the file.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError

__all__ = ['load_torch_file']


def _reason(error: Exception) -> str:
    """A short reason for a failed load, safe to print.

    torch's own message advises unsafe loading for some failures, so it is
    never passed on whole.
    """
    if isinstance(error, pickle.UnpicklingError):
        return 'it holds Python objects other than tensors and plain values'
    return f'it is not a file written by torch.save: {type(error).__name__}'


def load_torch_file(path: str | Path, map_location: Any = 'cpu') -> Any:
    """The content of a ``torch.save`` file, loaded with ``weights_only=True``.

    Args:
        path: the file.
        map_location: where to load the tensors.

    Returns:
        What the file holds (tensors, dicts, lists and plain values).

    Raises:
        CheckpointError: If the file is missing, or is not a file of tensors
            and plain values that can be loaded safely.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'checkpoint {path} does not exist: check the path')
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        msg = (
            f'{path} is not an rtsgeo model file or checkpoint that can be loaded '
            f'safely ({_reason(error)}): give a file written by `rtsgeo fit`, '
            'save_trained_model() or torch.save of a state dict'
        )
        raise CheckpointError(msg) from None
