"""``rtsgeo fit|validate|test|predict`` through the real CLI; its one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rtsgeo.cli.main import main

CONFIGS = Path(__file__).parents[2] / 'rtsgeo' / 'configs'


def _fit(config: Path, root: Path, out: Path, *extra: str) -> int:
    return main(
        [
            'fit',
            '--config',
            str(config),
            '--data.init_args.root',
            str(root),
            '--trainer.default_root_dir',
            str(out),
            '--trainer.enable_progress_bar',
            'false',
            *extra,
        ]
    )


@pytest.mark.parametrize('name', ['rgb.yaml', 'rgb_ndvi_nir.yaml'])
def test_fit_fast_dev_run(
    name: str, synthetic_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = _fit(
        CONFIGS / 'tiny' / name,
        synthetic_root,
        tmp_path,
        '--trainer.fast_dev_run',
        'true',
    )
    assert status == 0
    out = capsys.readouterr().out
    assert 'rtsgeo fit finished' in out
    assert 'val_segm_map_50' in out
    assert 'train_loss' in out


def test_fit_as_a_user_runs_it_exits_quietly(
    synthetic_root: Path, tmp_path: Path
) -> None:
    """No "Error in sys.excepthook" lines when the interpreter exits.

    The run's datamodule lives on in reference cycles until the last garbage
    collection; its rasterio handles must be closed before then.
    """
    argv = [sys.executable, '-m', 'rtsgeo.cli.main', 'fit', '--config']
    argv += [str(CONFIGS / 'tiny' / 'rgb.yaml'), '--data.init_args.root']
    argv += [str(synthetic_root), '--trainer.default_root_dir', str(tmp_path)]
    argv += ['--trainer.enable_progress_bar', 'false', '--trainer.fast_dev_run', '1']
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert 'rtsgeo fit finished' in done.stdout
    assert 'Error in sys.excepthook' not in done.stderr, done.stderr[-3000:]


def test_fit_coco_chips_fast_dev_run(
    coco_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # COCODataModule: crops of the chips in training, whole chips validated.
    status = _fit(
        CONFIGS / 'tiny' / 'coco_rgb.yaml',
        coco_root,
        tmp_path,
        '--trainer.fast_dev_run',
        'true',
    )
    assert status == 0
    out = capsys.readouterr().out
    assert 'rtsgeo fit finished' in out
    assert 'val_segm_map_50' in out
    assert 'train_loss' in out


@pytest.mark.data
def test_fit_yang2023_chips_fast_dev_run(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = data_dir / 'rgb-rts-coco-yang2023'
    if not root.is_dir():
        pytest.skip(f'{root} is absent')
    status = _fit(
        CONFIGS / 'tiny' / 'coco_rgb.yaml',
        root,
        tmp_path,
        '--trainer.fast_dev_run',
        'true',
    )
    assert status == 0
    assert 'val_segm_map_50' in capsys.readouterr().out


def test_predict_fast_dev_run(
    synthetic_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # RTSDataModule has its own predict loader (the test windows).
    config = CONFIGS / 'tiny' / 'rgb.yaml'
    argv = [
        'predict',
        '--config',
        str(config),
        '--data.init_args.root',
        str(synthetic_root),
        '--trainer.default_root_dir',
        str(tmp_path),
        '--trainer.enable_progress_bar',
        'false',
        '--trainer.fast_dev_run',
        'true',
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert 'rtsgeo predict finished' in out
    assert 'windows predicted: ' in out
    assert int(out.split('windows predicted: ')[1].split()[0]) > 0


def _error_line(capsys: pytest.CaptureFixture[str], command: str) -> str:
    lines = [
        x
        for x in capsys.readouterr().err.splitlines()
        if x.startswith(f'rtsgeo {command}: error:')
    ]
    assert len(lines) == 1
    return lines[0]


def _variant(tmp_path: Path, edit: dict) -> Path:
    config = yaml.safe_load((CONFIGS / 'tiny' / 'rgb.yaml').read_text())
    for section, values in edit.items():
        config[section]['init_args'].update(values)
    path = tmp_path / 'variant.yaml'
    path.write_text(yaml.safe_dump(config))
    return path


def test_unknown_modality(
    synthetic_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _variant(tmp_path, {'data': {'modalities': ['rgb', 'swir']}})
    assert _fit(config, synthetic_root, tmp_path, '--trainer.fast_dev_run', 'true') == 2
    assert 'swir' in _error_line(capsys, 'fit')


def test_model_and_data_modalities_differ(
    synthetic_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _variant(tmp_path, {'data': {'modalities': ['rgb', 'nir']}})
    assert _fit(config, synthetic_root, tmp_path, '--trainer.fast_dev_run', 'true') == 2
    line = _error_line(capsys, 'fit')
    assert "['rgb', 'nir']" in line and 'model expects' in line


def test_anchors_larger_than_input(
    synthetic_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = {'model_options': {'anchor_sizes': [8, 16, 32, 64, 128]}}
    config = _variant(tmp_path, {'model': options})
    assert _fit(config, synthetic_root, tmp_path, '--trainer.fast_dev_run', 'true') == 2
    line = _error_line(capsys, 'fit')
    assert 'anchor_sizes' in line and '[128]' in line and '64 px' in line


def test_stage2_without_stage1_checkpoints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = tmp_path / 'recipe.yaml'
    recipe.write_text(
        yaml.safe_dump(
            {
                'base': str(CONFIGS / 'tiny' / 'rgb.yaml'),
                'output_dir': str(tmp_path / 'runs'),
                'modalities': ['rgb', 'nir'],
                'stage1_checkpoints': {'rgb': str(tmp_path / 'missing-rgb.ckpt')},
            }
        )
    )
    assert main(['recipe', '--config', str(recipe), '--stage', '2']) == 2
    line = _error_line(capsys, 'recipe')
    assert "stage-1 checkpoint of 'rgb'" in line and 'missing-rgb.ckpt' in line


def test_help_lists_lightning_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(['--help'])
    out = capsys.readouterr().out
    for command in ('fit', 'validate', 'test', 'predict', 'recipe'):
        assert command in out


@pytest.mark.parametrize(
    ('cuda', 'bf16', 'expected'),
    [(False, False, '32-true'), (True, True, 'bf16-mixed'), (True, False, '16-mixed')],
)
def test_mixed_precision_only_with_a_gpu(
    monkeypatch: pytest.MonkeyPatch, cuda: bool, bf16: bool, expected: str
) -> None:
    import torch

    from rtsgeo.trainers.lightning_cli import default_precision

    monkeypatch.setattr(torch.cuda, 'is_available', lambda: cuda)
    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda: bf16)
    assert default_precision() == expected
