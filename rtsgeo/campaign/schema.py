"""The output schema of a mapping campaign: one source of truth for every layer.

Three layers (GeoPackage layers, also exported to Parquet files with
``fmt='parquet'``): ``slumps`` (one row per mapped slump), ``coverage`` (one
row per mapped scene: the footprint of its valid pixels, so "no slump" can be
told from "no data") and ``runs`` (one row per scene attempted: status,
message, counts, timings). Columns are listed here with their SQLite type
and meaning; the store, the merge, the export and the docs take them from
here.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    'ADDED_COLUMNS',
    'COVERAGE_COLUMNS',
    'FINAL',
    'LAYERS',
    'RUNS_COLUMNS',
    'SLUMPS_COLUMNS',
    'STATUSES',
    'Column',
]


@dataclass(frozen=True)
class Column:
    """One attribute column.

    Attributes:
        name: column name.
        sql: SQLite/GeoPackage type (``TEXT``, ``REAL``, ``INTEGER``).
        doc: what the column holds.
    """

    name: str
    sql: str
    doc: str

    @property
    def dtype(self) -> str:
        """The pandas dtype of the column."""
        return {'TEXT': 'object', 'REAL': 'float64', 'INTEGER': 'int64'}[self.sql]


_SCENE = (
    Column('scene_id', 'TEXT', 'scene file stem'),
    Column('scene_path', 'TEXT', 'absolute path of the scene file'),
)
_MODEL = (
    Column(
        'model_name',
        'TEXT',
        'name recorded in the trained-model file; ensemble(a, b) for an ensemble',
    ),
    Column(
        'checkpoint_sha256',
        'TEXT',
        "SHA-256 of the trained-model file; an ensemble's members', comma "
        'separated in order',
    ),
    Column('modalities', 'TEXT', 'model modalities, comma separated (rgb,ndvi,nir)'),
)

SLUMPS_COLUMNS: tuple[Column, ...] = (
    Column(
        'polygon_id',
        'TEXT',
        'tile-independent id: 16 hex digits of SHA-256 over scene_id and the '
        'normalised native-CRS geometry rounded to 1 cm',
    ),
    *_SCENE,
    Column('acquired', 'TEXT', 'acquisition date (ISO 8601) when known, else NULL'),
    Column('score', 'REAL', 'detection score in [0, 1]'),
    Column(
        'probability',
        'REAL',
        'calibrated probability that the polygon is a real slump (see rtsgeo '
        'calibrate); NULL when the model file holds no calibration',
    ),
    Column(
        'confidence',
        'TEXT',
        "'high', 'medium' or 'low': the tier of the probability, from thresholds "
        'chosen for target precisions when calibrating; NULL when uncalibrated',
    ),
    Column('area_m2', 'REAL', 'geodesic area on the WGS 84 ellipsoid (m^2)'),
    Column(
        'perimeter_m',
        'REAL',
        'geodesic length of all rings (exterior and holes) on WGS 84 (m)',
    ),
    Column(
        'unobserved_fraction',
        'REAL',
        'share of the one-pixel outer rim that is unobserved (quality mask), '
        'nodata or outside the scene: above 0, the object may be cut',
    ),
    *_MODEL,
)

COVERAGE_COLUMNS: tuple[Column, ...] = (
    *_SCENE,
    Column('acquired', 'TEXT', 'acquisition date (ISO 8601) when known, else NULL'),
    Column('native_crs', 'TEXT', "the scene's own CRS (e.g. EPSG:32608)"),
    Column(
        'valid_area_m2',
        'REAL',
        'geodesic area of the footprint: pixels with data that the quality '
        'mask, if any, does not mark unobserved',
    ),
    Column('tiles', 'INTEGER', 'tiles in the scene grid'),
    Column('tiles_skipped', 'INTEGER', 'tiles skipped as all nodata'),
    *_MODEL,
)

RUNS_COLUMNS: tuple[Column, ...] = (
    *_SCENE,
    Column(
        'status',
        'TEXT',
        "'done' (mapped), 'skipped' (no valid pixel) or 'failed' (see message)",
    ),
    Column('message', 'TEXT', 'why the scene failed or was skipped, else NULL'),
    Column('polygons', 'INTEGER', 'slump polygons written for the scene'),
    Column('tiles', 'INTEGER', 'tiles in the scene grid'),
    Column('tiles_skipped', 'INTEGER', 'tiles skipped as all nodata'),
    Column('valid_area_m2', 'REAL', 'area of the valid, observed pixels (m^2)'),
    Column(
        'observed_area_m2',
        'REAL',
        'with a quality mask: area of the pixels with data it leaves observed '
        '(as valid_area_m2, m^2); NULL without a mask',
    ),
    Column(
        'unobserved_area_m2',
        'REAL',
        'with a quality mask: area of the pixels with data it marks unobserved '
        '(cloud, shadow, snow, m^2); NULL without a mask',
    ),
    Column(
        'scene_gsd_m',
        'REAL',
        "the scene's own ground sampling distance (m per pixel), NULL if unread",
    ),
    Column(
        'model_gsd_m',
        'REAL',
        'GSD the model was trained at, NULL if its file records none; scenes '
        'are mapped resampled to it unless resampling is off',
    ),
    Column('seconds', 'REAL', 'wall-clock time spent on the scene'),
    Column('started_at', 'TEXT', 'UTC start time, ISO 8601'),
    Column('finished_at', 'TEXT', 'UTC end time, ISO 8601'),
    Column('worker', 'TEXT', 'host, process rank or shard that mapped the scene'),
    *_MODEL,
)

#: Layer name -> (columns, geometry type or None for an attribute table).
LAYERS: dict[str, tuple[tuple[Column, ...], str | None]] = {
    'slumps': (SLUMPS_COLUMNS, 'MULTIPOLYGON'),
    'coverage': (COVERAGE_COLUMNS, 'MULTIPOLYGON'),
    'runs': (RUNS_COLUMNS, None),
}

#: Columns added after the first release, per layer: an output written before
#: gains them (NULL for its earlier rows) when opened to resume, and reads as
#: NULL when opened read-only (merge, report).
ADDED_COLUMNS: dict[str, tuple[str, ...]] = {
    'slumps': ('unobserved_fraction', 'probability', 'confidence'),
    'runs': ('scene_gsd_m', 'model_gsd_m', 'observed_area_m2', 'unobserved_area_m2'),
}

#: Scene statuses that are final: not retried when a campaign is run again.
FINAL: tuple[str, ...] = ('done', 'skipped')

#: Scene statuses recorded in ``runs``.
STATUSES: tuple[str, ...] = (*FINAL, 'failed')

#: Columns that change from run to run even with identical results.
TIMING_COLUMNS: tuple[str, ...] = ('seconds', 'started_at', 'finished_at', 'worker')
