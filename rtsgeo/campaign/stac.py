"""STAC scene lists: a campaign's scenes from a STAC ItemCollection or Item files.

Each STAC Item becomes one scene: its ``id`` is the scene id and its
``datetime`` the acquisition date. Its bands come from the assets' band
metadata (``eo:bands``, ``raster:bands`` or STAC 1.1 ``bands``: the
``common_name``, else the ``name``, read as a canonical band name such as
``red`` or ``B04``) or from an explicit mapping of band names to asset keys
(``--assets red=B04,green=B03``). An item may hold one multi-band asset or
one asset per band.

The bands of an item are gathered into a small GDAL VRT file (XML that points
at the assets; no pixel is copied) with one described band per canonical
band, on the grid of its finest asset. The scene predictor then reads it
window by window like any scene file. A quality-mask band (``scl=SCL``,
``qa_pixel=QA_PIXEL``, ``unobserved=KEY``, or ``udm2=KEY`` for the eight
bands of a UDM2 asset) joins the VRT resampled by nearest neighbour, so a
20 m SCL keeps its classes on a 10 m grid; map with ``--quality-mask`` of the
same format to use it. Asset hrefs may be local paths
(relative ones are taken from the JSON file's folder) or URLs, which GDAL
reads through ``/vsicurl/`` (``s3://`` and ``gs://`` through ``/vsis3/`` and
``/vsigs/``). An item that cannot be mapped (in degrees, no usable band, an
unreadable asset) becomes a scene with a :attr:`Scene.problem` that fails on
its own, with the reason in ``runs``.
"""

from __future__ import annotations

import os
import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import rasterio
import rasterio.errors
from rasterio.crs import CRS

from ..errors import (
    BandNotFoundError,
    ConfigError,
    CorruptRasterError,
    DataNotFoundError,
    InvalidImageryError,
    RTSGeoError,
)
from ..modalities import canonical_band_name
from ..quality import MASK_FORMATS
from .scenes import Scene

__all__ = ['parse_asset_mapping', 'stac_scenes']

_GDAL_TYPES = {
    'uint8': 'Byte',
    'int8': 'Int8',
    'uint16': 'UInt16',
    'int16': 'Int16',
    'uint32': 'UInt32',
    'int32': 'Int32',
    'float32': 'Float32',
    'float64': 'Float64',
}
#: Band names of quality masks: class rasters, resampled by nearest neighbour.
_MASK_BANDS = frozenset(band for fmt in MASK_FORMATS.values() for band in fmt.bands)
_VSI = {'http': '/vsicurl/', 'https': '/vsicurl/', 's3': '/vsis3/', 'gs': '/vsigs/'}
_SCHEME = re.compile(r'^([a-z][a-z0-9+.-]*)://(.*)$', re.IGNORECASE)


def parse_asset_mapping(text: str) -> dict[str, tuple[str, int]]:
    """``'red=B04,green=B03,nir=visual:4'`` to ``{band: (asset key, band index)}``.

    Band names are made canonical (``B04`` and ``red`` are the same band); an
    asset's band index is 1-based and defaults to 1.

    Raises:
        ConfigError: If an entry is not ``BAND=ASSET`` or ``BAND=ASSET:N``.
    """
    mapping: dict[str, tuple[str, int]] = {}
    for entry in filter(None, (part.strip() for part in text.split(','))):
        band, sep, asset = entry.partition('=')
        key, colon, index = asset.strip().rpartition(':')
        if not colon:
            key, index = asset.strip(), '1'
        if not sep or not band.strip() or not key or not index.isdigit():
            msg = (
                f'--assets entry {entry!r} is not BAND=ASSET or BAND=ASSET:N '
                '(e.g. red=B04,green=B03,blue=B02,nir=B08)'
            )
            raise ConfigError(msg)
        mapping[canonical_band_name(band)] = (key, int(index))
    if not mapping:
        raise ConfigError(f'--assets {text!r} names no band: e.g. red=B04,nir=B08')
    return mapping


def _gdal_path(href: str, base: Path) -> str:
    """The path GDAL opens for an asset href (URLs through its virtual file systems)."""
    match = _SCHEME.match(href)
    if match is None:
        return href if os.path.isabs(href) else str((base / href).resolve())
    scheme, rest = match.group(1).lower(), match.group(2)
    if scheme == 'file':
        return rest if rest.startswith('/') else '/' + rest
    prefix = _VSI.get(scheme, '/vsicurl/')
    return prefix + (href if prefix == '/vsicurl/' else rest)


def _asset_bands(asset: Any) -> list[str | None]:
    """Canonical names of an asset's bands from its metadata (None: unnamed)."""
    fields = asset.extra_fields
    for key in ('eo:bands', 'bands', 'raster:bands'):
        entries = fields.get(key)
        if isinstance(entries, list) and entries:
            names: list[str | None] = []
            for entry in entries:
                entry = entry if isinstance(entry, Mapping) else {}
                name = (
                    entry.get('common_name')
                    or entry.get('eo:common_name')
                    or entry.get('name')
                )
                names.append(canonical_band_name(str(name)) if name else None)
            if any(names):
                return names
    return []


def _item_bands(
    item: Any, base: Path, mapping: Mapping[str, tuple[str, int]] | None
) -> dict[str, tuple[str, int]]:
    """Canonical band name -> (GDAL path, 1-based band index) of an item."""
    assets = item.assets
    bands: dict[str, tuple[str, int]] = {}
    if mapping:
        for band, (key, index) in mapping.items():
            if key not in assets:
                if band in _MASK_BANDS or band == 'udm2':
                    msg = (
                        f'STAC item {item.id!r} has no asset {key!r} for the quality '
                        f'mask band {band!r} (its assets: {sorted(assets)}): fix '
                        '--assets or map without the mask'
                    )
                    raise BandNotFoundError(msg)
                continue
            path = _gdal_path(assets[key].href, base)
            if band == 'udm2':  # all eight bands of a UDM2 asset
                udm2 = MASK_FORMATS['udm2'].bands
                for number, udm2_band in enumerate(udm2, start=1):
                    bands[udm2_band] = (path, number)
            else:
                bands[band] = (path, index)
        return bands
    for key in sorted(assets):
        for index, name in enumerate(_asset_bands(assets[key]), start=1):
            if name is not None and name not in bands:
                bands[name] = (_gdal_path(assets[key].href, base), index)
    return bands


def _check_projected(item: Any) -> None:
    code = item.properties.get('proj:epsg') or item.properties.get('proj:code')
    if code is None:
        return
    crs = CRS.from_user_input(f'EPSG:{code}' if isinstance(code, int) else code)
    if crs.is_geographic:
        msg = (
            f'STAC item {item.id!r} is in {crs.to_string()} (degrees): tiles would '
            'not be square on the ground; list the projected (UTM) product instead'
        )
        raise InvalidImageryError(msg)


def _headers(paths: set[str], item_id: str) -> dict[str, Any]:
    headers = {}
    for path in sorted(paths):
        try:
            with rasterio.open(path) as src:
                headers[path] = src.profile | {'nodatavals': src.nodatavals}
        except rasterio.errors.RasterioIOError as error:
            msg = f'asset {path} of STAC item {item_id!r} cannot be read: {error}'
            raise CorruptRasterError(msg) from error
    return headers


def _item_vrt(
    item: Any, bands: Mapping[str, tuple[str, int]], acquired: str | None
) -> str:
    """A VRT (XML) with one described band per entry of *bands*."""
    headers = _headers({path for path, _ in bands.values()}, item.id)
    crss = {str(h['crs']) for h in headers.values()}
    if len(crss) != 1 or None in (h['crs'] for h in headers.values()):
        msg = f'assets of STAC item {item.id!r} are not on one CRS ({sorted(crss)})'
        raise InvalidImageryError(msg)
    grid = min(headers.values(), key=lambda h: abs(h['transform'].a))
    t = grid['transform']
    root = ET.Element(
        'VRTDataset', rasterXSize=str(grid['width']), rasterYSize=str(grid['height'])
    )
    ET.SubElement(root, 'SRS').text = grid['crs'].to_wkt()
    ET.SubElement(root, 'GeoTransform').text = ', '.join(
        repr(v) for v in (t.c, t.a, t.b, t.f, t.d, t.e)
    )
    metadata = ET.SubElement(root, 'Metadata')
    ET.SubElement(metadata, 'MDI', key='STAC_ITEM').text = item.id
    if acquired:
        ET.SubElement(metadata, 'MDI', key='ACQUISITION_DATE').text = acquired
    for number, (name, (path, index)) in enumerate(bands.items(), start=1):
        header = headers[path]
        if not 1 <= index <= header['count']:
            msg = f'asset {path} of STAC item {item.id!r} has no band {index}'
            raise BandNotFoundError(msg)
        src = header['transform']
        if src.b or src.d or t.b or t.d:
            msg = f'asset {path} of STAC item {item.id!r} is rotated: warp it north-up'
            raise InvalidImageryError(msg)
        dtype = _GDAL_TYPES.get(header['dtype'], 'Float32')
        band = ET.SubElement(root, 'VRTRasterBand', dataType=dtype, band=str(number))
        ET.SubElement(band, 'Description').text = name
        nodata = header['nodatavals'][index - 1]
        if nodata is not None:
            ET.SubElement(band, 'NoDataValue').text = repr(float(nodata))
        resampling = 'nearest' if name in _MASK_BANDS else 'bilinear'
        source = ET.SubElement(band, 'ComplexSource', resampling=resampling)
        ET.SubElement(source, 'SourceFilename', relativeToVRT='0').text = path
        ET.SubElement(source, 'SourceBand').text = str(index)
        ET.SubElement(
            source,
            'SrcRect',
            xOff='0',
            yOff='0',
            xSize=str(header['width']),
            ySize=str(header['height']),
        )
        ET.SubElement(
            source,
            'DstRect',
            xOff=repr((src.c - t.c) / t.a),
            yOff=repr((src.f - t.f) / t.e),
            xSize=repr(header['width'] * src.a / t.a),
            ySize=repr(header['height'] * src.e / t.e),
        )
        if nodata is not None:
            ET.SubElement(source, 'NODATA').text = repr(float(nodata))
    return ET.tostring(root, encoding='unicode')


def _write_atomic(path: Path, text: str) -> None:
    """Write *text* to *path* through a renamed temporary file (safe for DDP ranks)."""
    handle, name = tempfile.mkstemp(dir=path.parent, suffix='.tmp')
    with os.fdopen(handle, 'w') as stream:
        stream.write(text)
    os.replace(name, path)


def _item_scene(
    item: Any,
    base: Path,
    source: str,
    folder: Path,
    mapping: Mapping[str, tuple[str, int]] | None,
) -> Scene:
    """The scene of one item: its VRT, or a problem that fails it alone."""
    stamp = item.datetime or item.common_metadata.start_datetime
    acquired = stamp.date().isoformat() if stamp is not None else None
    try:
        _check_projected(item)
        bands = _item_bands(item, base, mapping)
        if not bands:
            how = (
                'the --assets mapping names no asset it has'
                if mapping
                else ('no asset has eo:bands or raster:bands names')
            )
            msg = (
                f'STAC item {item.id!r} has no usable band ({how}); its assets are '
                f'{sorted(item.assets)}: map bands to assets with --assets '
                'red=KEY,green=KEY,blue=KEY,nir=KEY'
            )
            raise BandNotFoundError(msg)
        text = _item_vrt(item, bands, acquired)
    except (RTSGeoError, ValueError) as error:
        return Scene(item.id, source, problem=f'{type(error).__name__}: {error}')
    path = folder / f'{re.sub(r"[^A-Za-z0-9._-]", "_", item.id)}.vrt'
    _write_atomic(path, text)
    return Scene(item.id, str(path))


def _read_items(source: Path) -> list[tuple[Any, Path, str]]:
    """``(item, folder its hrefs are relative to, its JSON file)`` of a source."""
    import pystac

    files = sorted(source.glob('*.json')) if source.is_dir() else [source]
    if not files:
        raise DataNotFoundError(f'folder {source} holds no STAC Item (.json) file')
    items: list[tuple[Any, Path, str]] = []
    for path in files:
        try:
            collection = pystac.ItemCollection.from_file(str(path))
        except Exception:
            try:
                collection = pystac.ItemCollection([pystac.Item.from_file(str(path))])
            except Exception as error:
                msg = (
                    f'{path} is not a STAC ItemCollection or Item ({error}): pass '
                    'the JSON of a STAC search or a folder of Item files'
                )
                raise ConfigError(msg) from error
        items.extend(
            (item, path.parent.resolve(), str(path.resolve())) for item in collection
        )
    return items


def stac_scenes(
    source: str | Path,
    folder: str | Path,
    assets: str | Mapping[str, tuple[str, int]] | None = None,
) -> list[Scene]:
    """The scenes of a STAC ItemCollection file or a folder of Item files.

    Args:
        source: an ItemCollection (or single Item) JSON file, or a folder of
            Item JSON files.
        folder: where the items' VRT files are written (created if needed).
        assets: band name -> asset key mapping (``'red=B04,nir=B08'`` or the
            output of :func:`parse_asset_mapping`); None: from the assets'
            band metadata.

    Returns:
        One scene per item, sorted by item id; items that cannot be mapped
        carry a :attr:`Scene.problem`.

    Raises:
        DataNotFoundError: If *source* does not exist or holds no item.
        ConfigError: If a file is not STAC, two items share an id, or
            *assets* is malformed.
    """
    source = Path(source)
    if not source.exists():
        raise DataNotFoundError(f'STAC scene list {source} does not exist')
    mapping = parse_asset_mapping(assets) if isinstance(assets, str) else assets
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    scenes: dict[str, Scene] = {}
    for item, base, path in _read_items(source):
        if item.id in scenes:
            msg = f'two STAC items share the id {item.id!r} in {source}: keep one'
            raise ConfigError(msg)
        scenes[item.id] = _item_scene(item, base, path, folder, mapping)
    if not scenes:
        raise DataNotFoundError(f'STAC scene list {source} holds no item')
    return sorted(scenes.values())
