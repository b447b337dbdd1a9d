"""``rtsgeo report``: the command writes the page and prints its figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtsgeo.campaign import run_campaign
from rtsgeo.cli.main import main
from rtsgeo.datasets import make_synthetic_dataset
from tests.campaign._fakes import FakePredictor


@pytest.fixture(scope='module')
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp('report')
    scenes = make_synthetic_dataset(root, n_scenes=2, seed=5, size=128, n_slumps=2)
    paths = [s.image_path for s in scenes]
    out = root / 'campaign.gpkg'
    run_campaign(paths, FakePredictor(fail_on=(paths[1].stem,)), out)
    return out


def test_report_beside_the_campaign_by_default(
    campaign: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(['report', str(campaign)]) == 0
    out = campaign.with_name('campaign.report.html')
    printed = capsys.readouterr().out
    assert printed.startswith(f'wrote {out}: 2 slump(s), ')
    assert printed.rstrip().endswith('scenes: 1 done, 1 failed')
    text = out.read_text()
    assert 'fake-oracle' in text and 'f' * 64 in text


def test_report_out_and_title(
    campaign: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / 'pages' / 'lena.html'
    assert main(['report', str(campaign), '--out', str(out), '--title', 'Lena']) == 0
    assert f'wrote {out}:' in capsys.readouterr().out
    assert '<h1>Lena</h1>' in out.read_text()


def test_missing_campaign_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(['report', str(tmp_path / 'nope.gpkg')]) == 2
    err = capsys.readouterr().err
    assert err.startswith('rtsgeo report: error: campaign ')
    assert 'nope.gpkg does not exist' in err
