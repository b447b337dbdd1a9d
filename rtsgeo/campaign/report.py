"""A one-page HTML report of a campaign GeoPackage (``rtsgeo report``).

The page shows a map of the slump polygons coloured by score (by confidence
tier when a calibrated model mapped them: ``rtsgeo calibrate``) over the coverage
footprints (the observed ground; the unobserved holes in them, under cloud,
shadow, snow or nodata, in their own colour), the total slump count and area,
the observed and unobserved areas, the count and area per confidence tier,
histograms of slump area and score, the
status and areas of every scene from the run table, and the model that mapped
them.

It is one self-contained file that opens without a network: the map is a
Plotly figure, and Plotly's Python wheel ships plotly.js, which is written into
the page (``include_plotlyjs=True``); the histograms are PNG images embedded as
base64. The map has no basemap or tiles. It is drawn in the campaign's output
CRS (EPSG:3413 by default), with equal scales on both axes, so shapes and
distances look as they are on the ground. Slumps are small next to a scene, so
each also has a marker (same colour) that stays visible when zoomed out; the
markers carry the hover text.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataNotFoundError
from ..evaluation.calibration import CONFIDENCE_TIERS
from .schema import LAYERS, STATUSES

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd
    import plotly.graph_objects as go

__all__ = [
    'COVERAGE_FILL',
    'SCORE_COLORSCALE',
    'TIER_COLORS',
    'UNOBSERVED_FILL',
    'ReportSummary',
    'build_map',
    'read_campaign',
    'score_color',
    'summarize',
    'write_report',
]

#: Plotly colour scale of slump scores over [0, 1].
SCORE_COLORSCALE = 'Viridis'
#: Colour of each confidence tier on the map (calibrated models).
TIER_COLORS: dict[str, str] = dict(
    zip(
        CONFIDENCE_TIERS,
        ('rgb(178, 24, 43)', 'rgb(244, 165, 130)', 'rgb(146, 197, 222)'),
        strict=True,
    )
)
#: Fill colour of the coverage footprints on the map.
COVERAGE_FILL = 'rgb(215, 215, 215)'
_COVERAGE_LINE = 'rgb(150, 150, 150)'
#: Fill colour of the unobserved holes in the footprints (cloud, shadow, snow).
UNOBSERVED_FILL = 'rgb(190, 215, 240)'
_UNOBSERVED_LINE = 'rgb(120, 160, 200)'
#: Map height in CSS pixels.
_MAP_HEIGHT = 620


@dataclass(frozen=True)
class ReportSummary:
    """The headline figures of a report.

    Attributes:
        out: the HTML file written.
        slumps: number of slump polygons.
        slump_area_m2: their total area.
        covered_area_m2: total area of valid, observed pixels in the mapped
            scenes.
        statuses: scene count per run status (``done``, ``skipped``, ``failed``).
        models: distinct ``(model_name, checkpoint_sha256)`` pairs of the runs.
        unobserved_area_m2: total area a quality mask hid (cloud, shadow,
            snow) in the scenes mapped with one; None when none was.
        tiers: per confidence tier (``high``, ``medium``, ``low``) its slump
            count and area (m²); empty when no slump has a tier (no
            calibrated model).
    """

    out: Path
    slumps: int
    slump_area_m2: float
    covered_area_m2: float
    statuses: dict[str, int] = field(default_factory=dict)
    models: tuple[tuple[str, str], ...] = ()
    unobserved_area_m2: float | None = None
    tiers: dict[str, tuple[int, float]] = field(default_factory=dict)


def read_campaign(
    campaign: str | Path,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, pd.DataFrame]:
    """Read the three layers of a campaign GeoPackage.

    Args:
        campaign: the campaign GeoPackage.

    Returns:
        The ``slumps``, ``coverage`` and ``runs`` layers, rows sorted by scene.

    Raises:
        DataNotFoundError: If the file does not exist or lacks a layer.
    """
    import pyogrio

    path = Path(campaign)
    if not path.is_file():
        msg = f'campaign {path} does not exist: give the .gpkg that rtsgeo map wrote'
        raise DataNotFoundError(msg)
    try:
        present = {str(name) for name, _ in pyogrio.list_layers(path)}
    except pyogrio.errors.DataSourceError as error:
        msg = f'{path} cannot be read as a GeoPackage: {error}'
        raise DataNotFoundError(msg) from error
    missing = [name for name in LAYERS if name not in present]
    if missing:
        msg = (
            f'{path} lacks the campaign layer(s) {missing}: give a GeoPackage '
            'written by rtsgeo map or rtsgeo merge'
        )
        raise DataNotFoundError(msg)
    frames = []
    for name, (_, geometry) in LAYERS.items():
        frame = pyogrio.read_dataframe(
            path, layer=name, read_geometry=geometry is not None
        )
        frames.append(frame.sort_values('scene_id', kind='stable'))
    slumps, coverage, runs = frames
    return slumps, coverage, runs


def score_color(score: float) -> str:
    """Colour of a score on the map, as ``'rgb(r, g, b)'``.

    Args:
        score: detection score; clipped to [0, 1].
    """
    from plotly.colors import sample_colorscale

    return str(sample_colorscale(SCORE_COLORSCALE, [min(max(score, 0.0), 1.0)])[0])


def _rings(
    geometries: Any, tolerance: float, decimals: int
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of the polygons' exterior rings, a NaN row between rings."""
    import shapely

    parts = shapely.get_parts(np.asarray(geometries, dtype=object))
    parts = parts[~shapely.is_empty(parts)]
    if len(parts) == 0:
        return np.empty(0), np.empty(0)
    if tolerance > 0:
        parts = shapely.simplify(parts, tolerance, preserve_topology=True)
    rings = shapely.get_exterior_ring(parts)
    coords, index = shapely.get_coordinates(rings, return_index=True)
    # One NaN row after each ring: plotly draws and fills each ring on its own.
    breaks = np.flatnonzero(np.diff(index)) + 1
    coords = np.insert(coords, breaks, np.nan, axis=0)
    coords = np.vstack([coords, [np.nan, np.nan]])
    return coords[:, 0].round(decimals), coords[:, 1].round(decimals)


def _holes(geometries: Any) -> np.ndarray:
    """The holes of polygons as polygons: ground inside a footprint not observed."""
    import shapely

    parts = shapely.get_parts(np.asarray(geometries, dtype=object))
    parts = parts[shapely.get_num_interior_rings(parts) > 0]
    rings = [
        shapely.get_interior_ring(part, i)
        for part in parts
        for i in range(shapely.get_num_interior_rings(part))
    ]
    return shapely.polygons(np.asarray(rings, dtype=object))


def build_map(slumps: gpd.GeoDataFrame, coverage: gpd.GeoDataFrame) -> go.Figure:
    """The map: coverage footprints, slump polygons and markers coloured by score.

    The footprints are the observed ground; their holes (under cloud,
    shadow or snow a quality mask hid, or nodata) are drawn in their own
    colour.

    Args:
        slumps: the ``slumps`` layer.
        coverage: the ``coverage`` layer (same CRS).

    Returns:
        A Plotly figure in the layers' CRS with equal axis scales.
    """
    import plotly.graph_objects as go

    crs = slumps.crs or coverage.crs
    geographic = crs is not None and crs.is_geographic
    decimals = 7 if geographic else 2  # about 1 cm either way
    bounds = np.array(
        [
            f.total_bounds
            for f in (slumps, coverage)
            if len(f) and f.geometry.notna().any()
        ]
    )
    extent = 0.0
    if len(bounds):
        extent = float(
            max(
                np.nanmax(bounds[:, 2]) - np.nanmin(bounds[:, 0]),
                np.nanmax(bounds[:, 3]) - np.nanmin(bounds[:, 1]),
            )
        )
    # A fifth of a screen pixel when the whole campaign is in view (footprints),
    # ten times finer for the slumps, which are looked at zoomed in.
    tolerance = extent / 5000
    fig = go.Figure()

    def add_filled(
        geoms: Any, tolerance: float, fill: str, line: str, **more: Any
    ) -> None:
        x, y = _rings(geoms, tolerance, decimals)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode='lines',
                fill='toself',
                fillcolor=fill,
                line={'color': line, 'width': 1},
                hoverinfo='skip',
                **more,
            )
        )

    add_filled(
        coverage.geometry,
        tolerance,
        COVERAGE_FILL,
        _COVERAGE_LINE,
        name='coverage (observed ground)',
    )
    holes = _holes(coverage.geometry.dropna())
    if len(holes):
        add_filled(
            holes,
            tolerance,
            UNOBSERVED_FILL,
            _UNOBSERVED_LINE,
            name='not observed (cloud, shadow, snow or nodata)',
        )
    tiers = _tiers(slumps)
    by_score = slumps[tiers.isna().to_numpy()]
    rounded = by_score['score'].astype(float).round(2)
    for score in sorted(rounded.unique()):
        color = score_color(score)
        geoms = by_score.geometry[rounded == score]
        add_filled(geoms, tolerance / 10, color, color, showlegend=False)
    for tier, color in TIER_COLORS.items():
        inside = (tiers == tier).to_numpy()
        if inside.any():
            add_filled(
                slumps.geometry[inside], tolerance / 10, color, color, showlegend=False
            )
            fig.add_trace(_markers(slumps[inside], decimals, tier))
    if len(by_score) or not len(slumps):
        fig.add_trace(_markers(by_score, decimals, None))
    unit = 'degrees' if geographic else 'm'
    name = crs.to_string() if crs is not None else 'unknown CRS'
    # Whole metres with separators, not 'M' suffixes: coordinates, not amounts.
    ticks = {} if geographic else {'tickformat': ',.0f'}
    fig.update_layout(
        height=_MAP_HEIGHT,
        margin={'l': 60, 'r': 20, 't': 20, 'b': 50},
        plot_bgcolor='white',
        legend={'orientation': 'h', 'y': 1.02, 'yanchor': 'bottom'},
        xaxis={'title': {'text': f'x ({unit}, {name})'}, 'showgrid': False, **ticks},
        yaxis={
            'title': {'text': f'y ({unit})'},
            'showgrid': False,
            **ticks,
            'scaleanchor': 'x',
            'scaleratio': _aspect(crs, bounds),
        },
    )
    return fig


def _tiers(slumps: gpd.GeoDataFrame) -> pd.Series:
    """The slumps' confidence tiers (NaN where none: uncalibrated models)."""
    import pandas as pd

    if 'confidence' not in slumps:
        return pd.Series([None] * len(slumps), index=slumps.index, dtype=object)
    return slumps['confidence']


def _markers(slumps: gpd.GeoDataFrame, decimals: int, tier: str | None) -> Any:
    """One marker per slump (visible when zoomed out), carrying the hover text.

    Coloured by *tier* when given, else by score on :data:`SCORE_COLORSCALE`.
    """
    import plotly.graph_objects as go

    points = slumps.geometry.representative_point()
    if tier is None:
        name = 'slumps'
        marker: dict[str, Any] = {
            'color': slumps['score'].astype(float),
            'colorscale': SCORE_COLORSCALE,
            'cmin': 0.0,
            'cmax': 1.0,
            'colorbar': {'title': {'text': 'score'}},
        }
    else:
        name = f'slumps, {tier} confidence ({len(slumps):,})'
        marker = {'color': TIER_COLORS[tier]}
    marker.update(size=8, line={'color': 'rgb(40, 40, 40)', 'width': 1})
    probability = (
        slumps['probability'].astype(float)
        if 'probability' in slumps
        else np.full(len(slumps), np.nan)
    )
    return go.Scatter(
        x=points.x.round(decimals),
        y=points.y.round(decimals),
        mode='markers',
        name=name,
        marker=marker,
        customdata=np.column_stack(
            [slumps['scene_id'], slumps['score'], slumps['area_m2'], probability]
        ),
        hovertemplate=(
            'scene %{customdata[0]}<br>score %{customdata[1]:.2f}<br>'
            + ('' if tier is None else 'probability %{customdata[3]:.2f}<br>')
            + 'area %{customdata[2]:,.0f} m²<extra></extra>'
        ),
    )


def _aspect(crs: Any, bounds: np.ndarray) -> float:
    """Ratio of a y unit to an x unit on the ground (1 in a projected CRS)."""
    if crs is None or not crs.is_geographic or not len(bounds):
        return 1.0
    latitude = (np.nanmin(bounds[:, 1]) + np.nanmax(bounds[:, 3])) / 2
    return float(1.0 / max(np.cos(np.radians(latitude)), 0.01))


def _histogram_png(
    values: np.ndarray, bins: np.ndarray, xlabel: str, log: bool = False
) -> str:
    """A histogram as a base64 PNG (matplotlib, no global pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    figure = Figure(figsize=(5.0, 3.0), dpi=100, layout='constrained')
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    if len(values):
        ax.hist(values, bins=bins.tolist(), color='#3b528b')
    else:
        ax.text(0.5, 0.5, 'no slumps', ha='center', va='center', transform=ax.transAxes)
    if log:
        ax.set_xscale('log')
        # Plain numbers at 1, 2 and 5 of each decade; no crowded minor labels.
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f'{v:,.0f}'))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    ax.set_ylabel('slumps')
    buffer = io.BytesIO()
    figure.savefig(buffer, format='png')
    return base64.b64encode(buffer.getvalue()).decode('ascii')


def _area_bins(area: np.ndarray) -> np.ndarray:
    """Log-spaced bins over the slump areas (slump sizes span decades)."""
    positive = area[area > 0]
    if not len(positive):
        return np.logspace(0, 6, 25)
    low, high = np.log10(positive.min()), np.log10(positive.max())
    if high - low < 0.5:
        low, high = low - 0.25, high + 0.25
    return np.logspace(low, high, 25)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 1.6em; }
.figures { display: flex; flex-wrap: wrap; gap: 12px; }
.figure { border: 1px solid #ddd; border-radius: 6px; padding: 8px 14px; }
.figure b { display: block; font-size: 1.4em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: left; }
td.num { text-align: right; }
.failed { color: #b00020; font-weight: bold; }
.skipped { color: #8a6d00; }
code { font-size: 0.9em; }
"""


def _km2(area_m2: Any) -> str:
    return f'{float(area_m2) / 1e6:,.3f} km²'


def _figures(summary: ReportSummary) -> str:
    statuses = ', '.join(f'{n} {s}' for s, n in summary.statuses.items())
    boxes = [
        ('slumps', f'{summary.slumps:,}'),
        ('slump area', f'{summary.slump_area_m2 / 1e4:,.2f} ha'),
        ('area covered (valid pixels)', _km2(summary.covered_area_m2)),
        ('scenes', f'{sum(summary.statuses.values()):,} ({statuses})'),
    ]
    if summary.unobserved_area_m2 is not None:
        boxes.insert(
            3,
            ('area unobserved (cloud, shadow, snow)', _km2(summary.unobserved_area_m2)),
        )
    for tier, (count, area) in summary.tiers.items():
        boxes.append((f'{tier} confidence', f'{count:,} ({area / 1e4:,.2f} ha)'))
    return ''.join(
        f'<div class="figure">{html.escape(label)}<b>{html.escape(value)}</b></div>'
        for label, value in boxes
    )


def _models_html(runs: pd.DataFrame) -> str:
    columns = ['model_name', 'checkpoint_sha256', 'modalities']
    models = runs[columns].dropna(subset=['checkpoint_sha256']).drop_duplicates()
    if not len(models):
        return '<p>No scene recorded a model.</p>'
    rows = ''.join(
        f'<tr><td>{html.escape(str(row.model_name))}</td>'
        f'<td><code>{html.escape(str(row.checkpoint_sha256))}</code></td>'
        f'<td>{html.escape(str(row.modalities))}</td></tr>'
        for row in models.itertuples()
    )
    return (
        '<table><tr><th>model name</th><th>checkpoint SHA-256</th>'
        f'<th>modalities</th></tr>{rows}</table>'
    )


def _runs_html(runs: pd.DataFrame) -> str:
    order = {status: i for i, status in enumerate(('failed', 'skipped', 'done'))}
    runs = runs.assign(_order=runs['status'].map(order).fillna(len(order)))
    runs = runs.sort_values(['_order', 'scene_id'], kind='stable')
    rows = []
    for row in runs.itertuples():
        status = html.escape(str(row.status))
        cells = [
            f'<td>{html.escape(str(row.scene_id))}</td>',
            f'<td class="{status}">{status}</td>',
            f'<td class="num">{_text(row.polygons, lambda v: f"{int(v):,}")}</td>',
            f'<td class="num">{_text(row.valid_area_m2, _km2)}</td>',
            f'<td class="num">{_text(_unobserved(row), _km2)}</td>',
            f'<td class="num">{_text(row.seconds, lambda v: f"{float(v):.1f}")}</td>',
            f'<td>{_text(row.message, str)}</td>',
        ]
        rows.append(f'<tr>{"".join(cells)}</tr>')
    head = ''.join(
        f'<th>{h}</th>'
        for h in (
            'scene',
            'status',
            'slumps',
            'observed area',
            'unobserved area',
            'seconds',
            'message',
        )
    )
    return f'<table><tr>{head}</tr>{"".join(rows)}</table>'


def _unobserved(row: Any) -> Any:
    """A run's unobserved area; missing for runs without a quality mask."""
    return getattr(row, 'unobserved_area_m2', None)


def _text(value: Any, fmt: Callable[[Any], str]) -> str:
    """*value* formatted and escaped for a table cell, empty when missing."""
    import pandas as pd

    return '' if pd.isna(value) else html.escape(fmt(value))


def summarize(
    slumps: gpd.GeoDataFrame,
    coverage: gpd.GeoDataFrame,
    runs: pd.DataFrame,
    out: Path,
) -> ReportSummary:
    """The headline figures of a campaign's layers.

    Args:
        slumps: the ``slumps`` layer.
        coverage: the ``coverage`` layer.
        runs: the ``runs`` layer.
        out: the report file the summary belongs to.

    Returns:
        The summary; statuses are listed in :data:`~rtsgeo.campaign.STATUSES`
        order, then any other status found.
    """
    counts = runs['status'].value_counts()
    statuses = {s: int(counts[s]) for s in STATUSES if s in counts}
    statuses |= {str(s): int(n) for s, n in counts.items() if s not in statuses}
    models = runs[['model_name', 'checkpoint_sha256']].dropna().drop_duplicates()
    hidden = runs.get('unobserved_area_m2')
    unobserved = None
    if hidden is not None and hidden.notna().any():
        unobserved = float(hidden.sum())
    tiers = _tiers(slumps)
    by_tier = {
        tier: (int(inside.sum()), float(slumps['area_m2'][inside].sum()))
        for tier in TIER_COLORS
        for inside in [(tiers == tier).to_numpy()]
    }
    return ReportSummary(
        out=out,
        slumps=len(slumps),
        slump_area_m2=float(slumps['area_m2'].sum()),
        covered_area_m2=float(coverage['valid_area_m2'].sum()),
        statuses=statuses,
        models=tuple((str(a), str(b)) for a, b in models.itertuples(index=False)),
        unobserved_area_m2=unobserved,
        tiers=by_tier if tiers.notna().any() else {},
    )


def write_report(
    campaign: str | Path, out: str | Path, title: str | None = None
) -> ReportSummary:
    """Write the one-page HTML report of a campaign GeoPackage.

    The file is written beside *out* first and then renamed over it, so a
    reader never sees half a report.

    Args:
        campaign: the campaign GeoPackage (layers ``slumps``, ``coverage``,
            ``runs``).
        out: the HTML file to write (folders are created).
        title: page title; defaults to the campaign's file name.

    Returns:
        The headline figures and the path written.

    Raises:
        DataNotFoundError: If *campaign* is missing or not a campaign GeoPackage.
    """
    from .. import __version__

    campaign, out = Path(campaign), Path(out)
    slumps, coverage, runs = read_campaign(campaign)
    summary = summarize(slumps, coverage, runs, out)
    figure = build_map(slumps, coverage)
    map_html = figure.to_html(
        full_html=False,
        include_plotlyjs=True,
        div_id='campaign-map',
        config={'displaylogo': False, 'responsive': True, 'scrollZoom': True},
    )
    area = slumps['area_m2'].to_numpy(dtype=float)
    score = slumps['score'].to_numpy(dtype=float)
    area_png = _histogram_png(area, _area_bins(area), 'slump area (m²)', log=True)
    score_png = _histogram_png(score, np.linspace(0.0, 1.0, 21), 'score')
    heading = html.escape(title or f'Campaign report: {campaign.name}')
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{heading}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{heading}</h1>
<p>{html.escape(str(campaign))}, written by rtsgeo {html.escape(__version__)}.</p>
<div class="figures">{_figures(summary)}</div>
<h2>Map</h2>
<p>Slumps coloured by score, or by confidence tier where a calibrated model
mapped them, over the footprints of the mapped scenes (the ground they
observed; holes in them, under cloud, shadow, snow or nodata, in blue); scroll
to zoom, drag to pan, click a legend entry to hide a tier, hover a marker for
its scene, score and area.</p>
<div id="map">{map_html}</div>
<h2>Slump area and score</h2>
<div class="figures">
<img alt="histogram of slump area" src="data:image/png;base64,{area_png}">
<img alt="histogram of slump score" src="data:image/png;base64,{score_png}">
</div>
<h2>Model</h2>
{_models_html(runs)}
<h2>Scenes</h2>
{_runs_html(runs)}
</body>
</html>
"""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f'.{out.name}.partial')
    partial.write_text(page, encoding='utf-8')
    os.replace(partial, out)
    return summary
