import argparse
import json

import pytest

from rtsgeo.cli import benchmark


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='rtsgeo')
    benchmark.add_parser(parser.add_subparsers(dest='command'))
    return parser.parse_args(argv)


def test_benchmark_model_params_json(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse(
        [
            'benchmark',
            'model',
            '--preset',
            'nano_cascade_rgb_ndvi_nir',
            '--size',
            '64',
            '--params-only',
            '--json',
        ]
    )
    assert args.func(args) == 0
    row = json.loads(capsys.readouterr().out)
    assert row['preset'] == 'nano_cascade_rgb_ndvi_nir'
    assert row['modalities'] == ['rgb', 'ndvi', 'nir']
    assert row['params_total'] == row['params_trainable'] > 0


@pytest.mark.slow
def test_benchmark_model_memory_json(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse(
        [
            'benchmark',
            'model',
            '--preset',
            'nano_cascade_rgb_ndvi_nir',
            '--size',
            '64',
            '--fusion-sizes',
            '64',
            '128',
            '--json',
        ]
    )
    args.func(args)
    row = json.loads(capsys.readouterr().out)
    for key in (
        'step_peak_mb_trainable_trunks',
        'step_peak_mb_frozen_trunks',
        'frozen_to_trainable_ratio',
        'fusion_ms',
        'fusion_peak_mb',
    ):
        assert key in row
    assert set(row['fusion_ms']) == {'64', '128'}


def test_benchmark_needs_a_target() -> None:
    with pytest.raises(SystemExit):
        parse(['benchmark'])
