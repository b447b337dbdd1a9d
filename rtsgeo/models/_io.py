"""Reading ``torch.save`` files safely: tensors and plain values only.

Every file rtsgeo reads with torch (trained models, Lightning checkpoints,
trunk and unimodal weights) goes through :func:`load_torch_file`, which uses
``torch.load(weights_only=True)``: a file that holds arbitrary Python objects
is refused, never unpickled. Its error is one line that names the file.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError

__all__ = ['load_torch_file']


#: A class named by the safe unpickler's refusal ("Unsupported global: GLOBAL x.Y").
_GLOBAL = re.compile(r'GLOBAL ([\w.]+)')


def _reason(path: Path, error: Exception) -> str:
    """What was found in ``path`` instead of a loadable file, safe to print.

    torch's own message advises unsafe loading for some failures, so it is
    never passed on whole: only the name of a refused class is taken from it.
    """
    with path.open('rb') as file:
        head = file.read(16)
    if not head:
        return 'the file is empty'
    if zipfile.is_zipfile(path):
        refused = _GLOBAL.search(str(error))
        if refused:
            return (
                f'it holds a Python object of class {refused.group(1)}, which is '
                'never unpickled: only tensors and plain values are read'
            )
        if isinstance(error, pickle.UnpicklingError):
            return 'it holds Python objects other than tensors and plain values'
        return 'it is a torch.save archive that cannot be read: damaged'
    if head.startswith(b'PK'):
        return 'it is an incomplete zip archive: truncated or damaged'
    if len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return (
            f'it is a bare pickle stream (protocol {head[1]}), not a complete '
            'torch.save file: truncated, damaged or written by pickle.dump'
        )
    if head[:4] in (b'II*\x00', b'MM\x00*'):
        return 'it is a TIFF image'
    if len(head) > 8 and head[8:9] == b'{':
        return 'it looks like a safetensors file of weights, not a trained model'
    try:
        text = head.decode('utf-8')
    except UnicodeDecodeError:
        text = ''
    if text and all(c.isprintable() or c in '\t\r\n' for c in text):
        return f'it is a text file beginning {text.splitlines()[0][:12]!r}'
    return f'it is not a torch.save file (it begins with bytes {head[:8]!r})'


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
        with warnings.catch_warnings():
            # torch warns about a bare pickle stream's protocol before failing
            # on it: the one-line error below says what the file is instead.
            warnings.simplefilter('ignore', UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        msg = (
            f'{path} is not an rtsgeo model file or checkpoint that can be loaded '
            f'safely ({_reason(path, error)}): give a file written by `rtsgeo fit`, '
            'save_trained_model() or torch.save of a state dict'
        )
        raise CheckpointError(msg) from None
