"""``benchmarks/real_data.py`` runs end to end on a few real chips (2 steps).

The benchmark trains rtsgeo and the TorchGeo U-Net peer on the same crops,
maps whole s2-rts-lubka1 chips with the product's campaign path, scores the
GeoPackages with the product's evaluation and, on the yang2023 COCO chips,
scores chip-level AP50. Two steps on two chips per split check the plumbing,
not the figures.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import torch
from scipy import ndimage
from torch import Tensor, nn

from rtsgeo.evaluation import evaluate_files
from rtsgeo.models import load_trained_model
from tests._scripts import load_benchmark

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / 'benchmarks' / 'real_data.py'
FUSED = 'rtsgeo RGB+NDVI+NIR (residual cross-attention)'
UNET = 'U-Net RGB+NDVI+NIR (stacked, 5 channels)'
COCO_ROWS = ['rtsgeo RGB (yang2023 chips)', 'U-Net RGB (yang2023 chips)']


@pytest.mark.slow  # 35-60 s: the default suite stays under 8 minutes
@pytest.mark.data
@pytest.mark.usefixtures('keep_torch_threads')  # the script sets its --threads
def test_smoke_run(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # In this process (the blocked smoke run below starts the script as a
    # user does): a second interpreter would spend its time importing torch.
    lubka1 = data_dir / 's2-rts-lubka1'
    if not (lubka1 / 'test' / 'mask').is_dir():
        pytest.skip(f'{lubka1} not found: set RTSGEO_DATA_DIR to the shared data')
    coco = (data_dir / 'rgb-rts-coco-yang2023').is_dir()
    out = tmp_path / 'bench'
    argv = [
        '--steps', '2', '--seeds', '0', '--limit-chips', '2', '--threads', '1',
        '--out', str(out), '--models', FUSED, UNET,
        '--model-options', 'anchor_density=2', *([] if coco else ['--skip-coco']),
    ]  # fmt: skip
    monkeypatch.setenv('RTSGEO_DATA_DIR', str(data_dir))
    bench = _benchmark(monkeypatch)
    assert bench.main(argv) == 0
    printed = capsys.readouterr().out
    assert '| model | data, scoring | seeds | AP50 (%) |' in printed
    assert 'command: python ' in printed

    report = json.loads((out / 'results.json').read_text())
    rows = [FUSED, UNET, *(COCO_ROWS if coco else [])]
    assert [run['model'] for run in report['runs']] == rows
    assert list(report['summary']) == rows
    assert report['model_options'] == {'anchor_density': 2}
    for run in report['runs']:
        assert run['seed'] == 0 and run['seconds'] > 0
        for key in ('ap50', 'ap'):
            assert 0.0 <= run['metrics'][key] <= 1.0, (run['model'], key)
        assert report['summary'][run['model']]['seeds'] == 1

    # The truth: the scored chips' masks as 8-connected components.
    masks = sorted((lubka1 / 'test' / 'mask').glob('*.tif'))[:2]
    components = 0
    for path in masks:
        with rasterio.open(path) as src:
            components += ndimage.label(src.read(1) != 0, np.ones((3, 3)))[1]
    truth = gpd.read_file(out / 'truth-test.gpkg')
    assert len(truth) == components and truth.crs.to_epsg() == 3413
    scene_level = report['runs'][:2]
    for run in scene_level:
        assert run['metrics']['n_truth'] == components
        slumps = gpd.read_file(run['predictions'], layer='slumps')
        assert slumps.crs.to_epsg() == 3413
        assert len(slumps) == run['metrics']['n_pred']
        assert slumps['score'].between(0, 1).all()

    # Every trained rtsgeo model is a trained-model file that rtsgeo map reads.
    _, info = load_trained_model(report['runs'][0]['model_file'])
    assert info.config.modalities == ('rgb', 'ndvi', 'nir')
    assert info.config.fusion == 'residual_cross_attention'
    assert info.config.anchor_density == 2
    assert 'model_file' not in report['runs'][1]  # the U-Net is not one
    if coco:
        _, info = load_trained_model(report['runs'][2]['model_file'])
        assert info.config.modalities == ('rgb',)
        assert info.config.image_size == 320


@pytest.mark.data
def test_unknown_model_option_stops_before_training(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if not (data_dir / 's2-rts-lubka1').is_dir():
        pytest.skip('s2-rts-lubka1 not found: set RTSGEO_DATA_DIR to the shared data')
    monkeypatch.setenv('RTSGEO_DATA_DIR', str(data_dir))
    bench = _benchmark(monkeypatch)
    argv = ['--out', str(tmp_path), '--model-options', 'anchor_density=2']
    # In-process, as the script's main() runs it: exit status 2, one message.
    assert bench.main([*argv, 'no_such_field=1']) == 2
    err = capsys.readouterr().err
    assert '--model-options' in err and 'no_such_field' in err
    assert not (tmp_path / 'results.json').exists()

    with pytest.raises(SystemExit) as stop:  # argparse's usage error
        bench.main([*argv[:-1], 'anchor_density'])  # no '='
    assert stop.value.code == 2
    assert (
        "--model-options 'anchor_density': write key=value" in capsys.readouterr().err
    )


def test_model_options_are_checked_as_each_row_builds_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A pretrained RGB trunk for the fused row: one path per modality of the
    # row (empty ones train from scratch), which the RGB row cannot take.
    bench = _benchmark(monkeypatch)
    rgb_only = 'unimodal_checkpoints=[a.ckpt, "", ""]'
    three = ['--model-options', 'small-objects', rgb_only]
    fused = bench.parse_args(['--models', FUSED, *three])
    assert fused.model_options['unimodal_checkpoints'] == ['a.ckpt', '', '']
    assert bench.model_options_problem(fused) is None
    both = bench.parse_args(['--models', FUSED, 'rtsgeo RGB', *three])
    assert 'one path per modality' in bench.model_options_problem(both)
    unet = bench.parse_args(['--models', UNET, '--model-options', 'no_such_field=1'])
    assert 'no_such_field' in bench.model_options_problem(unet)


def _benchmark(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The benchmark script as a module (it imports train_lubka1 beside it)."""
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    return load_benchmark('real_data')


class _Oracle(nn.Module):
    """Returns, chip after chip, logits that are the chip's own truth mask."""

    def __init__(self, masks: list[np.ndarray]) -> None:
        super().__init__()
        self.masks = list(masks)

    def forward(self, image: Tensor) -> Tensor:
        mask = torch.from_numpy(self.masks.pop(0)).float()
        logits = torch.full(image.shape[-2:], -20.0)
        logits[: mask.shape[0], : mask.shape[1]] = 40 * mask - 20
        return logits[None, None]


@pytest.mark.data
def test_peer_polygons_of_the_truth_score_one(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The peer's path (whole chip, components, polygons, EPSG:3413) and the
    # truth polygons share one frame: the truth itself as probabilities is
    # perfect (shifting it by 3 rows halves AP50).
    lubka1 = data_dir / 's2-rts-lubka1'
    if not (lubka1 / 'test' / 'mask').is_dir():
        pytest.skip(f'{lubka1} not found: set RTSGEO_DATA_DIR to the shared data')
    benchmark = _benchmark(monkeypatch)
    masks = sorted((lubka1 / 'test' / 'mask').glob('*.tif'))[:4]
    scenes = [lubka1 / 'test' / 'image' / m.name for m in masks]
    truth = benchmark.truth_polygons(masks, tmp_path / 'truth.gpkg')
    arrays = []
    for path in masks:
        with rasterio.open(path) as src:
            arrays.append(src.read(1) != 0)
    stats = {
        'rgb': {'mean': [0.0] * 3, 'std': [1.0] * 3},
        'ndvi': {'mean': [0.0], 'std': [1.0]},
    }
    datamodule = types.SimpleNamespace(modalities=('rgb', 'ndvi'), stats=stats)
    gpkg = tmp_path / 'oracle.gpkg'
    benchmark.map_with_unet(_Oracle(arrays), datamodule, scenes, gpkg)
    result = evaluate_files(gpkg, truth)
    assert result.n_truth == sum(ndimage.label(a, np.ones((3, 3)))[1] for a in arrays)
    assert result.n_truth > 0
    assert result.ap50 == pytest.approx(1.0)
    assert result.f1 == pytest.approx(1.0)


def test_small_objects_expands_to_the_library_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rtsgeo.models import SMALL_OBJECT_OPTIONS, ModelConfig

    module = _benchmark(monkeypatch)
    options = module.parse_model_options(['small-objects', 'detail_channels=16'])
    assert options == {**SMALL_OBJECT_OPTIONS, 'detail_channels': 16}
    config = ModelConfig().with_overrides(**options)
    assert config.detail_channels == 16 and config.anchor_density == 2


def test_unet_peer_losses(monkeypatch: pytest.MonkeyPatch) -> None:
    module = _benchmark(monkeypatch)
    target = torch.zeros(2, 16, 16)
    target[:, 4:6, 4:6] = 1  # a sparse positive
    background = torch.full((2, 16, 16), -8.0)  # predicts nothing
    both = module.build_unet(3)[1]
    bce = module.build_unet(3, 'bce')[1]
    assert isinstance(both, module.BCEDiceLoss)
    # BCE barely blames a model that predicts nothing; Dice does
    assert float(bce(background, target)) < 0.2
    assert float(both(background, target)) > 0.9
    assert float(both(40 * target - 20, target)) < 0.01


def _results(folder: Path, seeds: list[int], steps: str, ap50: list[float]) -> None:
    """A results.json as the script writes it, with one rtsgeo run per seed."""
    runs = [
        {'model': FUSED, 'scoring': 'lubka1 val, scene-level polygons', 'seed': seed,
         'seconds': 100.0 + seed, 'metrics': {'ap50': value, 'ap': value / 2}}
        for seed, value in zip(seeds, ap50, strict=True)
    ]  # fmt: skip
    settings = {'split': 'val', 'steps': steps, 'batch_size': '4', 'threads': '1'}
    folder.mkdir()
    report = {'command': f'python real_data.py --seeds {seeds}', 'settings': settings,
              'model_options': {}, 'machine': 'test', 'runs': runs}  # fmt: skip
    (folder / 'results.json').write_text(json.dumps(report))


def test_merge_joins_runs_of_several_folders(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _benchmark(monkeypatch)
    _results(tmp_path / 'a', [2, 0], '2000', [0.1, 0.3])
    _results(tmp_path / 'b', [1], '2000', [0.2])
    out = tmp_path / 'merged'
    argv = ['--merge', str(tmp_path / 'a'), str(tmp_path / 'b'), '--out', str(out)]
    assert bench.main(argv) == 0
    merged = json.loads((out / 'results.json').read_text())
    assert [run['seed'] for run in merged['runs']] == [0, 1, 2]
    ap50 = merged['summary'][FUSED]['ap50']
    assert ap50['mean'] == pytest.approx(0.2) and ap50['std'] == pytest.approx(0.1)
    printed = capsys.readouterr().out
    row = f'| {FUSED} | lubka1 val, scene-level polygons | 3 | 20.0 ± 10.0 |'
    assert row in printed
    assert printed.count('command: python real_data.py') == 2

    _results(tmp_path / 'e', [4], '2000', [0.2])  # a merged folder merges again
    again = tmp_path / 'again'
    assert (
        bench.main(['--merge', str(out), str(tmp_path / 'e'), '--out', str(again)]) == 0
    )
    remerged = json.loads((again / 'results.json').read_text())
    assert [run['seed'] for run in remerged['runs']] == [0, 1, 2, 4]
    assert len(remerged['commands']) == 3 and remerged['machines'] == ['test']
    capsys.readouterr()

    _results(tmp_path / 'c', [3], '1000', [0.2])  # other steps: refused
    assert bench.main(['--merge', str(tmp_path / 'a'), str(tmp_path / 'c')]) == 2
    assert 'steps is 1000' in capsys.readouterr().err
    _results(tmp_path / 'd', [0], '2000', [0.2])  # seed 0 twice: refused
    assert bench.main(['--merge', str(tmp_path / 'a'), str(tmp_path / 'd')]) == 2
    assert 'seed 0 is in an earlier folder' in capsys.readouterr().err
    assert bench.main(['--merge', str(tmp_path / 'nowhere')]) == 2
    assert 'results.json: not found' in capsys.readouterr().err


def test_merge_refuses_runs_with_another_scene_norm(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _benchmark(monkeypatch)
    assert bench.parse_args(['--scene-norm']).scene_norm is True
    _results(tmp_path / 'before', [0], '2000', [0.1])  # written before the option
    _results(tmp_path / 'stretched', [1], '2000', [0.2])
    report = json.loads((tmp_path / 'stretched' / 'results.json').read_text())
    report['settings']['scene_norm'] = 'True'
    (tmp_path / 'stretched' / 'results.json').write_text(json.dumps(report))
    argv = ['--merge', str(tmp_path / 'before'), str(tmp_path / 'stretched')]
    assert bench.main([*argv, '--out', str(tmp_path / 'merged')]) == 2
    assert 'scene_norm is True' in capsys.readouterr().err


@pytest.mark.slow  # 35-60 s: the default suite stays under 8 minutes
@pytest.mark.data
@pytest.mark.usefixtures('keep_torch_threads')  # the script sets its --threads
def test_cv_smoke_run_resumes(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # --cv sites on two chips of each role of one fold, 2 steps: the plumbing of
    # the blocked benchmark (folds laid out, scored per fold, FP per 100 km²),
    # then the same command again trains nothing (resumable).
    lubka1 = data_dir / 's2-rts-lubka1'
    if not (lubka1 / 'test' / 'mask').is_dir():
        pytest.skip(f'{lubka1} not found: set RTSGEO_DATA_DIR to the shared data')
    out = tmp_path / 'cv'
    argv = [
        sys.executable, str(SCRIPT), '--cv', 'sites', '--folds', '1',
        '--steps', '2', '--seeds', '0', '--limit-chips', '2', '--threads', '1',
        '--out', str(out), '--models', FUSED, UNET,
    ]  # fmt: skip
    env = {**os.environ, 'RTSGEO_DATA_DIR': str(data_dir)}
    done = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert '| folds | seeds | AP50 (%) |' in done.stdout
    assert 'FP / 100 km²' in done.stdout
    report = json.loads((out / 'results.json').read_text())
    assert [(r['model'], r['fold']) for r in report['runs']] == [(FUSED, 1), (UNET, 1)]
    folds = pd.read_csv(out / 'folds-sites.csv')
    test_chips = {
        p.name for p in (out / 'chips' / 'sites1' / 'test' / 'image').iterdir()
    }
    train_chips = {
        p.name for p in (out / 'chips' / 'sites1' / 'train' / 'image').iterdir()
    }
    named = {
        c.replace('/', '_') + '.tif': f
        for c, f in zip(folds['chip'], folds['fold'], strict=True)
    }
    assert {named[c] for c in test_chips} == {1}
    assert 1 not in {named[c] for c in train_chips}
    for run in report['runs']:
        metrics = run['metrics']
        # each model's map carries its mapped ground: the rate is defined
        assert metrics['area_km2'] > 0, run['model']
        assert metrics['fp_per_100km2'] == pytest.approx(
            100 * metrics['n_isolated'] / metrics['area_km2']
        )
    assert report['summary'][FUSED]['folds'] == 1

    # The same command again (in this process: a second interpreter would
    # spend its time importing torch) trains nothing.
    monkeypatch.setenv('RTSGEO_DATA_DIR', str(data_dir))
    bench = _benchmark(monkeypatch)
    options = argv[2:]
    assert bench.main(options) == 0
    assert f'{FUSED} seed 0 fold 1: done earlier' in capsys.readouterr().out
    assert len(json.loads((out / 'results.json').read_text())['runs']) == 2
    # other settings into the same --out are refused before anything runs
    options[options.index('--steps') + 1] = '3'
    assert bench.earlier_runs(out, bench.parse_args(options)) is None
    assert 'holds runs with steps 2, not 3' in capsys.readouterr().err

    # A run stopped after training maps with the saved model, trains nothing.
    report = json.loads((out / 'results.json').read_text())
    model_file = report['runs'][0]['model_file']
    report['runs'] = report['runs'][1:]
    (out / 'results.json').write_text(json.dumps(report))
    options[options.index('--steps') + 1] = '2'
    assert bench.main([*options, '--models', FUSED, '--reuse-models']) == 0
    assert f'{model_file}: reused, not trained again' in capsys.readouterr().out
    rerun = json.loads((out / 'results.json').read_text())['runs'][-1]
    assert rerun['train_seconds'] is None and rerun['model_file'] == model_file

    # The same model mapped with a stretch fitted to its training chips, into
    # an --out of its own (another setting): the copy records the stretch.
    stretched = tmp_path / 'stretched'
    shutil.copytree(out / 'models', stretched / 'models')
    at = options.index('--out') + 1
    argv = [*options[:at], str(stretched), *options[at + 1 :], '--models', FUSED]
    assert bench.main([*argv, '--reuse-models', '--stretch-when-mapping']) == 0
    run = json.loads((stretched / 'results.json').read_text())['runs'][-1]
    assert run['model_file'].endswith('-stretched-when-mapping.pt')
    _, info = load_trained_model(run['model_file'])
    assert info.scene_stretch is not None
    assert {'red', 'nir'} <= set(info.scene_stretch.bands)
    with pytest.raises(SystemExit):  # only with --reuse-models
        bench.parse_args([*argv, '--stretch-when-mapping'])

    # The calibration benchmark on that folder: fit on the validation fold,
    # ECE on the test fold (a 2-step model: the plumbing, not the figure).
    calibration = load_benchmark('calibration')
    argv = ['--runs', str(out), '--out', str(tmp_path / 'cal'), '--threads', '1']
    code = calibration.main(argv)
    assert code in (0, 1)
    summary = json.loads((tmp_path / 'cal' / 'calibration.json').read_text())
    assert [row['fold'] for row in summary['folds']] == [1]
    assert summary['passed'] == (code == 0)
    pooled = summary['pooled']
    assert pooled['polygons'] == summary['folds'][0]['test_polygons']
    assert (tmp_path / 'cal' / 'reliability.png').stat().st_size > 0
    assert ('PASS' if code == 0 else 'FAIL') in capsys.readouterr().out

    # The ensemble benchmark on that folder, with one seed: an ensemble of
    # one model maps and scores exactly as that model did.
    ensemble = load_benchmark('ensemble')
    argv = ['--runs', str(out), '--out', str(tmp_path / 'ens'), '--threads', '1']
    assert ensemble.main([*argv, '--seeds', '0', '--target', '0']) == 0
    summary = json.loads((tmp_path / 'ens' / 'ensemble.json').read_text())
    (row,) = summary['folds']
    assert row['fold'] == 1 and row['seeds'] == [0]
    assert row['ensemble']['ap50'] == rerun['metrics']['ap50']
    assert row['ensemble']['n_pred'] == rerun['metrics']['n_pred']
    assert summary['ap50_gain_points'] == 0.0
    assert ensemble.main([*argv, '--seeds', '0', '1']) == 2  # no seed 1 there


def test_cv_summary_is_over_folds(monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _benchmark(monkeypatch)
    runs = [
        {'model': FUSED, 'seed': seed, 'fold': fold, 'seconds': 10.0,
         'metrics': {'ap50': value, 'fp_per_100km2': 4.0 * fold}}
        for (seed, fold, value) in [(0, 0, 0.1), (1, 0, 0.3), (0, 1, 0.4), (1, 1, 0.4)]
    ]  # fmt: skip
    summary = bench.summarise(runs)[FUSED]
    assert (summary['folds'], summary['seeds']) == (2, 2)
    # fold means 0.2 and 0.4: mean 0.3, std over the two folds
    assert summary['ap50']['mean'] == pytest.approx(0.3)
    assert summary['ap50']['std'] == pytest.approx(0.1414, abs=1e-4)
    assert summary['fp_per_100km2']['mean'] == pytest.approx(2.0)
    printed = bench.table({FUSED: summary}, {FUSED: 'blocked'})
    assert f'| {FUSED} | blocked | 2 | 2 | 30.0 ± 14.1 |' in printed
    assert '| 2.00 ± 2.83 | 10 ± 0 |' in printed
