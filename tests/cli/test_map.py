from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyogrio
import pytest

from rtsgeo.cli import map as map_cli
from rtsgeo.cli.main import main
from rtsgeo.datasets import make_synthetic_dataset
from tests.campaign._fakes import FakePredictor

#: The real ``load_predictor`` (the fixture below replaces it in every test).
LOAD_PREDICTOR = map_cli.load_predictor


@pytest.fixture
def scenes(tmp_path: Path) -> Path:
    make_synthetic_dataset(tmp_path / 'data', n_scenes=3, seed=3, size=128, n_slumps=2)
    return tmp_path / 'data' / 'image'


@pytest.fixture(autouse=True)
def fake_predictor(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    built: list[dict] = []

    def load(args: object, device: str | None = None) -> FakePredictor:
        built.append({'tile_size': args.tile_size, 'checkpoint': args.checkpoint})
        return FakePredictor()

    monkeypatch.setattr(map_cli, 'load_predictor', load)
    return built


def test_map_writes_summary_and_quicklooks(
    tmp_path: Path,
    scenes: Path,
    capsys: pytest.CaptureFixture[str],
    fake_predictor: list,
) -> None:
    out = tmp_path / 'campaign.gpkg'
    quick = tmp_path / 'looks'
    argv = [
        'map',
        str(scenes),
        '--checkpoint',
        'model.pt',
        '--out',
        str(out),
        '--tile-size',
        '256',
        '--quicklook',
        str(quick),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert (
        'scenes: 3 done, 0 skipped (no data), 0 failed, 0 already done' in printed.out
    )
    for name in ('scene_000', 'scene_001', 'scene_002'):
        assert f'scene {name}: 5 m, native (the model records no GSD)' in printed.out
    polygons = len(pyogrio.read_dataframe(out, layer='slumps'))
    assert f'polygons: {polygons};' in printed.out and 'km2' in printed.out
    assert 'tile' in printed.err  # progress bars
    assert sorted(p.name for p in quick.iterdir()) == [
        'scene_000.png',
        'scene_001.png',
        'scene_002.png',
    ]
    assert fake_predictor[0] == {'tile_size': 256, 'checkpoint': [Path('model.pt')]}
    assert main([*argv, '--no-progress']) == 0
    assert (
        '0 done, 0 skipped (no data), 0 failed, 3 already done'
        in capsys.readouterr().out
    )


def test_map_failed_scene_exit_status(
    tmp_path: Path, scenes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / 'campaign.gpkg'
    argv = [
        'map',
        str(scenes),
        str(tmp_path / 'gone.tif'),
        '--checkpoint',
        'm.pt',
        '--out',
        str(out),
        '--no-progress',
    ]
    assert main(argv) == 1
    text = capsys.readouterr().out
    assert '3 done' in text and '1 failed' in text
    assert 'failed gone: DataNotFoundError' in text


def test_map_bad_inputs_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                'map',
                str(tmp_path / '*.tif'),
                '--checkpoint',
                'm.pt',
                '--out',
                str(tmp_path / 'c.gpkg'),
            ]
        )
        == 2
    )
    assert 'no file matches' in capsys.readouterr().err
    blocker = tmp_path / 'file'
    blocker.write_text('x')
    (tmp_path / 'a.tif').write_text('x')
    assert (
        main(
            [
                'map',
                str(tmp_path / 'a.tif'),
                '--checkpoint',
                'm.pt',
                '--out',
                str(blocker / 'c.gpkg'),
            ]
        )
        == 2
    )
    assert 'cannot create the folder' in capsys.readouterr().err
    assert (
        main(
            [
                'map',
                str(tmp_path / 'a.tif'),
                '--checkpoint',
                'm.pt',
                '--out',
                str(tmp_path / 'c.gpkg'),
                '--shard',
                '2/2',
            ]
        )
        == 2
    )


def test_shards_then_merge(
    tmp_path: Path, scenes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / 'campaign.gpkg'
    for index in range(2):
        argv = [
            'map',
            str(scenes),
            '--checkpoint',
            'm.pt',
            '--out',
            str(out),
            '--shard',
            f'{index}/2',
            '--no-progress',
        ]
        assert main(argv) == 0
    shards = sorted(tmp_path.glob('campaign.shard-*-of-2.gpkg'))
    assert [p.name for p in shards] == [
        'campaign.shard-0-of-2.gpkg',
        'campaign.shard-1-of-2.gpkg',
    ]
    assert main(['merge', *map(str, shards), '--out', str(out)]) == 0
    assert '3 scene(s) copied' in capsys.readouterr().out
    runs = pyogrio.read_dataframe(out, layer='runs')
    assert sorted(runs.scene_id) == ['scene_000', 'scene_001', 'scene_002']


def test_format_parquet_map_merge_evaluate(
    tmp_path: Path, scenes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rtsgeo.campaign.export import FORMATS
    from rtsgeo.cli import merge as merge_cli

    assert map_cli.FORMATS == merge_cli.FORMATS == FORMATS
    out = tmp_path / 'whole.gpkg'
    common = ['--checkpoint', 'm.pt', '--no-progress', '--format', 'parquet']
    assert main(['map', str(scenes), '--out', str(out), *common]) == 0
    printed = capsys.readouterr().out
    slumps = tmp_path / 'whole.slumps.parquet'
    assert f'geoparquet slumps: {slumps}' in printed
    assert (tmp_path / 'whole.runs.parquet').is_file()
    # Shards, then a merge that exports.
    merged = tmp_path / 'merged.gpkg'
    for index in range(2):
        argv = ['map', str(scenes), '--out', str(merged), '--shard', f'{index}/2']
        assert main([*argv, *common]) == 0
    shards = sorted(tmp_path.glob('merged.shard-*-of-2.gpkg'))
    argv = ['merge', *map(str, shards), '--out', str(merged), '--format', 'parquet']
    assert main(argv) == 0
    assert f'geoparquet coverage: {tmp_path / "merged.coverage.parquet"}' in (
        capsys.readouterr().out
    )
    assert (tmp_path / 'merged.slumps.parquet').read_bytes() == slumps.read_bytes()
    # rtsgeo evaluate reads the GeoParquet export as it reads the GeoPackage.
    results = []
    for pred in (slumps, tmp_path / 'merged.slumps.parquet', out):
        argv = ['evaluate', '--pred', str(pred), '--truth', str(out), '--json']
        where = "scene_id != 'scene_001'"
        assert main([*argv, '--where', where, '--truth-where', where]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result.pop('pred') == str(pred)
        results.append(result)
    assert results[0] == results[1] == results[2]
    assert (results[0]['ap50'], results[0]['n_pred'], results[0]['fn']) == (1.0, 4, 0)


class _NotWeights:
    """An arbitrary Python object: a file holding it must never be unpickled."""


@pytest.mark.parametrize('kind', ['garbage', 'pickled-object'])
def test_map_bad_checkpoint_one_safe_line(
    tmp_path: Path,
    scenes: Path,
    kind: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    monkeypatch.setattr(map_cli, 'load_predictor', LOAD_PREDICTOR)

    checkpoint = tmp_path / 'some.bin'
    if kind == 'garbage':
        checkpoint.write_bytes(b'this is not a model file\n' * 10)
    else:
        torch.save({'model': _NotWeights()}, checkpoint)
    argv = ['map', str(scenes), '--checkpoint', str(checkpoint)]
    argv += ['--out', str(tmp_path / 'c.gpkg'), '--no-progress']
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1, err
    assert str(checkpoint) in err
    assert 'not an rtsgeo model file or checkpoint that can be loaded safely' in err
    assert 'weights_only' not in captured.err + captured.out
    assert not (tmp_path / 'c.gpkg').exists()


def test_map_corrupt_checkpoint_exactly_one_stderr_line(
    tmp_path: Path, scenes: Path
) -> None:
    """As a user runs it: no warning of torch's reaches the terminal."""
    checkpoint = tmp_path / 'bad.pt'
    checkpoint.write_bytes(b'\x80\x04\x95garbage')
    argv = [sys.executable, '-m', 'rtsgeo.cli.main', 'map', str(scenes)]
    argv += ['--checkpoint', str(checkpoint), '--out', str(tmp_path / 'c.gpkg')]
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONWARNINGS'}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f'rtsgeo map: error: {checkpoint} is not an rtsgeo')
    assert 'bare pickle stream (protocol 4)' in lines[0]
    assert 'truncated' in lines[0]
    assert not (tmp_path / 'c.gpkg').exists()


def test_map_filters_by_geodesic_area_in_the_campaign(
    tmp_path: Path, scenes: Path
) -> None:
    common = [str(scenes), '--checkpoint', 'model.pt', '--no-progress']
    full = tmp_path / 'full.gpkg'
    assert main(['map', *common, '--out', str(full)]) == 0
    areas = pyogrio.read_dataframe(full, layer='slumps').area_m2
    cut = float(areas.median())
    filtered = tmp_path / 'filtered.gpkg'
    argv = ['--out', str(filtered), '--min-area', str(cut), '--simplify', '5']
    assert main(['map', *common, *argv]) == 0
    kept = pyogrio.read_dataframe(filtered, layer='slumps')
    assert 0 < len(kept) == (areas >= cut).sum() < len(areas)
    assert (kept.area_m2 >= cut).all()


def test_load_predictor_builds_predictor_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rtsgeo.cli.main import build_parser
    from rtsgeo.predict import PredictorOptions, ScenePredictor

    built: list[tuple[list[Path], PredictorOptions]] = []
    monkeypatch.setattr(
        ScenePredictor,
        'from_checkpoint',
        lambda path, options=None: built.append((path, options)),
    )
    argv = ['map', 's.tif', '--checkpoint', 'm.pt', '--out', 'c.gpkg']
    argv += ['--tile-size', '256', '--keep-overlaps', '--min-area', '500']
    argv += ['--workers', '2', '--prefetch', '3']
    LOAD_PREDICTOR(build_parser().parse_args(argv), device='cuda:1')
    LOAD_PREDICTOR(build_parser().parse_args([*argv, '--resample', 'off']))
    assert built == [
        (
            [Path('m.pt')],
            PredictorOptions(
                tile_size=256,
                device='cuda:1',
                keep_overlaps=True,
                workers=2,
                prefetch=3,
            ),
        ),
        (
            [Path('m.pt')],
            PredictorOptions(
                tile_size=256,
                keep_overlaps=True,
                resample=False,
                workers=2,
                prefetch=3,
            ),
        ),
    ]


def test_several_checkpoints_map_as_an_ensemble(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from rtsgeo.cli.main import build_parser
    from rtsgeo.predict import ScenePredictor

    built: list[list[Path]] = []
    monkeypatch.setattr(
        ScenePredictor,
        'from_checkpoint',
        lambda paths, options=None: built.append(paths),
    )
    argv = ['map', 's.tif', '--checkpoint', 'a.pt', 'b.pt', 'c.pt', '--out', 'c.gpkg']
    LOAD_PREDICTOR(build_parser().parse_args(argv))
    assert built == [[Path('a.pt'), Path('b.pt'), Path('c.pt')]]
    # SCENES after the checkpoints are read as checkpoints: no scene is left.
    argv = ['map', '--checkpoint', 'a.pt', 's.tif', '--out', str(tmp_path / 'c.gpkg')]
    assert main(argv) == 2
    assert (
        'no scene given: pass SCENES (before --checkpoint)' in capsys.readouterr().err
    )


def test_map_with_an_ensemble_records_every_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np
    from affine import Affine

    from rtsgeo.models import file_sha256
    from tests.models._nano import write_nano_model
    from tests.predict.oracle import write_mask_scene

    monkeypatch.setattr(map_cli, 'load_predictor', LOAD_PREDICTOR)
    mask = np.zeros((64, 64), bool)
    mask[10:40, 20:50] = True
    transform = Affine(5.0, 0.0, 500000.0, 0.0, -5.0, 7600000.0)
    scene = write_mask_scene(tmp_path / 's.tif', mask, transform, 'EPSG:32608')
    a = write_nano_model(tmp_path / 'a.pt', seed=0)
    b = write_nano_model(tmp_path / 'b.pt', seed=1)
    out = tmp_path / 'c.gpkg'
    argv = ['map', str(scene), '--checkpoint', str(a), str(b), '--out', str(out)]
    assert main([*argv, '--no-progress']) == 0
    runs = pyogrio.read_dataframe(out, layer='runs')
    assert runs[['model_name', 'checkpoint_sha256']].values.tolist() == [
        ['ensemble(a, b)', f'{file_sha256(a)},{file_sha256(b)}']
    ]


def test_map_stac_items(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from dataclasses import replace

    from rtsgeo.predict import ScenePredictor
    from tests.campaign.test_stac import _item, _scene
    from tests.predict.oracle import ComponentOracle, oracle_info

    info = replace(oracle_info(64), gsd_m=2.5)
    monkeypatch.setattr(
        map_cli,
        'load_predictor',
        lambda args, device=None: ScenePredictor(ComponentOracle(), info),
    )
    path = _scene(tmp_path, 'S2_A', seed=1)
    assets = {'image': {'href': str(path)}}
    items = tmp_path / 'items.json'
    items.write_text(
        json.dumps({'type': 'FeatureCollection', 'features': [_item('S2_A', assets)]})
    )
    out = tmp_path / 'c.gpkg'
    argv = ['map', '--stac', str(items), '--checkpoint', 'm.pt', '--out', str(out)]
    argv += ['--assets', 'blue=image:1,green=image:2,red=image:3,nir=image:4']
    assert main([*argv, '--no-progress']) == 0
    printed = capsys.readouterr().out
    assert "scene S2_A: 5 m -> 2.5 m (model's GSD)" in printed
    assert (tmp_path / 'c.stac' / 'S2_A.vrt').is_file()
    runs = pyogrio.read_dataframe(out, layer='runs')
    assert runs[
        ['scene_id', 'status', 'scene_gsd_m', 'model_gsd_m']
    ].values.tolist() == [['S2_A', 'done', 5.0, 2.5]]
    assert main([*argv, str(path)]) == 2  # SCENES and --stac: one or the other
    assert 'not both' in capsys.readouterr().err


def test_load_predictor_passes_the_quality_mask(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rtsgeo.cli.main import build_parser
    from rtsgeo.errors import ConfigError
    from rtsgeo.predict import PredictorOptions, ScenePredictor
    from rtsgeo.quality import QualityMask

    built: list[PredictorOptions] = []
    monkeypatch.setattr(
        ScenePredictor,
        'from_checkpoint',
        lambda path, options=None: built.append(options),
    )
    argv = ['map', 's.tif', '--checkpoint', 'm.pt', '--out', 'c.gpkg']
    mask = ['--quality-mask', 'scl={dir}/{stem}_SCL.tif']
    classes = ['--unobserved', 'cloud_high,thin_cirrus']
    args = [*argv, *mask, *classes, '--drop-touching-unobserved']
    LOAD_PREDICTOR(build_parser().parse_args(args))
    LOAD_PREDICTOR(build_parser().parse_args(argv))
    expected = QualityMask('scl', ('cloud_high', 'thin_cirrus'), '{dir}/{stem}_SCL.tif')
    assert built == [
        PredictorOptions(quality_mask=expected, drop_touching_unobserved=True),
        PredictorOptions(),
    ]
    with pytest.raises(ConfigError, match='--unobserved picks classes of --quality'):
        LOAD_PREDICTOR(build_parser().parse_args([*argv, *classes]))
    with pytest.raises(ConfigError, match=r"unknown scl class\(es\) \['clouds'\]"):
        LOAD_PREDICTOR(
            build_parser().parse_args([*argv, *mask, '--unobserved', 'clouds'])
        )


def test_scene_lines_give_the_unobserved_share(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from types import SimpleNamespace

    lines = map_cli.ResolutionLines(resample=True)
    run = {'status': 'done', 'scene_gsd_m': 10.0, 'model_gsd_m': 10.0}
    masked = {**run, 'observed_area_m2': 3e6, 'unobserved_area_m2': 1e6}
    lines.scene_finished(SimpleNamespace(scene_id='a', run=masked))
    lines.scene_finished(SimpleNamespace(scene_id='b', run=run))
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith('; 25% of its data unobserved (quality mask)')
    assert 'unobserved' not in out[1]
