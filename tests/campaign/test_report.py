"""The campaign report: its figures, its page, and the page in a real browser."""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from rtsgeo.campaign import run_campaign
from rtsgeo.campaign.report import (
    COVERAGE_FILL,
    TIER_COLORS,
    build_map,
    read_campaign,
    score_color,
    write_report,
)
from rtsgeo.campaign.schema import LAYERS
from rtsgeo.errors import DataNotFoundError

from ._fakes import FakePredictor

CRS = 'EPSG:3413'
SHA = 'ab' * 32
#: Two slumps far apart in score, so their colours on the map differ clearly.
SCORES = (0.12, 0.93)


def _frame(name: str, rows: list[dict], geometry: list | None = None) -> pd.DataFrame:
    columns = [c.name for c in LAYERS[name][0]]
    frame = pd.DataFrame(rows, columns=columns)
    if geometry is None:
        return frame
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=CRS)


def _model() -> dict:
    return {'model_name': 'nano', 'checkpoint_sha256': SHA, 'modalities': 'rgb,ndvi'}


@pytest.fixture
def campaign(tmp_path: Path) -> Path:
    """Two 1 km scenes with one large slump each, plus a failed and a skipped scene."""
    path = tmp_path / 'campaign.gpkg'
    x0, y0 = -2_350_000.0, 100_000.0
    scenes = [shapely.box(x0, y0, x0 + 1000, y0 + 1000)]
    scenes.append(shapely.box(x0 + 1500, y0, x0 + 2500, y0 + 1000))
    slumps = [shapely.box(x0 + 300, y0 + 300, x0 + 700, y0 + 700)]
    slumps.append(shapely.Point(x0 + 2000, y0 + 500).buffer(200))
    scene = {'scene_path': '/data/s.tif', 'acquired': '2021-07-15', **_model()}
    _frame(
        'slumps',
        [
            {'polygon_id': f'{i:016x}', 'scene_id': f's{i}', **scene}
            | {'score': SCORES[i], 'area_m2': g.area, 'perimeter_m': g.length}
            for i, g in enumerate(slumps)
        ],
        [shapely.MultiPolygon([g]) for g in slumps],
    ).to_file(path, layer='slumps')
    _frame(
        'coverage',
        [
            {'scene_id': f's{i}', 'native_crs': 'EPSG:32608', **scene}
            | {'valid_area_m2': 1e6, 'tiles': 4, 'tiles_skipped': 0}
            for i in range(2)
        ],
        [shapely.MultiPolygon([g]) for g in scenes],
    ).to_file(path, layer='coverage')
    runs = [
        {'scene_id': 's0', 'status': 'done', 'polygons': 1, 'valid_area_m2': 1e6},
        {'scene_id': 's1', 'status': 'done', 'polygons': 1, 'valid_area_m2': 1e6},
        {'scene_id': 's2', 'status': 'failed', 'message': 'scene s2.tif <is> corrupt'},
        {'scene_id': 's3', 'status': 'skipped', 'message': 'no valid pixel'},
    ]
    frame = _frame('runs', [row | _model() | {'seconds': 1.5} for row in runs])
    gpd.GeoDataFrame(frame).to_file(path, layer='runs')
    return path


def test_summary_figures_come_from_the_layers(campaign: Path, tmp_path: Path) -> None:
    summary = write_report(campaign, tmp_path / 'out' / 'report.html')
    assert summary.out == tmp_path / 'out' / 'report.html'
    assert summary.out.is_file()
    assert not list(summary.out.parent.glob('.*partial'))
    slumps = read_campaign(campaign)[0]
    assert summary.slumps == 2
    assert summary.slump_area_m2 == pytest.approx(slumps['area_m2'].sum())
    assert summary.slump_area_m2 == pytest.approx(400**2 + np.pi * 200**2, rel=0.01)
    assert summary.covered_area_m2 == 2e6
    assert summary.statuses == {'done': 2, 'skipped': 1, 'failed': 1}
    assert summary.models == (('nano', SHA),)


def test_page_holds_model_scenes_and_figures(campaign: Path, tmp_path: Path) -> None:
    page = write_report(campaign, tmp_path / 'r.html', title='Lena <delta>').out
    text = page.read_text()
    assert '<title>Lena &lt;delta&gt;</title>' in text
    assert f'<code>{SHA}</code>' in text and '<td>nano</td>' in text
    # Failed scenes come first, their message escaped.
    rows = re.findall(r'<tr><td>(s\d)</td><td class="(\w+)">', text)
    assert rows == [('s2', 'failed'), ('s3', 'skipped'), ('s0', 'done'), ('s1', 'done')]
    assert 'scene s2.tif &lt;is&gt; corrupt' in text
    assert '<b>2</b>' in text  # slump count
    for name in ('area', 'score'):  # PNGs: base64 of the PNG signature
        assert f'slump {name}" src="data:image/png;base64,iVBORw0KGgo' in text


def test_page_loads_nothing_from_the_network(campaign: Path, tmp_path: Path) -> None:
    text = write_report(campaign, tmp_path / 'r.html').out.read_text()
    # plotly.js is written into the page, not linked.
    assert re.search(r'<script>\s*/\*\*\s*\* plotly\.js v\d', text)
    # Outside the inlined scripts, every resource the page names is a data: URL.
    markup = re.sub(r'<script>.*?</script>', '<script></script>', text, flags=re.S)
    tags = re.findall(r'<(?:script|link|img|iframe|source)\b[^>]*>', markup)
    assert len(tags) == 5  # three scripts (plotly.js, its set-up, the figure), 2 PNGs
    urls = [
        url
        for tag in tags
        for url in re.findall(r'(?:src|href)\s*=\s*["\']?([^"\'\s>]+)', tag)
    ]
    assert len(urls) == 2 and all(url.startswith('data:image/png') for url in urls)


def test_score_colours_follow_the_scale() -> None:
    assert score_color(0.0) == 'rgb(68, 1, 84)'  # viridis ends
    assert score_color(1.0) == 'rgb(253, 231, 37)'
    assert score_color(1.7) == score_color(1.0)
    assert score_color(0.5) not in (score_color(0.0), score_color(1.0))


def test_map_keeps_ground_shapes_in_metres_and_degrees(campaign: Path) -> None:
    slumps, coverage, _ = read_campaign(campaign)
    figure = build_map(slumps, coverage)
    assert figure.layout.yaxis.scaleanchor == 'x'
    assert figure.layout.yaxis.scaleratio == 1.0
    assert figure.layout.xaxis.title.text == 'x (m, EPSG:3413)'
    # In degrees a y unit is 1 / cos(latitude) x units long on the ground, and
    # coordinates keep about 1 cm (not 0.01 degrees).
    slumps, coverage = slumps.to_crs('EPSG:4326'), coverage.to_crs('EPSG:4326')
    figure = build_map(slumps, coverage)
    latitude = np.mean(coverage.total_bounds[[1, 3]])
    assert figure.layout.yaxis.scaleratio == pytest.approx(
        1 / np.cos(np.radians(latitude)), rel=1e-3
    )
    markers = figure.data[-1]
    points = slumps.geometry.representative_point()
    assert np.allclose(markers.x, points.x, rtol=0, atol=1e-6)
    assert np.allclose(markers.y, points.y, rtol=0, atol=1e-6)


def test_a_campaign_without_slumps_still_has_a_report(
    tmp_path: Path, synthetic_scenes: list[Path]
) -> None:
    gpkg = tmp_path / 'c.gpkg'
    stems = tuple(p.stem for p in synthetic_scenes)
    run_campaign(synthetic_scenes, FakePredictor(fail_on=stems), gpkg)
    summary = write_report(gpkg, tmp_path / 'r.html')
    assert (summary.slumps, summary.statuses) == (0, {'failed': 3})
    assert 'model failed on' in summary.out.read_text()


def test_not_a_campaign_says_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r'missing\.gpkg does not exist'):
        write_report(tmp_path / 'missing.gpkg', tmp_path / 'r.html')
    other = tmp_path / 'other.gpkg'
    gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)], crs=CRS).to_file(
        other, layer='slumps'
    )
    with pytest.raises(
        DataNotFoundError,
        match=r"lacks the campaign layer\(s\) \['coverage', 'runs'\]: give a "
        'GeoPackage written by rtsgeo map',
    ):
        write_report(other, tmp_path / 'r.html')
    assert not (tmp_path / 'r.html').exists()


# --- the page in headless Chromium -------------------------------------------------

CHROMIUM = Path('/usr/bin/chromium')
CHROMEDRIVER = Path('/usr/bin/chromedriver')


def _browser() -> Any:
    webdriver = pytest.importorskip(
        'selenium.webdriver',
        reason='selenium is not installed: pip install -e ".[dev]"',
    )
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip(
            'Chromium is not installed: apt-get install chromium chromium-driver '
            '(Debian) to run the browser test of the report'
        )
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        '--headless=new',
        '--no-sandbox',
        '--disable-dev-shm-usage',
        '--window-size=1280,1400',
        '--force-device-scale-factor=1',
        # Any request to the network goes to a closed port and fails loudly.
        '--proxy-server=http://127.0.0.1:9',
        '--proxy-bypass-list=<-loopback>',
    ):
        options.add_argument(argument)
    options.set_capability(
        'goog:loggingPrefs', {'browser': 'ALL', 'performance': 'ALL'}
    )
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def _pixels_near(image: np.ndarray, rgb: str, tolerance: int = 8) -> int:
    target = np.array([int(v) for v in re.findall(r'\d+', rgb)[:3]])
    return int(
        (np.abs(image[..., :3].astype(int) - target).max(axis=-1) <= tolerance).sum()
    )


def test_report_renders_in_headless_chromium(campaign: Path, tmp_path: Path) -> None:
    page = write_report(campaign, tmp_path / 'report.html').out
    driver = _browser()
    try:
        driver.get(page.as_uri())
        deadline = time.monotonic() + 30
        script = (
            "return document.querySelectorAll('#campaign-map .scatterlayer path')"
            '.length'
        )
        while driver.execute_script(script) == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)  # let plotly finish its first draw
        errors = [e for e in driver.get_log('browser') if e['level'] == 'SEVERE']
        requests = [
            json.loads(e['message'])['message']['params']['request']['url']
            for e in driver.get_log('performance')
            if '"Network.requestWillBeSent"' in e['message']
        ]
        png = driver.find_element('id', 'campaign-map').screenshot_as_png
    finally:
        driver.quit()
    assert errors == []
    assert requests and all(u.startswith(('file:', 'data:', 'blob:')) for u in requests)
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(png)).convert('RGB'))
    assert image.shape[0] > 400 and image.shape[1] > 600
    assert _pixels_near(image, COVERAGE_FILL) > 5000
    # Each slump is a filled polygon in its score's colour, far bigger than the
    # 8 px marker drawn on it (about 50 pixels).
    for score in SCORES:
        assert _pixels_near(image, score_color(score)) > 500, score


def test_tiers_colour_the_map_and_are_counted(campaign: Path, tmp_path: Path) -> None:
    slumps, coverage, _ = read_campaign(campaign)
    summary_plain = write_report(campaign, tmp_path / 'plain.html')
    assert summary_plain.tiers == {}
    layers = {name: read_campaign(campaign)[i] for i, name in enumerate(LAYERS)}
    layers['slumps']['probability'] = [0.2, 0.85]
    layers['slumps']['confidence'] = ['low', 'high']
    tiered = tmp_path / 'tiered.gpkg'
    for name, frame in layers.items():
        gpd.GeoDataFrame(frame).to_file(tiered, layer=name)
    summary = write_report(tiered, tmp_path / 'tiered.html')
    area = slumps['area_m2'].to_numpy()
    assert summary.tiers == {
        'high': (1, pytest.approx(area[1])),
        'medium': (0, 0.0),
        'low': (1, pytest.approx(area[0])),
    }
    text = (tmp_path / 'tiered.html').read_text()
    assert 'high confidence' in text and '1 (' in text
    figure = build_map(read_campaign(tiered)[0], coverage)
    names = [trace.name for trace in figure.data if trace.mode == 'markers']
    assert names == ['slumps, high confidence (1)', 'slumps, low confidence (1)']
    colours = {t.name: t.marker.color for t in figure.data if t.mode == 'markers'}
    assert colours['slumps, high confidence (1)'] == TIER_COLORS['high']
    # one uncalibrated slump keeps its score colour scale beside the tiers
    mixed = read_campaign(tiered)[0]
    mixed.loc[mixed.index[0], 'confidence'] = None
    names = [t.name for t in build_map(mixed, coverage).data if t.mode == 'markers']
    assert names == ['slumps, high confidence (1)', 'slumps']
