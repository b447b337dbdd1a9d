"""Finding and checking raster files before TorchGeo indexes them.

TorchGeo skips files it cannot open and warns about missing paths; rtsgeo
refuses both with an error that names the file, so a typo or a truncated
download never turns into a silently smaller dataset.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import rasterio
import rasterio.errors
from rasterio.crs import CRS

from ..errors import CorruptRasterError, DataNotFoundError
from ..modalities import SensorPreset, resolve_band_names

__all__ = [
    'RASTER_SUFFIXES',
    'RasterInfo',
    'find_rasters',
    'group_by_crs',
    'read_raster_info',
]

#: File suffixes searched for in raster folders.
RASTER_SUFFIXES = ('.tif', '.tiff', '.vrt', '.jp2', '.img')


@dataclass(frozen=True)
class RasterInfo:
    """What rtsgeo needs to know of a raster file before reading it.

    Attributes:
        path: the file.
        crs: its coordinate reference system.
        res: pixel size ``(x, y)`` in CRS units.
        bounds: ``(left, bottom, right, top)`` in its CRS.
        bands: canonical band names in file order.
        dtype: numpy dtype name of the first band.
        nodata: declared nodata value, or None.
    """

    path: str
    crs: CRS
    res: tuple[float, float]
    bounds: tuple[float, float, float, float]
    bands: tuple[str, ...]
    dtype: str
    nodata: float | None


def find_rasters(paths: str | Path | Iterable[str | Path]) -> list[str]:
    """Raster files under the given folders or files, sorted.

    Args:
        paths: folders (searched recursively) and/or files.

    Returns:
        Absolute file paths, sorted, without duplicates.

    Raises:
        DataNotFoundError: If a path does not exist or a folder holds no raster.
    """
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    if not items:
        raise DataNotFoundError('no raster path given: pass a folder or file list')
    found: set[str] = set()
    for item in items:
        path = Path(item).expanduser()
        if path.is_file():
            found.add(str(path.resolve()))
        elif path.is_dir():
            rasters = [
                p for p in path.rglob('*') if p.suffix.lower() in RASTER_SUFFIXES
            ]
            if not rasters:
                suffixes = ', '.join(RASTER_SUFFIXES)
                msg = f'{path} holds no raster file (searched for {suffixes})'
                raise DataNotFoundError(msg)
            found.update(str(p.resolve()) for p in rasters)
        else:
            msg = f'{path} does not exist: check the path (relative to {Path.cwd()})'
            raise DataNotFoundError(msg)
    return sorted(found)


def read_raster_info(
    path: str,
    sensor: str | SensorPreset | None = None,
    default_single: str | None = None,
) -> RasterInfo:
    """Open a raster's header and resolve its band names.

    Args:
        path: the raster file.
        sensor: sensor preset for files without band descriptions.
        default_single: band name for an undescribed single-band file.

    Returns:
        The file's :class:`RasterInfo`.

    Raises:
        CorruptRasterError: If the file cannot be opened as a raster.
        BandNotFoundError: If its band names cannot be determined.
    """
    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                msg = (
                    f'{path} has no CRS: georeference it (gdal_edit.py -a_srs '
                    'EPSG:XXXX) or use a COCO chip dataset for plain images'
                )
                raise CorruptRasterError(msg)
            bands = resolve_band_names(
                src.descriptions, path, sensor, default_single=default_single
            )
            return RasterInfo(
                path=path,
                crs=src.crs,
                res=(abs(src.res[0]), abs(src.res[1])),
                bounds=tuple(src.bounds),
                bands=bands,
                dtype=src.dtypes[0],
                nodata=src.nodata,
            )
    except rasterio.errors.RasterioIOError as error:
        msg = f'{path} cannot be opened as a raster (corrupt or truncated?): {error}'
        raise CorruptRasterError(msg) from error


def group_by_crs(infos: Sequence[RasterInfo]) -> dict[str, list[RasterInfo]]:
    """Group rasters by CRS (keyed by the CRS's string form), in first-seen order."""
    groups: dict[str, list[RasterInfo]] = {}
    for info in infos:
        groups.setdefault(info.crs.to_string(), []).append(info)
    return groups
