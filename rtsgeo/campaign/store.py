"""The campaign GeoPackage: created by GDAL, filled one scene per transaction.

GDAL (through pyogrio) creates the three layers of :mod:`rtsgeo.campaign.schema`
once, empty, in a temporary file renamed into place, so the file's metadata
(spatial reference, contents, R-tree index) is GDAL's own. Each scene's rows
are then added with :mod:`sqlite3` in one ``BEGIN IMMEDIATE ... COMMIT``
transaction that first deletes the scene's earlier rows. SQLite's rollback
journal makes that transaction all-or-nothing: a process killed mid-write, a
full disk or an error leaves the file as it was after the last committed
scene, and the next open rolls back the hot journal. A resumed campaign
therefore never sees a half-written scene.
"""

from __future__ import annotations

import datetime
import errno
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd
from pyproj import CRS

from ..errors import ConfigError, OutputError
from ._gpkg import blob_bounds, encode_geometries, register_functions
from .records import SceneRecords, empty_layer
from .schema import ADDED_COLUMNS, LAYERS, Column

__all__ = ['CampaignStore', 'Row', 'check_writable']

#: Attribute values and geometry blob of one row.
Row = tuple[list[Any], bytes | None]


def check_writable(path: Path) -> None:
    """Fail early if *path* (a file to create or update) cannot be written.

    Raises:
        OutputError: If its folder cannot be created or written, or the file
            exists read-only.
    """
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f'cannot create the folder of {path}: {error}') from error
    if path.is_dir():
        raise OutputError(f'output {path} is a folder: give a file name such as a.gpkg')
    # SQLite writes its journal beside the file, so the folder must be writable.
    if not os.access(folder, os.W_OK | os.X_OK) or (
        path.exists() and not os.access(path, os.W_OK)
    ):
        msg = f'output {path} is not writable: choose another --out or fix permissions'
        raise OutputError(msg)


def _frame_rows(frame: pd.DataFrame, names: Sequence[str], srs_id: int) -> list[Row]:
    values = frame[list(names)].astype(object)
    values = values.where(values.notna(), None)
    geoms = frame.geometry if 'geometry' in frame else [None] * len(frame)
    return [
        ([v.item() if hasattr(v, 'item') else v for v in row], blob)
        for row, blob in zip(
            values.itertuples(index=False),
            encode_geometries(geoms, srs_id),
            strict=True,
        )
    ]


class CampaignStore:
    """A campaign's GeoPackage: written a scene at a time, and read back.

    The store is the only thing that touches the campaign file: a campaign
    writes each scene's rows through it (:meth:`write`), and resumes, merges
    and checks it through its readers (:meth:`statuses`, :meth:`checkpoints`).

    Args:
        path: the ``.gpkg`` file; created if missing, else resumed.
        crs: output CRS of the ``slumps`` and ``coverage`` layers. ``None``
            takes an existing file's CRS (or EPSG:3413 for a new file).
        readonly: open an existing file for reading only (merge inputs).

    Raises:
        OutputError: If the file cannot be written.
        ConfigError: If an existing file is not a campaign or has another CRS.
    """

    def __init__(
        self, path: str | Path, crs: Any = 'EPSG:3413', readonly: bool = False
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        if readonly and not self.path.is_file():
            raise OutputError(f'campaign output {self.path} does not exist')
        if not readonly:
            check_writable(self.path)
            if not self.path.exists():
                self._create(CRS.from_user_input(crs or 'EPSG:3413'))
        self._connection = self._connect()
        self.srs_id, self.crs = self._check_layers()
        if crs is not None and self.crs != CRS.from_user_input(crs):
            self.close()
            msg = (
                f'{self.path} holds polygons in {self.crs.to_string()}, not '
                f'{CRS.from_user_input(crs).to_string()}: resume it with that CRS '
                'or write to a new file'
            )
            raise ConfigError(msg)

    def _create(self, crs: CRS) -> None:
        import pyogrio

        partial = self.path.with_name(f'.{self.path.name}.partial.gpkg')
        partial.unlink(missing_ok=True)
        try:
            for name, (columns, geometry) in LAYERS.items():
                frame = empty_layer(columns, crs)
                if geometry is None:
                    frame = pd.DataFrame(frame.drop(columns='geometry'))
                pyogrio.write_dataframe(
                    frame,
                    partial,
                    layer=name,
                    driver='GPKG',
                    geometry_type=geometry and 'MultiPolygon',
                    append=partial.exists(),
                )
            os.replace(partial, self.path)
        except Exception as error:
            partial.unlink(missing_ok=True)
            raise OutputError(f'cannot create {self.path}: {error}') from error

    def _connect(self) -> sqlite3.Connection:
        try:
            uri = self.path.resolve().as_uri() + '?mode=ro'
            target = uri if self.readonly else str(self.path)
            connection = sqlite3.connect(
                target, isolation_level=None, timeout=120, uri=self.readonly
            )
        except sqlite3.Error as error:
            raise OutputError(f'cannot open {self.path}: {error}') from error
        register_functions(connection)
        return connection

    def _check_layers(self) -> tuple[int, CRS]:
        try:
            tables = {
                name: {
                    row[1]
                    for row in self._connection.execute(f'PRAGMA table_info("{name}")')
                }
                for name in LAYERS
            }
            srs = self._connection.execute(
                'SELECT g.srs_id, s.definition FROM gpkg_geometry_columns g '
                'JOIN gpkg_spatial_ref_sys s ON s.srs_id = g.srs_id '
                "WHERE g.table_name = 'slumps'"
            ).fetchone()
        except sqlite3.DatabaseError as error:
            self.close()
            raise ConfigError(f'{self.path} is not a GeoPackage: {error}') from error
        self._absent: dict[str, set[str]] = {}
        for name, (columns, _) in LAYERS.items():
            missing = {c.name for c in columns} - tables[name]
            added = missing & set(ADDED_COLUMNS.get(name, ()))
            missing -= added
            if missing or srs is None:
                self.close()
                msg = (
                    f'{self.path} is not an rtsgeo campaign (layer {name!r} lacks '
                    f'{sorted(missing) or "a geometry column"}): choose a new --out'
                )
                raise ConfigError(msg)
            if added and not self.readonly:
                self._add_columns(name, [c for c in columns if c.name in added])
            self._absent[name] = added if self.readonly else set()
        return int(srs[0]), CRS.from_user_input(srs[1])

    def _add_columns(self, name: str, columns: list[Column]) -> None:
        """Add columns of a newer schema to an older output (rows get NULL)."""
        try:
            for column in columns:
                self._connection.execute(
                    f'ALTER TABLE "{name}" ADD COLUMN "{column.name}" {column.sql}'
                )
        except sqlite3.Error as error:
            self.close()
            msg = f'cannot add columns to {self.path} to resume it: {error}'
            raise OutputError(msg) from error

    def statuses(self) -> dict[str, str]:
        """Scene id -> status of every scene recorded in ``runs``."""
        rows = self._connection.execute('SELECT scene_id, status FROM runs')
        return {scene: status for scene, status in rows}

    def checkpoints(self) -> set[str]:
        """SHA-256 of the trained models that mapped the recorded scenes."""
        rows = self._connection.execute(
            "SELECT DISTINCT checkpoint_sha256 FROM runs WHERE status != 'failed'"
        )
        return {row[0] for row in rows if row[0]}

    def write(self, records: SceneRecords) -> None:
        """Replace one scene's rows in every layer, atomically.

        Raises:
            OutputError: If the write fails (the file keeps its previous rows).
        """
        layers: dict[str, list[Row]] = {}
        for name, frame in (('slumps', records.slumps), ('coverage', records.coverage)):
            names = [c.name for c in LAYERS[name][0]]
            layers[name] = _frame_rows(frame, names, self.srs_id)
        run_names = [c.name for c in LAYERS['runs'][0]]
        layers['runs'] = [([records.run[n] for n in run_names], None)]
        self.write_rows(records.scene_id, layers)

    def write_rows(self, scene_id: str, layers: dict[str, list[Row]]) -> None:
        """Replace one scene's rows with *layers* (name -> rows) in one transaction.

        Raises:
            OutputError: If the write fails (the file keeps its previous rows).
        """
        connection = self._connection
        try:
            connection.execute('BEGIN IMMEDIATE')
            for name in LAYERS:
                connection.execute(
                    f'DELETE FROM "{name}" WHERE scene_id = ?', (scene_id,)
                )
            for name, rows in layers.items():
                self._insert(name, rows)
            connection.execute('COMMIT')
        except BaseException as error:
            if connection.in_transaction:
                connection.execute('ROLLBACK')
            if not isinstance(error, sqlite3.Error | OSError):
                raise
            full = 'full' in str(error) or getattr(error, 'errno', None) == errno.ENOSPC
            hint = ' (disk full: free space, then rerun to resume)' if full else ''
            msg = f'cannot write scene {scene_id!r} to {self.path}: {error}{hint}'
            raise OutputError(msg) from error

    def _insert(self, name: str, rows: list[Row]) -> None:
        columns, geometry = LAYERS[name]
        names = [f'"{c.name}"' for c in columns]
        if geometry is not None:
            names.append('"geom"')
        marks = ', '.join('?' * len(names))
        sql = f'INSERT INTO "{name}" ({", ".join(names)}) VALUES ({marks})'
        params = [[*values, blob] if geometry else values for values, blob in rows]
        self._connection.executemany(sql, params)
        if geometry is None or not rows:
            return
        boxes = [b for _, blob in rows if blob and (b := blob_bounds(blob))]
        if boxes:
            self._grow_extent(name, boxes)

    def _grow_extent(
        self, name: str, boxes: list[tuple[float, float, float, float]]
    ) -> None:
        """Widen the layer extent recorded in ``gpkg_contents`` to cover *boxes*."""
        minx, maxx = min(b[0] for b in boxes), max(b[1] for b in boxes)
        miny, maxy = min(b[2] for b in boxes), max(b[3] for b in boxes)
        now = datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%dT%H:%M:%S.%f')
        self._connection.execute(
            'UPDATE gpkg_contents SET '
            'min_x = min(coalesce(min_x, ?), ?), max_x = max(coalesce(max_x, ?), ?), '
            'min_y = min(coalesce(min_y, ?), ?), max_y = max(coalesce(max_y, ?), ?), '
            'last_change = ? WHERE table_name = ?',
            (minx, minx, maxx, maxx, miny, miny, maxy, maxy, now[:-3] + 'Z', name),
        )

    def read_rows(self, name: str, scene_id: str) -> list[Row]:
        """One scene's rows of layer *name*, in the store's column order."""
        columns, geometry = LAYERS[name]
        absent = self._absent.get(name, set())
        names = [
            f'NULL AS "{c.name}"' if c.name in absent else f'"{c.name}"'
            for c in columns
        ] + (['"geom"'] if geometry else [])
        cursor = self._connection.execute(
            f'SELECT {", ".join(names)} FROM "{name}" WHERE scene_id = ? ORDER BY fid',
            (scene_id,),
        )
        if geometry is None:
            return [(list(row), None) for row in cursor]
        return [(list(row[:-1]), row[-1]) for row in cursor]

    def close(self) -> None:
        """Close the file (idempotent)."""
        connection = getattr(self, '_connection', None)
        if connection is not None:
            connection.close()
            self._connection = None  # type: ignore[assignment]

    def __enter__(self) -> CampaignStore:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
