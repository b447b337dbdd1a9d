"""Every example runs and writes what it says.

Each example runs as its own ``__main__`` with its command-line arguments, in
the test's process: a fresh interpreter per example would spend most of its
time importing torch again.
"""

from __future__ import annotations

import json
import runpy
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rtsgeo.cli.main import main as rtsgeo

EXAMPLES = Path(__file__).resolve().parents[2] / 'examples'


@pytest.fixture
def run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., str]:
    """``run(script, *args)``: the example's printed output."""

    def _run(script: str, *args: object) -> str:
        path = EXAMPLES / script
        with monkeypatch.context() as patch:
            patch.setattr(sys, 'argv', [str(path), *map(str, args)])
            runpy.run_path(str(path), run_name='__main__')
        return capsys.readouterr().out

    return _run


def test_data_pipeline(
    run: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv('RTSGEO_DATA_DIR', str(tmp_path / 'absent'))
    printed = run('data_pipeline.py', '--out', tmp_path)
    assert "channels {'rgb': (0, 3), 'ndvi': (3, 4), 'nir': (4, 5)}" in printed
    assert (tmp_path / 'batch.png').stat().st_size > 1000


def test_evaluate_polygons(
    run: Callable[..., str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    printed = run('evaluate_polygons.py', '--out', tmp_path)
    assert 'exact polygon IoU in EPSG:3413' in printed
    row = json.loads(printed.strip().splitlines()[-1])
    # The example's GeoPackage gives the same figures through the command line.
    pred, truth = tmp_path / 'pred.gpkg', tmp_path / 'labels' / 'scene.gpkg'
    argv = ['evaluate', '--pred', str(pred), '--truth', str(truth), '--json']
    assert rtsgeo(argv) == 0
    assert json.loads(capsys.readouterr().out) == row
    assert row['n_truth'] == 20 and row['tp'] + row['fn'] == 20
    assert 0.5 < row['ap50'] <= 1 and row['ap'] < row['ap50']


def test_train_then_map_then_plot(run: Callable[..., str], tmp_path: Path) -> None:
    import pyogrio

    printed = run('train_unimodal.py', '--out', tmp_path / 'train', '--steps', 4)
    line = next(x for x in printed.splitlines() if x.startswith('checkpoint: '))
    checkpoint = Path(line.removeprefix('checkpoint: '))
    assert checkpoint.is_file() and "modalities ('rgb',)" in printed

    out = tmp_path / 'map'
    printed = run('map_scenes.py', '--checkpoint', checkpoint, '--out', out)
    assert 'mapped 3 scene(s)' in printed
    assert 'second run: 3 scene(s) already done, 0 mapped' in printed
    campaign = out / 'campaign.gpkg'
    assert {n for n, _ in pyogrio.list_layers(campaign)} >= {'slumps', 'coverage'}
    columns = set(pyogrio.read_info(campaign, layer='slumps')['fields'])
    assert {'polygon_id', 'score', 'area_m2', 'perimeter_m', 'scene_id'} <= columns
    assert len(list((out / 'ql').glob('*.png'))) == 3
    assert f'report: {out / "report.html"} (' in printed
    assert 'scene2' in (out / 'report.html').read_text()
    # The model records its 5 m training GSD; the runs table shows both.
    assert "'scene_gsd_m': 5.0, 'model_gsd_m': 5.0" in printed

    # The same scenes as a STAC ItemCollection, one multi-band asset per item.
    eo = [{'name': name} for name in ('blue', 'green', 'red', 'nir')]
    features = [
        {
            'type': 'Feature',
            'stac_version': '1.0.0',
            'id': path.stem,
            'geometry': None,
            'properties': {'datetime': '2021-07-15T00:00:00Z'},
            'links': [],
            'assets': {'image': {'href': str(path), 'eo:bands': eo}},
        }
        for path in sorted((out / 'generated' / 'image').glob('*.tif'))
    ]
    items = tmp_path / 'items.json'
    items.write_text(json.dumps({'type': 'FeatureCollection', 'features': features}))
    stac_out = tmp_path / 'map-stac'
    printed_stac = run(
        'map_scenes.py', '--checkpoint', checkpoint, '--stac', items, '--out', stac_out
    )
    mapped = [
        text.splitlines()[0].rsplit(' in ', 1)[0] for text in (printed, printed_stac)
    ]
    assert mapped[0] == mapped[1]  # 'mapped 3 scene(s), N polygon(s), A km2'
    assert 'second run: 3 scene(s) already done, 0 mapped' in printed_stac

    png = tmp_path / 'plot.png'
    scene = out / 'generated' / 'image' / 'scene0.tif'
    truth = out / 'generated' / 'labels' / 'scene0.gpkg'
    printed = run(
        'plot_predictions.py', '--scene', scene, '--pred', campaign,
        '--truth', truth, '--out', png,
    )  # fmt: skip
    assert 'predicted slump(s) drawn' in printed and png.stat().st_size > 20_000


def test_two_stage_recipe(run: Callable[..., str], tmp_path: Path) -> None:
    printed = run('two_stage_recipe.py', '--out', tmp_path, '--steps', 2)
    manifest = json.loads((tmp_path / 'recipe' / 'recipe.json').read_text())
    assert set(manifest['stage2']['unimodal_checkpoints']) == {'rgb', 'ndvi', 'nir'}
    for modality in ('rgb', 'ndvi', 'nir'):
        line = next(x for x in printed.splitlines() if x.startswith(modality))
        same, _, total = line.split(': ')[1].split(' ')[:3]
        assert int(same) == int(total) > 0, line
