"""rtsgeo demo: data, a trained model, a campaign GeoPackage and a quick-look."""

from pathlib import Path

import pyogrio
import pytest

from rtsgeo.cli.main import main
from rtsgeo.models import load_trained_model


def test_demo_writes_every_output(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / 'demo'
    argv = ['demo', '--out', str(out), '--steps', '2', '--scene-size', '256']
    assert main(argv) == 0
    captured = capfd.readouterr()
    printed = captured.out
    # Only rtsgeo's lines (and a progress bar): no advertising, no warnings.
    for noise in ('Tip:', 'GPU available', 'Warning', 'deprecated', 'stopped'):
        assert noise not in captured.out + captured.err
    assert 'campaign GeoPackage:' in printed and '4/4 against the' in printed
    _, info = load_trained_model(out / 'model.pt')
    assert info.modalities == ('rgb', 'ndvi', 'nir')
    layers = {name for name, _ in pyogrio.list_layers(out / 'campaign.gpkg')}
    assert {'slumps', 'coverage', 'runs'} <= layers
    runs = pyogrio.read_dataframe(out / 'campaign.gpkg', layer='runs')
    assert list(runs['status']) == ['done']
    assert (out / 'quicklooks' / 'demo_scene.png').stat().st_size > 10_000
    assert f'report: {out / "report.html"}' in printed
    assert 'demo-nano-rgb-ndvi-nir' in (out / 'report.html').read_text()
