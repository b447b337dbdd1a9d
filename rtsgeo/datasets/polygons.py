"""Instance labels from polygon files (GeoPackage, Shapefile, GeoJSON, GeoParquet)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio.features
import shapely
from affine import Affine
from pyproj import CRS
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from torchgeo.datasets import GeoDataset
from torchgeo.datasets.utils import GeoSlice

from ..errors import (
    ConfigError,
    CorruptLabelsError,
    DataNotFoundError,
    EmptyLabelsError,
    InvalidPolygonsError,
)
from ._geo import footprint_index, resolve_query, rows_in_window, window_transform
from ._instances import pack_instances

__all__ = ['VECTOR_SUFFIXES', 'InstancePolygonDataset']

#: File suffixes picked up when a folder is given.
VECTOR_SUFFIXES = ('.gpkg', '.shp', '.geojson', '.json', '.parquet', '.fgb')


class InstancePolygonDataset(GeoDataset):
    """RTS instances rasterised from label polygons in any CRS.

    Every file is read once, filtered by *where*, optionally dissolved, and
    reprojected to the dataset CRS (the imagery's); queries then select the
    polygons in the window with a spatial index and rasterise each one on its
    own onto the window grid (pixel-centre rule). A MultiPolygon is one
    instance. Polygons that cover fewer than *min_area* pixels of a window are
    not instances of that window. The dataset covers each file's bounding box,
    or the given *extent* (polygons label the whole imagery: no polygon, no
    slump), and owns that index.

    Samples have ``crs``, ``bounds``, ``mask`` ``(N, H, W)`` uint8,
    ``bbox_xyxy`` ``(N, 4)`` float32 enclosing the masks and ``label``
    ``(N,)`` int64, as every rtsgeo label source.
    """

    def __init__(
        self,
        paths: str | Path | Iterable[str | Path],
        crs: CRS | str | None,
        res: float | tuple[float, float],
        *,
        layer: str | int | None = None,
        where: str | None = None,
        dissolve: bool = False,
        min_area: int = 1,
        extent: shapely.Geometry | None = None,
        transforms: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        """Initialize a new InstancePolygonDataset.

        Args:
            paths: label files, or folders searched recursively for files
                ending in one of :data:`VECTOR_SUFFIXES`.
            crs: CRS of the imagery the labels go with (None: the first
                file's CRS).
            res: pixel size of the imagery in *crs* units.
            layer: layer name or index in multi-layer files (GeoPackage);
                None reads the first layer.
            where: a :meth:`pandas.DataFrame.query` string that keeps rows,
                such as ``"image_date == '2019-07-25'"``.
            dissolve: merge polygons that overlap or touch into one instance
                (for inventories that map one slump at several dates).
            min_area: smallest instance, in pixels.
            extent: the area the labels cover, in *crs* (default: each file's
                bounding box); give the imagery's footprint so that windows
                without slumps are labelled too.
            transforms: a function that takes a sample and returns a
                transformed version.

        Raises:
            DataNotFoundError: If a path does not exist or holds no vector file.
            CorruptLabelsError: If a file cannot be read.
            EmptyLabelsError: If a file has no polygon (left after *where*).
            InvalidPolygonsError: If a file has no CRS or non-polygon geometries.
            ConfigError: If *where* cannot be evaluated or *layer* is not in
                a file.
        """
        self.paths = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
        self.transforms = transforms
        self.layer = layer
        self.where = where
        self.dissolve = dissolve
        self.min_area = min_area
        self.res = res
        self.extent = extent
        frames: dict[str, gpd.GeoDataFrame] = {}
        for filepath in self.files:
            frame = self._read(filepath)
            crs = crs if crs is not None else frame.crs
            frames[filepath] = frame.to_crs(crs)
        self._frames = frames
        self._build_index(CRS.from_user_input(crs))

    @property
    def files(self) -> list[str]:
        """Vector files of the dataset, sorted.

        Raises:
            DataNotFoundError: If a path does not exist or no file is found.
        """
        paths = self.paths
        paths = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
        files: set[str] = set()
        for path in map(Path, paths):
            if path.is_dir():
                files |= {
                    str(p)
                    for p in path.rglob('*')
                    if p.suffix.lower() in VECTOR_SUFFIXES and p.is_file()
                }
            elif path.exists():
                files.add(str(path))
            else:
                msg = f'label path {path} does not exist: check the path'
                raise DataNotFoundError(msg)
        if not files:
            msg = (
                f'no label file ({", ".join(VECTOR_SUFFIXES)}) found in '
                f'{[str(p) for p in paths]}'
            )
            raise DataNotFoundError(msg)
        return sorted(files)

    def _read(self, filepath: str) -> gpd.GeoDataFrame:
        """Read, check, filter and dissolve one file (in its own CRS)."""
        try:
            if Path(filepath).suffix.lower() == '.parquet':
                frame = gpd.read_parquet(filepath)
            else:
                self._check_layer(filepath)
                frame = gpd.read_file(filepath, layer=self.layer, engine='pyogrio')
        except ConfigError:
            raise
        except Exception as error:  # pyogrio, pyarrow and GDAL raise many types
            layer = f' (layer {self.layer!r})' if self.layer is not None else ''
            msg = f'cannot read label file {filepath}{layer}: {error}'
            raise CorruptLabelsError(msg) from error
        if frame.crs is None:
            msg = (
                f'label file {filepath} has no CRS: set one, for example with '
                "ogr2ogr -a_srs EPSG:4326 or GeoDataFrame.set_crs('EPSG:4326')"
            )
            raise InvalidPolygonsError(msg)
        if frame.empty:
            msg = f'label file {filepath} has no features: label some slumps in it'
            raise EmptyLabelsError(msg)
        if self.where is not None:
            try:
                frame = frame.query(self.where)
            except Exception as error:  # pandas raises many types for bad queries
                columns = [c for c in frame.columns if c != frame.geometry.name]
                msg = (
                    f'where={self.where!r} fails on {filepath}: {error}; '
                    f'its columns are {columns}'
                )
                raise ConfigError(msg) from error
            if frame.empty:
                msg = (
                    f'no feature of {filepath} is left after where={self.where!r}: '
                    'loosen the filter or choose another file'
                )
                raise EmptyLabelsError(msg)
        geoms = frame.geometry
        values = np.asarray(geoms.array, dtype=object)
        geoms = geoms[~(shapely.is_missing(values) | shapely.is_empty(values))]
        if geoms.empty:
            msg = f'label file {filepath} has only empty geometries: draw the polygons'
            raise EmptyLabelsError(msg)
        kinds = set(geoms.geom_type) - {'Polygon', 'MultiPolygon'}
        if kinds:
            msg = (
                f'label file {filepath} has {sorted(kinds)} geometries: only '
                'polygons can be instance labels'
            )
            raise InvalidPolygonsError(msg)
        invalid = ~geoms.is_valid
        if invalid.any():
            geoms = geoms.copy()
            geoms[invalid] = shapely.make_valid(
                geoms[invalid].values, method='structure', keep_collapsed=False
            )
        frame = gpd.GeoDataFrame(geometry=geoms.reset_index(drop=True), crs=frame.crs)
        return _dissolve(frame) if self.dissolve else frame

    def _check_layer(self, filepath: str) -> None:
        """Raise ConfigError if :attr:`layer` is not a layer of *filepath*."""
        if self.layer is None:
            return
        names = [str(name) for name in pyogrio.list_layers(filepath)[:, 0]]
        known = (
            self.layer in names
            if isinstance(self.layer, str)
            else -len(names) <= self.layer < len(names)
        )
        if not known:
            msg = f'layer {self.layer!r} is not in {filepath}: its layers are {names}'
            raise ConfigError(msg)

    def _build_index(self, crs: CRS) -> None:
        """Index of the files' bounding boxes, or of the extent, in *crs*."""
        if self.extent is None:
            areas = [shapely.box(*f.total_bounds) for f in self._frames.values()]
        else:
            areas = [self.extent] * len(self._frames)
        self.index = footprint_index(list(self._frames), areas, crs)

    @property
    def crs(self) -> CRS:
        """CRS of the dataset; setting it reprojects the cached polygons."""
        return CRS.from_user_input(self.index.crs)

    @crs.setter
    def crs(self, new_crs: CRS) -> None:
        if CRS.from_user_input(new_crs) == self.crs:
            return
        self._frames = {f: frame.to_crs(new_crs) for f, frame in self._frames.items()}
        if self.extent is not None:
            extent = gpd.GeoSeries([self.extent], crs=self.crs).to_crs(new_crs)
            self.extent = extent.iloc[0]
        self._build_index(CRS.from_user_input(new_crs))

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size ``(x, y)`` of the windows queries default to."""
        return self._pixel_size

    @res.setter
    def res(self, new_res: float | tuple[float, float]) -> None:
        if isinstance(new_res, int | float):
            new_res = (float(new_res), float(new_res))
        self._pixel_size = new_res

    @property
    def geometries(self) -> gpd.GeoSeries:
        """Every label polygon of the dataset, in the dataset CRS."""
        parts = [frame.geometry for frame in self._frames.values()]
        return gpd.GeoSeries(pd.concat(parts, ignore_index=True), crs=self.crs)

    def __getitem__(self, query: GeoSlice) -> dict[str, Any]:
        """Instance targets of the polygons in a window.

        Args:
            query: ``[xmin:xmax:xres, ymin:ymax:yres, tmin:tmax:tres]``; the
                steps give the pixel size of the window grid.

        Returns:
            ``crs``, ``bounds``, ``mask``, ``bbox_xyxy`` and ``label``.

        Raises:
            IndexError: If the window is outside every label file's bounds.
        """
        x, y, t = resolve_query(query, self.bounds)
        index = rows_in_window(self.index, x, y, t)
        if index.empty:
            msg = f'query: {query} not found in index with bounds: {self.bounds}'
            raise IndexError(msg)
        width = round((x.stop - x.start) / x.step)
        height = round((y.stop - y.start) / y.step)
        transform = window_transform(x, y, width, height)
        window = shapely.box(x.start, y.start, x.stop, y.stop)
        masks = []
        for filepath in index.filepath:
            frame = self._frames[filepath]
            hits = np.sort(frame.sindex.query(window, predicate='intersects'))
            for geom in frame.geometry.values[hits]:
                masks.append(_rasterize(geom, transform, height, width))
        stack = np.stack(masks) if masks else np.zeros((0, height, width), np.uint8)
        sample: dict[str, Any] = {
            'crs': self.crs,
            'bounds': query,
            **pack_instances(stack, min_area=self.min_area),
        }
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample


def _rasterize(
    geom: shapely.Geometry, transform: Affine, height: int, width: int
) -> np.ndarray:
    """``(H, W)`` uint8 mask of one polygon, burning only its own sub-window."""
    mask = np.zeros((height, width), dtype=np.uint8)
    col0, row0, col1, row1 = _pixel_bounds(geom.bounds, transform, height, width)
    if col1 <= col0 or row1 <= row0:
        return mask
    mask[row0:row1, col0:col1] = rasterio.features.rasterize(
        [geom],
        out_shape=(row1 - row0, col1 - col0),
        transform=transform @ Affine.translation(col0, row0),
        dtype='uint8',
    )
    return mask


def _pixel_bounds(
    bounds: tuple[float, float, float, float],
    transform: Affine,
    height: int,
    width: int,
) -> tuple[int, int, int, int]:
    """Pixel range ``(col0, row0, col1, row1)`` covering *bounds*, clipped."""
    inverse = ~transform
    xs = np.array([bounds[0], bounds[2], bounds[0], bounds[2]])
    ys = np.array([bounds[1], bounds[1], bounds[3], bounds[3]])
    cols = inverse.a * xs + inverse.b * ys + inverse.c
    rows = inverse.d * xs + inverse.e * ys + inverse.f
    # One pixel of slack each side: rasterising a little more is harmless.
    col0 = max(int(np.floor(cols.min())) - 1, 0)
    row0 = max(int(np.floor(rows.min())) - 1, 0)
    col1 = min(int(np.ceil(cols.max())) + 1, width)
    row1 = min(int(np.ceil(rows.max())) + 1, height)
    return col0, row0, col1, row1


def _dissolve(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Merge overlapping or touching polygons: one row per connected group."""
    left, right = frame.sindex.query(frame.geometry, predicate='intersects')
    n = len(frame)
    graph = coo_matrix((np.ones(len(left)), (left, right)), shape=(n, n))
    _, group = connected_components(graph, directed=False)
    merged = frame.assign(group=group).dissolve(by='group')
    return gpd.GeoDataFrame(geometry=merged.geometry.values, crs=frame.crs)
