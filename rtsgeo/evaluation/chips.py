"""A table of image chips: where each lies on the ground and how many slumps it holds.

:func:`read_chips` reads only raster headers and label masks, so a few hundred
chips take seconds. The table it returns is what
:func:`~rtsgeo.evaluation.assign_sites` groups into sites and
:func:`~rtsgeo.evaluation.site_folds` / :func:`~rtsgeo.evaluation.zone_folds`
split into folds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
import rasterio.errors
import shapely
from pyproj import CRS, Transformer
from scipy import ndimage

from ..errors import (
    ConfigError,
    CorruptRasterError,
    DataNotFoundError,
    InvalidImageryError,
)

__all__ = ['CHIP_SUFFIXES', 'read_chips', 'zone_label']

#: File suffixes read as chips: those :mod:`rtsgeo.datasets` reads.
CHIP_SUFFIXES: tuple[str, ...] = ('.tif', '.tiff', '.vrt', '.jp2', '.img')

_STRUCTURES = {
    4: ndimage.generate_binary_structure(2, 1),
    8: ndimage.generate_binary_structure(2, 2),
}


def zone_label(crs: CRS | str) -> str:
    """A short name for the region a CRS stands for.

    Args:
        crs: a CRS, or anything :class:`pyproj.CRS` accepts.

    Returns:
        ``'UTM <zone><N|S>'`` (e.g. ``'UTM 8N'``) for a UTM CRS, else the CRS as
        a string (``'EPSG:3413'``).
    """
    crs = CRS.from_user_input(crs)
    zone = crs.utm_zone
    return f'UTM {zone}' if zone else crs.to_string()


def read_chips(
    source: str | Path | Sequence[str | Path], *, connectivity: int = 8
) -> gpd.GeoDataFrame:
    """Footprints, UTM zones and slump counts of image chips.

    *source* is one folder or a list of folders and image files:

    * a folder with ``image/`` holds one set of chips (split ``''``);
    * a folder whose subfolders hold ``image/`` (``train/image``,
      ``val/image``, ``test/image``, the layout
      :class:`~rtsgeo.datamodules.RTSDataModule` reads) holds one split per
      subfolder, named after it;
    * any other folder: the rasters directly in it; a file: that chip.

    ``image/`` folders are searched recursively. A chip's label mask is the
    file at the same relative path in a ``mask/`` folder beside its folder
    (``train/image/a.tif`` -> ``train/mask/a.tif``; ``chips/a.tif`` ->
    ``mask/a.tif`` beside ``chips/``); a chip without one counts 0 slumps.
    Slumps are the connected components of the mask's non-zero pixels
    (nodata pixels are not slumps), 8-connected by default as in
    :func:`~rtsgeo.datasets.instances_from_mask`.

    Args:
        source: folder(s) and/or image file(s).
        connectivity: 8 (diagonal neighbours join a slump) or 4.

    Returns:
        One row per chip, sorted by ``chip``: ``chip`` (``'<split>/<name>'``
        or ``'<name>'``, the name being the path under ``image/`` without
        suffix, or the file stem), ``split``, ``path`` (the
        image), ``mask`` (its path, or '' if none), ``chip_crs`` (``'EPSG:32608'``),
        ``zone`` (see :func:`zone_label`), ``width`` and ``height`` (pixels),
        ``slumps``, ``footprint`` (the chip's outline in its own CRS, a
        shapely polygon) and the geometry: that outline in EPSG:4326,
        densified (64 points an edge) so it stays exact after reprojection;
        an outline across the antimeridian keeps longitudes above 180.

    Raises:
        DataNotFoundError: If a path does not exist or no chip is found.
        CorruptRasterError: If a chip or mask cannot be read.
        InvalidImageryError: If a chip has no CRS.
        ConfigError: If two chips get the same name or *connectivity* is not
            4 or 8.
    """
    if connectivity not in _STRUCTURES:
        msg = f'connectivity={connectivity} is not supported: give 4 or 8'
        raise ConfigError(msg)
    items = [source] if isinstance(source, str | Path) else list(source)
    # The same file named twice (a folder and a file in it) is one chip.
    chips = list(dict.fromkeys(c for i in items for c in _find(Path(i).expanduser())))
    if not chips:
        named = ', '.join(str(i) for i in items) or 'an empty list'
        suffixes = ', '.join(CHIP_SUFFIXES)
        msg = f'no chip found in {named}: give folders with {suffixes} files'
        raise DataNotFoundError(msg)
    structure = _STRUCTURES[connectivity]
    rows = [_read(split, folder, path, structure) for split, folder, path in chips]
    _check_unique(rows)
    rows.sort(key=lambda row: row['chip'])
    frame = gpd.GeoDataFrame(rows, geometry='geometry', crs='EPSG:4326')
    return frame.reset_index(drop=True)


def _rasters(folder: Path, recursive: bool) -> list[Path]:
    found = folder.rglob('*') if recursive else folder.iterdir()
    return sorted(p for p in found if p.suffix.lower() in CHIP_SUFFIXES and p.is_file())


def _find(path: Path) -> list[tuple[str, Path, Path]]:
    """``(split, image folder, image)`` of the chips of one item of the source."""
    if path.is_file():
        path = path.absolute()
        return [('', path.parent, path)]
    if not path.is_dir():
        msg = f'{path} does not exist: give a chip folder or image file'
        raise DataNotFoundError(msg)
    path = path.absolute()
    if (path / 'image').is_dir():
        folders = [('', path / 'image')]
    else:
        folders = [(d.name, d / 'image') for d in sorted(path.iterdir())]
        folders = [(split, folder) for split, folder in folders if folder.is_dir()]
    if not folders:
        return [('', path, p) for p in _rasters(path, recursive=False)]
    # Image folders are searched recursively, as RTSDataModule reads them.
    return [(s, f, p) for s, f in folders for p in _rasters(f, recursive=True)]


def _read(
    split: str, folder: Path, path: Path, structure: np.ndarray
) -> dict[str, Any]:
    try:
        with rasterio.open(path) as src:
            crs, transform = src.crs, src.transform
            width, height = src.width, src.height
    except rasterio.errors.RasterioIOError as error:
        msg = f'{path} cannot be read as a raster ({error}): check or remove it'
        raise CorruptRasterError(msg) from error
    if crs is None:
        msg = f'{path} has no CRS: georeference it (gdal_edit.py -a_srs EPSG:...)'
        raise InvalidImageryError(msg)
    corners = [transform * xy for xy in ((0, 0), (width, 0), (width, height))]
    corners.append(transform * (0, height))
    footprint = shapely.Polygon(corners).normalize()
    relative = path.relative_to(folder)
    mask = folder.parent / 'mask' / relative
    name = relative.with_suffix('').as_posix()
    crs = CRS.from_user_input(crs)
    return {
        'chip': f'{split}/{name}' if split else name,
        'split': split,
        'path': str(path),
        'mask': str(mask) if mask.is_file() else '',
        'chip_crs': crs.to_string(),
        'zone': zone_label(crs),
        'width': width,
        'height': height,
        'slumps': _count_slumps(mask, structure) if mask.is_file() else 0,
        'footprint': footprint,
        'geometry': _to_lonlat(footprint, crs),
    }


def _count_slumps(mask: Path, structure: np.ndarray) -> int:
    try:
        with rasterio.open(mask) as src:
            labels = src.read(1, masked=True).filled(0)
    except rasterio.errors.RasterioIOError as error:
        msg = f'{mask} cannot be read as a raster ({error}): check or remove it'
        raise CorruptRasterError(msg) from error
    return int(ndimage.label(labels != 0, structure=structure)[1])


@lru_cache(maxsize=64)
def _transformer(source: str, target: str) -> Transformer:
    """A cached ``always_xy`` transformer between two CRSs given as strings."""
    return Transformer.from_crs(source, target, always_xy=True)


def _to_lonlat(footprint: shapely.Polygon, crs: CRS) -> shapely.Geometry:
    """*footprint* in EPSG:4326, densified; unwrapped across the antimeridian."""
    to_lonlat = _transformer(crs.to_string(), 'EPSG:4326')
    edge = np.sqrt(footprint.area)
    dense = shapely.segmentize(footprint, edge / 64)

    def transform(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = to_lonlat.transform(x, y)
        if np.ptp(lon) > 180:
            lon = np.where(lon < 0, lon + 360, lon)
        return lon, lat

    return shapely.transform(dense, transform, interleaved=False)


def _check_unique(rows: Iterable[dict[str, Any]]) -> None:
    seen: dict[str, str] = {}
    for row in rows:
        other = seen.setdefault(row['chip'], row['path'])
        if other != row['path']:
            msg = (
                f'{other} and {row["path"]} are both chip {row["chip"]!r}: '
                'rename one or put them in different split folders'
            )
            raise ConfigError(msg)
