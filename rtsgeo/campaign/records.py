"""A scene's prediction as output rows: reprojected, measured and identified.

Areas and perimeters are geodesic (``pyproj.Geod`` on the WGS 84 ellipsoid),
computed from the native-CRS polygons brought to longitude/latitude, so they
carry neither degree distortion nor the scale error of a map projection, and
do not depend on the output CRS. Polygon ids hash the scene id with the
native-CRS geometry, so they do not depend on the output CRS or on the tiling
(a seam-free predictor gives the same polygon whatever the tile grid).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Geod, Transformer
from shapely.geometry import MultiPolygon

from ..geometry import polygonal
from .schema import COVERAGE_COLUMNS, RUNS_COLUMNS, SLUMPS_COLUMNS, Column

if TYPE_CHECKING:
    from ..models.trained import TrainedModelInfo
    from ..predict.protocol import ScenePredictionLike

__all__ = [
    'SceneRecords',
    'build_scene_records',
    'empty_layer',
    'failed_records',
    'geodesic_area_perimeter',
    'polygon_ids',
]

_GEOD = Geod(ellps='WGS84')
#: Coverage outlines are densified to this spacing (native units) before
#: reprojection, so long straight scene edges bend as they should.
_DENSIFY = 500.0


@dataclass
class SceneRecords:
    """The rows one scene adds to each layer, written in one transaction.

    Attributes:
        scene_id: the scene's id.
        slumps: ``slumps`` rows in the output CRS (may be empty).
        coverage: ``coverage`` rows in the output CRS (0 or 1 row).
        run: the scene's ``runs`` row.
    """

    scene_id: str
    slumps: gpd.GeoDataFrame
    coverage: gpd.GeoDataFrame
    run: dict[str, Any] = field(default_factory=dict)


def empty_layer(columns: tuple[Column, ...], crs: Any) -> gpd.GeoDataFrame:
    """A layer with no rows and the schema's columns and dtypes."""
    data = {c.name: pd.Series([], dtype=c.dtype) for c in columns}
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def geodesic_area_perimeter(geometries: Any, crs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Geodesic area (m^2) and perimeter (m) of polygons given in *crs*."""
    geoms = np.asarray(geometries, dtype=object)
    if len(geoms) == 0:
        return np.zeros(0), np.zeros(0)
    to_lonlat = Transformer.from_crs(
        CRS.from_user_input(crs), 'EPSG:4326', always_xy=True
    )

    def project(coords: np.ndarray) -> np.ndarray:
        x, y = to_lonlat.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    lonlat = shapely.transform(geoms, project)
    parts, part_of = shapely.get_parts(lonlat, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    # Each polygon's rings come exterior first: its area counts, its holes'
    # areas are taken off, whichever way each ring winds. The perimeter is
    # the length of all rings, holes included, as the schema says.
    exterior = np.r_[True, ring_of[1:] != ring_of[:-1]] if len(rings) else []
    coords, coord_of = shapely.get_coordinates(rings, return_index=True)
    starts = np.searchsorted(coord_of, np.arange(len(rings) + 1))
    areas = np.zeros(len(geoms))
    perimeters = np.zeros(len(geoms))
    for k, owner in enumerate(part_of[ring_of]):
        ring = coords[starts[k] : starts[k + 1]]
        area, perimeter = _GEOD.polygon_area_perimeter(ring[:, 0], ring[:, 1])
        areas[owner] += abs(area) if exterior[k] else -abs(area)
        perimeters[owner] += perimeter
    return areas, perimeters


def polygon_ids(scene_id: str, geometries: Any) -> list[str]:
    """Tile-independent ids: a hash of the scene id and the rounded geometry."""
    geoms = np.asarray(geometries, dtype=object)
    rounded = shapely.transform(shapely.normalize(geoms), lambda c: np.round(c, 2))
    prefix = scene_id.encode() + b'\0'
    return [
        hashlib.sha256(prefix + wkb).hexdigest()[:16] for wkb in shapely.to_wkb(rounded)
    ]


def _multipolygon(geom: Any) -> MultiPolygon | None:
    """*geom* cleaned as the layers store it; None if nothing polygonal is left."""
    cleaned = polygonal(geom, multi=True)
    return None if cleaned.is_empty else cleaned


def _multipolygons(geoms: Any) -> list[MultiPolygon | None]:
    """:func:`_multipolygon` of each geometry; valid polygons over arrays."""
    array = _object_array(list(geoms))
    out: list[Any] = [None] * len(array)
    kind = shapely.get_type_id(array)
    clean = shapely.is_valid(array) & ~shapely.is_empty(array)
    for i in np.flatnonzero(clean & (kind == 6)):
        out[i] = array[i]
    simple = clean & (kind == 3)
    where = np.flatnonzero(simple)
    if len(where):
        promoted = shapely.multipolygons(array[where], indices=np.arange(len(where)))
        for i, geom in zip(where, promoted, strict=True):
            out[i] = geom
    for i in np.flatnonzero(~clean | ((kind != 3) & (kind != 6))):
        out[i] = _multipolygon(array[i])
    return out


def _object_array(items: list[Any]) -> np.ndarray:
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def _model_values(info: TrainedModelInfo) -> dict[str, str]:
    return {
        'model_name': info.name,
        'checkpoint_sha256': info.sha256,
        'modalities': ','.join(info.modalities),
    }


def _optional(frame: gpd.GeoDataFrame, name: str, missing: float | None) -> np.ndarray:
    """Column *name* of *frame* (float, or object for text), or all *missing*."""
    dtype = float if missing is not None else object
    if name in frame:
        return np.asarray(frame[name], dtype=dtype)
    return np.full(len(frame), missing, dtype=dtype)


def _slumps(
    prediction: ScenePredictionLike,
    info: TrainedModelInfo,
    crs: CRS,
    min_area_m2: float,
    simplify: float,
) -> gpd.GeoDataFrame:
    native = prediction.polygons
    geoms = np.asarray(native.geometry.values, dtype=object)
    scores = np.asarray(native['score'], dtype=float)
    # NULL where the predictor leaves a column out: rims (stand-ins that do
    # not measure them), probability and tier (uncalibrated models).
    rims = _optional(native, 'unobserved_fraction', np.nan)
    probability = _optional(native, 'probability', np.nan)
    confidence = _optional(native, 'confidence', None)
    if simplify > 0 and len(geoms):
        geoms = shapely.simplify(geoms, simplify, preserve_topology=True)
    fixed = _multipolygons(geoms)
    keep = np.array([g is not None for g in fixed], dtype=bool)
    geoms = _object_array([g for g in fixed if g is not None])
    columns = [
        c[keep] if len(c) else c for c in (scores, rims, probability, confidence)
    ]
    areas, perimeters = geodesic_area_perimeter(geoms, prediction.crs)
    keep = areas >= min_area_m2
    geoms = geoms[keep]
    scores, rims, probability, confidence = (c[keep] for c in columns)
    areas, perimeters = areas[keep], perimeters[keep]
    if not len(geoms):
        return empty_layer(SLUMPS_COLUMNS, crs)
    data = {
        'polygon_id': polygon_ids(prediction.scene_id, geoms),
        'scene_id': prediction.scene_id,
        'scene_path': prediction.path,
        'acquired': prediction.acquired,
        'score': scores,
        'probability': probability,
        'confidence': confidence,
        'area_m2': areas,
        'perimeter_m': perimeters,
        'unobserved_fraction': rims,
        **_model_values(info),
    }
    frame = gpd.GeoDataFrame(
        data, geometry=gpd.GeoSeries(geoms, crs=prediction.crs)
    ).to_crs(crs)
    frame = frame.set_geometry(_multipolygons(frame.geometry), crs=crs)
    frame = frame[~frame.geometry.isna()]
    return frame[[c.name for c in SLUMPS_COLUMNS] + ['geometry']]


def _coverage(
    prediction: ScenePredictionLike, info: TrainedModelInfo, crs: CRS
) -> gpd.GeoDataFrame:
    footprint = _multipolygon(prediction.coverage)
    if footprint is None:
        return empty_layer(COVERAGE_COLUMNS, crs)
    footprint = shapely.segmentize(footprint, _DENSIFY)
    area = geodesic_area_perimeter([footprint], prediction.crs)[0][0]
    data = {
        'scene_id': [prediction.scene_id],
        'scene_path': prediction.path,
        'acquired': prediction.acquired,
        'native_crs': prediction.crs.to_string(),
        'valid_area_m2': area,
        'tiles': prediction.tiles,
        'tiles_skipped': prediction.tiles_skipped,
        **_model_values(info),
    }
    frame = gpd.GeoDataFrame(
        data, geometry=gpd.GeoSeries([footprint], crs=prediction.crs)
    ).to_crs(crs)
    frame = frame.set_geometry([_multipolygon(g) for g in frame.geometry], crs=crs)
    return frame[[c.name for c in COVERAGE_COLUMNS] + ['geometry']]


def build_scene_records(
    prediction: ScenePredictionLike,
    info: TrainedModelInfo,
    crs: Any,
    run: dict[str, Any],
    min_area_m2: float = 0.0,
    simplify: float = 0.0,
) -> SceneRecords:
    """The rows of a mapped scene.

    Args:
        prediction: the predictor's output for the scene (native CRS).
        info: the trained model, recorded on every row.
        crs: output CRS of the campaign.
        run: timing values of the ``runs`` row (``seconds``, ``started_at``,
            ``finished_at``, ``worker``).
        min_area_m2: drop polygons with a smaller geodesic area.
        simplify: Douglas-Peucker tolerance in native CRS units (0: none),
            topology preserved.

    Returns:
        The scene's rows; status ``'skipped'`` when it has no valid pixel.
    """
    crs = CRS.from_user_input(crs)
    slumps = _slumps(prediction, info, crs, min_area_m2, simplify)
    coverage = _coverage(prediction, info, crs)
    empty = len(coverage) == 0 or prediction.valid_area_m2 <= 0
    unobserved = getattr(prediction, 'unobserved_area_m2', None)
    message = 'no valid pixel in the scene'
    if unobserved:
        message = 'no observed pixel in the scene (the quality mask hides all)'
    row = {
        'scene_id': prediction.scene_id,
        'scene_path': prediction.path,
        'status': 'skipped' if empty else 'done',
        'message': message if empty else None,
        'polygons': len(slumps),
        'tiles': prediction.tiles,
        'tiles_skipped': prediction.tiles_skipped,
        'valid_area_m2': float(prediction.valid_area_m2),
        'observed_area_m2': (
            None if unobserved is None else float(prediction.valid_area_m2)
        ),
        'unobserved_area_m2': None if unobserved is None else float(unobserved),
        'scene_gsd_m': prediction.scene_gsd_m,
        'model_gsd_m': info.gsd_m,
        **_model_values(info),
        **run,
    }
    return SceneRecords(prediction.scene_id, slumps, coverage, _run_row(row))


def failed_records(
    scene_id: str,
    scene_path: str,
    message: str,
    info: TrainedModelInfo,
    crs: Any,
    run: dict[str, Any],
) -> SceneRecords:
    """The rows of a scene that failed: only its ``runs`` row."""
    row = {
        'scene_id': scene_id,
        'scene_path': scene_path,
        'status': 'failed',
        'message': message,
        'polygons': 0,
        'model_gsd_m': info.gsd_m,
        **_model_values(info),
        **run,
    }
    crs = CRS.from_user_input(crs)
    return SceneRecords(
        scene_id,
        empty_layer(SLUMPS_COLUMNS, crs),
        empty_layer(COVERAGE_COLUMNS, crs),
        _run_row(row),
    )


def _run_row(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - {c.name for c in RUNS_COLUMNS}
    if unknown:
        raise ValueError(f'unknown runs column(s) {sorted(unknown)}')
    return {c.name: values.get(c.name) for c in RUNS_COLUMNS}
