"""``rtsgeo evaluate``: output and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from rtsgeo.cli.main import main

CRS = 'EPSG:3413'


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """The 3-truth / 4-prediction scene of tests/evaluation/test_matching.py."""
    truth = [shapely.box(x, 0, x + 10, 10) for x in (0, 20, 40)]
    pred = [
        shapely.box(0, 0, 10, 10),
        shapely.box(20, 0, 30, 6.2),
        shapely.box(0, 0, 10, 8.2),
        shapely.box(40, 0, 50, 7.2),
    ]
    frame = gpd.GeoDataFrame({'score': [0.9, 0.8, 0.7, 0.4]}, geometry=pred, crs=CRS)
    frame.to_file(tmp_path / 'pred.gpkg', layer='slumps')
    frame.iloc[:1].to_file(tmp_path / 'pred.gpkg', layer='coverage')
    gpd.GeoDataFrame(geometry=truth, crs=CRS).to_file(tmp_path / 'truth.geojson')
    return tmp_path / 'pred.gpkg', tmp_path / 'truth.geojson'


def test_json(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    pred, truth = files
    assert main(['evaluate', '--pred', str(pred), '--truth', str(truth), '--json']) == 0
    row = json.loads(capsys.readouterr().out)
    assert row['ap50'] == pytest.approx(92.5 / 101)
    assert (row['precision'], row['recall'], row['f1']) == pytest.approx((2 / 3,) * 3)
    assert (row['n_pred'], row['n_truth'], row['tp'], row['fp'], row['fn']) == (
        4,
        3,
        2,
        1,
        1,
    )
    assert (row['iou_threshold'], row['score_threshold']) == (0.5, 0.5)
    assert 'ap' in row


def test_table_and_thresholds(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pred, truth = files
    argv = ['evaluate', '--pred', str(pred), '--truth', str(truth)]
    assert main([*argv, '--iou', '0.7', '--score-threshold', '0']) == 0
    out = capsys.readouterr().out
    assert 'P/R/F1 at IoU >= 0.7, score >= 0' in out
    assert f'AP50           {92.5 / 101:.4f}' in out
    assert 'TP / FP / FN   2 / 2 / 1' in out


def error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(['evaluate', *argv]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith('rtsgeo evaluate: error: ')
    return lines[0]


def test_missing_file(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, truth = files
    line = error(['--pred', 'nowhere.gpkg', '--truth', str(truth)], capsys)
    assert 'nowhere.gpkg does not exist' in line
    line = error(['--pred', str(files[0]), '--truth', 'absent.geojson'], capsys)
    assert 'absent.geojson does not exist' in line


def test_no_score_column(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, truth = files
    line = error(['--pred', str(truth), '--truth', str(truth)], capsys)
    assert f"{truth} has no 'score' column" in line
    assert "add the predictions' confidence as a numeric 'score' column" in line


def test_empty_layers(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, truth = files
    empty = tmp_path / 'empty.gpkg'
    gpd.GeoDataFrame({'score': []}, geometry=[], crs=CRS).to_file(empty)
    line = error(['--pred', str(empty), '--truth', str(empty)], capsys)
    assert 'nothing to evaluate' in line
    # One empty side is a scene without predictions (or without truth).
    assert main(['evaluate', '--pred', str(empty), '--truth', str(truth)]) == 0
    assert 'precision      n/a (no prediction kept)' in capsys.readouterr().out


def test_unknown_layer(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pred, truth = files
    line = error(['--pred', str(pred), '--truth', str(truth), '--layer', 'x'], capsys)
    assert f"layer 'x' is not in {pred}: its layers are ['slumps', 'coverage']" in line


def test_several_layers_without_slumps(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pred, _ = files
    truth = tmp_path / 'truth.gpkg'
    gpd.read_file(pred, layer='slumps').to_file(truth, layer='a')
    gpd.read_file(pred, layer='slumps').to_file(truth, layer='b')
    line = error(['--pred', str(pred), '--truth', str(truth)], capsys)
    assert "has several layers ['a', 'b']: choose one with --truth-layer NAME" in line


def test_bad_where(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pred, truth = files
    line = error(
        ['--pred', str(pred), '--truth', str(truth), '--where', 'nope = 1'], capsys
    )
    assert "--where 'nope = 1' fails on" in line and "its columns: ['score']" in line


def test_out_of_range_iou(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pred, truth = files
    line = error(['--pred', str(pred), '--truth', str(truth), '--iou', '5'], capsys)
    assert '--iou 5.0 is out of range' in line


def test_mismatched_coco_image_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = {
        'images': [{'id': 1, 'height': 10, 'width': 10}],
        'categories': [{'id': 1, 'name': 'rts'}],
        'annotations': [],
    }
    results = [
        {
            'image_id': 7,
            'category_id': 1,
            'segmentation': [[0, 0, 5, 0, 5, 5, 0, 5]],
            'score': 0.9,
        }
    ]
    (tmp_path / 'truth.json').write_text(json.dumps(truth))
    (tmp_path / 'results.json').write_text(json.dumps(results))
    line = error(
        [
            '--pred',
            str(tmp_path / 'results.json'),
            '--truth',
            str(tmp_path / 'truth.json'),
        ],
        capsys,
    )
    assert 'is on image_id 7, which' in line and 'truth.json does not have' in line


def test_unobserved_polygons_leave_both_sides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.evaluation.test_files import ORIGIN, scene

    pred, truth = scene()
    pred.to_file(tmp_path / 'pred.gpkg', layer='slumps')
    truth.to_file(tmp_path / 'truth.gpkg')
    x, y = ORIGIN
    cloud = shapely.box(x - 200, y - 200, x + 2200, y + 200)  # the first six
    gpd.GeoDataFrame(geometry=[cloud], crs=truth.crs).to_file(tmp_path / 'c.gpkg')
    argv = ['evaluate', '--pred', str(tmp_path / 'pred.gpkg')]
    argv += ['--truth', str(tmp_path / 'truth.gpkg'), '--json']
    assert main([*argv, '--unobserved', str(tmp_path / 'c.gpkg')]) == 0
    got = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    plain = json.loads(capsys.readouterr().out)
    assert (plain['n_truth'], got['n_truth']) == (30, 24)
    assert got['n_pred'] < plain['n_pred']
