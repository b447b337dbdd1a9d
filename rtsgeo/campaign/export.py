"""GeoParquet copies of a campaign GeoPackage (``--format parquet``).

The GeoPackage stays the campaign's store: resume, the run table and the
per-scene transactions all work on it. With ``fmt='parquet'`` each layer is
then exported beside it, once the campaign (or a merge) has finished:

``campaign.gpkg`` -> ``campaign.slumps.parquet``, ``campaign.coverage.parquet``
(GeoParquet, WKB geometry, CRS as PROJJSON in the ``geo`` metadata) and
``campaign.runs.parquet`` (plain Parquet: the run table has no geometry).

Rows are sorted by ``scene_id`` (then in file order), so the files depend only
on the GeoPackage's content, not on the order scenes were written in; column
types come from :mod:`rtsgeo.campaign.schema`, so they do not change with the
content (an all-NULL column stays a string column). All three files are first
written to hidden temporary files in the same folder and only then renamed
over the old ones (``os.replace``): a crash or a full disk during the export
leaves the previous files whole, and a reader never sees a half-written file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..errors import ConfigError, OutputError
from .schema import LAYERS

__all__ = ['FORMATS', 'check_format', 'export_parquet', 'parquet_paths']

#: Campaign output formats: the GeoPackage alone, or with GeoParquet copies.
FORMATS: tuple[str, ...] = ('gpkg', 'parquet')

_DTYPES = {'TEXT': 'string', 'REAL': 'float64', 'INTEGER': 'Int64'}


def check_format(fmt: str, out: str | Path) -> None:
    """Check an output format before any scene is mapped.

    Raises:
        ConfigError: If *fmt* is unknown, pyarrow is missing for
            ``'parquet'``, or *out* is named ``.parquet`` (it is the GeoPackage).
    """
    if fmt not in FORMATS:
        msg = f'format {fmt!r} is not supported: use one of {list(FORMATS)}'
        raise ConfigError(msg)
    if Path(out).suffix.lower() == '.parquet':
        msg = (
            f'output {out} is the campaign GeoPackage (the resumable store): name '
            'it .gpkg; with format parquet the .parquet files are written beside it'
        )
        raise ConfigError(msg)
    if fmt == 'parquet':
        try:
            import pyarrow  # noqa: F401
        except ImportError as error:
            msg = 'format parquet needs pyarrow: pip install "rtsgeo[parquet]"'
            raise ConfigError(msg) from error


def parquet_paths(out: str | Path) -> dict[str, Path]:
    """Layer name -> the Parquet file exported for campaign GeoPackage *out*."""
    out = Path(out)
    return {name: out.with_name(f'{out.stem}.{name}.parquet') for name in LAYERS}


def _read_layer(gpkg: Path, name: str) -> pd.DataFrame:
    import pyogrio

    columns, geometry = LAYERS[name]
    frame = pyogrio.read_dataframe(gpkg, layer=name, read_geometry=geometry is not None)
    # A stable sort keeps each scene's rows in file (fid) order.
    frame = frame.sort_values('scene_id', kind='stable').reset_index(drop=True)
    typed = {c.name: frame[c.name].astype(_DTYPES[c.sql]) for c in columns}
    if geometry is None:
        return pd.DataFrame(typed)
    import geopandas as gpd

    return gpd.GeoDataFrame(typed, geometry=frame.geometry.values, crs=frame.crs)


def export_parquet(gpkg: str | Path) -> dict[str, Path]:
    """Export the layers of campaign GeoPackage *gpkg* to Parquet files beside it.

    Args:
        gpkg: a campaign GeoPackage written by :func:`run_campaign` or
            :func:`merge_campaigns`.

    Returns:
        Layer name -> the file written (see :func:`parquet_paths`).

    Raises:
        OutputError: If *gpkg* is missing or a file cannot be written (the
            previous files, if any, are left as they were).
        ConfigError: If pyarrow is not installed.
    """
    gpkg = Path(gpkg)
    check_format('parquet', gpkg)
    if not gpkg.is_file():
        raise OutputError(f'campaign output {gpkg} does not exist: nothing to export')
    targets = parquet_paths(gpkg)
    partials = {
        name: path.with_name(f'.{path.name}.partial') for name, path in targets.items()
    }
    try:
        for name, partial in partials.items():
            # GeoDataFrame.to_parquet writes GeoParquet; the run table plain Parquet.
            _read_layer(gpkg, name).to_parquet(partial, index=False)
        # Renames only once every file is complete, so the set is swapped together.
        for name, partial in partials.items():
            os.replace(partial, targets[name])
    except Exception as error:  # GDAL and pyarrow raise several types
        msg = f'cannot export {gpkg} to GeoParquet: {error} (rerun to export again)'
        raise OutputError(msg) from error
    finally:
        for partial in partials.values():
            partial.unlink(missing_ok=True)
    return targets
