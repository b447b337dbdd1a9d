"""Safe loading of torch.save files: one line that says what the file is."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import torch

from rtsgeo.errors import CheckpointError
from rtsgeo.models._io import load_torch_file


class _NotWeights:
    """An arbitrary Python object: a file holding it must never be unpickled."""


def _write(path: Path, kind: str) -> None:
    if kind == 'empty':
        path.write_bytes(b'')
    elif kind == 'text':
        path.write_text('model: nano\nsteps: 200\n')
    elif kind == 'pickle':
        path.write_bytes(b'\x80\x04\x95garbage')
    elif kind == 'object':
        torch.save({'model': _NotWeights()}, path)
    elif kind == 'truncated':
        torch.save({'w': torch.ones(1000)}, path)
        path.write_bytes(path.read_bytes()[:2000])
    elif kind == 'tiff':
        path.write_bytes(b'II*\x00' + bytes(60))
    elif kind == 'one byte':
        path.write_bytes(b'\x80')
    elif kind == 'random':
        path.write_bytes(bytes(range(200, 256)))


@pytest.mark.parametrize(
    ('kind', 'found'),
    [
        ('empty', 'the file is empty'),
        ('text', "a text file beginning 'model: nano'"),
        ('pickle', 'a bare pickle stream (protocol 4), not a complete torch.save'),
        ('object', '_NotWeights, which is never unpickled'),
        ('truncated', 'an incomplete zip archive: truncated or damaged'),
        ('tiff', 'a TIFF image'),
        ('one byte', "it begins with bytes b'\\x80'"),
        ('random', "it begins with bytes b'\\xc8\\xc9"),
    ],
)
def test_says_what_was_found(
    tmp_path: Path, kind: str, found: str, recwarn: pytest.WarningsRecorder
) -> None:
    path = tmp_path / 'model.pt'
    _write(path, kind)
    with pytest.raises(CheckpointError) as raised:
        load_torch_file(path)
    message = str(raised.value)
    assert found in message
    assert message.startswith(f'{path} is not an rtsgeo model file')
    assert '\n' not in message and 'weights_only' not in message
    assert not [w for w in recwarn if 'pickle' in str(w.message)]


def test_object_is_never_unpickled(tmp_path: Path) -> None:
    path = tmp_path / 'model.pt'
    torch.save({'model': _NotWeights()}, path)
    assert zipfile.is_zipfile(path)
    with pytest.raises(CheckpointError, match='never unpickled'):
        load_torch_file(path)


def test_loads_tensors_and_plain_values(tmp_path: Path) -> None:
    path = tmp_path / 'model.pt'
    torch.save({'w': torch.arange(3), 'name': 'nano', 'gsd': 10.0}, path)
    loaded = load_torch_file(path)
    assert loaded['name'] == 'nano' and loaded['gsd'] == 10.0
    assert torch.equal(loaded['w'], torch.arange(3))
