"""Read prediction and reference polygons for evaluation.

Any vector format GDAL reads (GeoPackage, GeoJSON, Shapefile, FlatGeobuf) and
GeoParquet. A multi-layer file (the predictor's GeoPackage holds ``slumps``
beside its coverage and run-status layers) is read from the named layer, else
from ``slumps`` when it has one.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

from ..errors import (
    ConfigError,
    CorruptLabelsError,
    DataNotFoundError,
    EmptyLabelsError,
    InvalidPolygonsError,
)

__all__ = ['DEFAULT_LAYER', 'clean_polygons', 'read_polygons']

#: The layer read from a multi-layer file when none is named (the predictor's).
DEFAULT_LAYER = 'slumps'


def read_polygons(
    path: str | Path,
    *,
    layer: str | None = None,
    where: str | None = None,
    score_column: str | None = None,
    option: str = '--layer',
) -> gpd.GeoDataFrame:
    """Read the polygons of one file, filtered by an SQL *where*.

    Args:
        path: the vector file.
        layer: layer to read; None: the only layer, else ``slumps``.
        where: an SQL ``WHERE`` clause (without the keyword) on the file's
            columns, such as ``"image_date = '2019-07-25'"``; GDAL evaluates
            it (SQLite dialect in GeoPackages), and SQLite does for GeoParquet.
        score_column: a column that must exist and hold finite numbers (the
            predictions' scores); None for reference polygons.
        option: the command-line option that sets *layer*, for messages.

    Returns:
        The rows, in the file's CRS; it may have no rows.

    Raises:
        DataNotFoundError: If *path* does not exist.
        CorruptLabelsError: If the file cannot be read as vectors.
        EmptyLabelsError: If the file has no layer.
        ConfigError: If *layer* is not in the file, or the file has several
            layers and none is named ``slumps``, or *where* fails.
        InvalidPolygonsError: If *score_column* is missing or not numeric.
    """
    path = Path(path)
    if not path.exists():
        msg = f'{path} does not exist: check the path'
        raise DataNotFoundError(msg)
    if path.suffix.lower() == '.parquet':
        frame = _read_parquet(path, where)
    else:
        frame = _read_ogr(path, _pick_layer(path, layer, option), where)
    if score_column is not None:
        _check_scores(frame, path, score_column)
    return frame


def _pick_layer(path: Path, layer: str | None, option: str) -> str:
    """The layer to read from *path*."""
    try:
        names = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except Exception as error:  # GDAL raises several types for non-vector files
        msg = f'cannot read {path} as a vector file: {error}'
        raise CorruptLabelsError(msg) from error
    if not names:
        msg = f'{path} has no layer: write the polygons into it'
        raise EmptyLabelsError(msg)
    if layer is not None:
        if layer not in names:
            msg = f'layer {layer!r} is not in {path}: its layers are {names}'
            raise ConfigError(msg)
        return layer
    if len(names) == 1:
        return names[0]
    if DEFAULT_LAYER in names:
        return DEFAULT_LAYER
    msg = f'{path} has several layers {names}: choose one with {option} NAME'
    raise ConfigError(msg)


def _read_ogr(path: Path, layer: str, where: str | None) -> gpd.GeoDataFrame:
    try:
        return gpd.read_file(path, layer=layer, where=where, engine='pyogrio')
    except Exception as error:  # pyogrio wraps GDAL errors in several types
        if where is not None:
            columns = list(pyogrio.read_info(path, layer=layer)['fields'])
            msg = f'--where {where!r} fails on {path}: {error}; its columns: {columns}'
            raise ConfigError(msg) from error
        msg = f'cannot read layer {layer!r} of {path}: {error}'
        raise CorruptLabelsError(msg) from error


def _read_parquet(path: Path, where: str | None) -> gpd.GeoDataFrame:
    try:
        frame = gpd.read_parquet(path)
    except ImportError as error:
        msg = (
            f'reading {path} needs pyarrow: pip install "rtsgeo[parquet]" '
            '(or convert it with ogr2ogr to a GeoPackage)'
        )
        raise ConfigError(msg) from error
    except Exception as error:  # pyarrow raises many types
        msg = f'cannot read {path} as GeoParquet: {error}'
        raise CorruptLabelsError(msg) from error
    if where is None:
        return frame
    # GDAL has no GeoParquet driver here: run the clause on the attributes in SQLite.
    attributes = frame.drop(columns=frame.geometry.name).reset_index(drop=True)
    attributes['_row'] = np.arange(len(attributes))
    with sqlite3.connect(':memory:') as connection:
        attributes.to_sql('t', connection, index=False)
        try:
            rows = connection.execute(f'SELECT _row FROM t WHERE {where}').fetchall()
        except sqlite3.Error as error:
            columns = [c for c in frame.columns if c != frame.geometry.name]
            msg = f'--where {where!r} fails on {path}: {error}; its columns: {columns}'
            raise ConfigError(msg) from error
    return frame.iloc[sorted(row for (row,) in rows)]


def _check_scores(frame: gpd.GeoDataFrame, path: Path, column: str) -> None:
    if column not in frame.columns:
        columns = [c for c in frame.columns if c != frame.geometry.name]
        msg = (
            f'{path} has no {column!r} column (its columns: {columns}): add the '
            f"predictions' confidence as a numeric {column!r} column (1.0 for "
            'polygons without one) or name it with --score-column'
        )
        raise InvalidPolygonsError(msg)
    scores = np.asarray(frame[column], dtype=object)
    try:
        numbers = scores.astype(float)
    except (TypeError, ValueError):
        numbers = np.array([np.nan])
    if not np.isfinite(numbers).all():
        msg = f'column {column!r} of {path} holds values that are not finite numbers'
        raise InvalidPolygonsError(msg)


def clean_polygons(
    frame: gpd.GeoDataFrame, name: str
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Drop empty geometries, flatten Z, repair invalid polygons.

    Args:
        frame: the polygons.
        name: the file (or role) for messages and notes.

    Returns:
        The cleaned rows and notes on what was dropped or repaired.

    Raises:
        InvalidPolygonsError: If a geometry is not a (Multi)Polygon.
    """
    notes = []
    values = np.asarray(frame.geometry.array, dtype=object)
    missing = shapely.is_missing(values) | shapely.is_empty(values)
    if missing.any():
        notes.append(f'{name}: {int(missing.sum())} empty geometries ignored')
        frame = frame[~missing]
    kinds = set(frame.geom_type) - {'Polygon', 'MultiPolygon'}
    if kinds:
        msg = f'{name} has {sorted(kinds)} geometries: only polygons can be evaluated'
        raise InvalidPolygonsError(msg)
    geoms = shapely.force_2d(np.asarray(frame.geometry.array, dtype=object))
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        notes.append(f'{name}: {int(invalid.sum())} invalid polygons repaired')
        geoms[invalid] = shapely.make_valid(
            geoms[invalid], method='structure', keep_collapsed=False
        )
    attributes = frame.drop(columns=frame.geometry.name)
    frame = gpd.GeoDataFrame(
        attributes, geometry=gpd.GeoSeries(geoms, index=frame.index), crs=frame.crs
    )
    # A polygon that repairs to nothing (zero area) cannot be matched.
    frame = frame[~shapely.is_empty(geoms)]
    return frame.reset_index(drop=True), notes
