"""The scene predictor: one scene in, its slump polygons and valid footprint out."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import torch
from affine import Affine
from rasterio.crs import CRS
from shapely.geometry.base import BaseGeometry
from torch import Tensor, nn

from ..errors import ConfigError, ResolutionMismatchWarning
from ..modalities import get_sensor
from ..quality import QualityMask, parse_quality_mask
from ..resolution import GSD_WARN_RATIO, gsd_differs
from .coverage import CoverageAccumulator
from .inference import Detections, forward_tiles, tile_instances
from .merge import InstanceMerger, MergedInstance
from .pipeline import ConsumeBehind, iterate_ahead, release_free_memory
from .protocol import TileProgress
from .reader import SceneReader, gdal_block_cache
from .tiling import Tile, default_overlap, tile_windows
from .vectorize import vectorize_masks

if TYPE_CHECKING:
    from ..models import TrainedModelInfo

__all__ = ['PredictorOptions', 'ScenePrediction', 'ScenePredictor']

_T = TypeVar('_T')


@dataclass
class ScenePrediction:
    """What the predictor found in one scene, in the scene's native CRS.

    Attributes:
        path: the scene file.
        scene_id: the file's stem.
        crs: the scene's CRS.
        transform: the affine transform of the grid mapped: the scene's, or
            its grid resampled to the model's GSD (same CRS and origin).
        polygons: one row per object: ``geometry`` (valid Polygon or
            MultiPolygon, holes kept), ``score`` and ``unobserved_fraction``
            (share of its one-pixel outer rim that is nodata, outside the
            scene or unobserved by the quality mask); with a calibrated model
            also ``probability`` and ``confidence`` (its tier).
        coverage: the observed footprint: the union of the pixels with data
            that the quality mask, if any, does not hide (on pixel edges).
        acquired: ISO acquisition date from the file's tags, if recorded.
        tiles: tiles run through the model.
        tiles_skipped: tiles skipped because they hold no valid pixel.
        valid_area_m2: area of the valid (observed) pixels.
        scene_gsd_m: the scene's own ground sampling distance (metres).
        mapped_gsd_m: the GSD it was mapped at: the model's when resampled.
        unobserved_area_m2: area of the pixels with data that the quality
            mask hides; None when mapped without a quality mask.
    """

    path: str
    scene_id: str
    crs: CRS
    transform: Affine
    polygons: gpd.GeoDataFrame
    coverage: BaseGeometry
    acquired: str | None
    tiles: int
    tiles_skipped: int
    valid_area_m2: float
    scene_gsd_m: float | None = None
    mapped_gsd_m: float | None = None
    unobserved_area_m2: float | None = None


@dataclass(frozen=True)
class PredictorOptions:
    """How :class:`ScenePredictor` maps a scene; every field has a default.

    Polygons come out exact, on pixel edges: minimum area and simplification
    are the campaign's (``run_campaign(min_area_m2=..., simplify=...)``,
    geodesic areas in m^2).

    Attributes:
        tile_size: tile side in pixels (None: the model's image size; models
            with a fixed input size, see
            :attr:`~rtsgeo.models.ModelConfig.fixed_input_size`, accept no
            other).
        overlap: pixels shared by neighbouring tiles (None: a quarter tile);
            objects up to about this size are never cut in all tiles.
        batch_size: tiles per forward pass.
        device: where the model runs.
        tta: flip test-time augmentation (three forward passes per batch).
        amp: autocast (bfloat16 where the GPU supports it, else float16);
            None: on for CUDA only.
        score_threshold: detections scoring below are dropped.
        mask_threshold: mask probability at which a pixel is on.
        sensor: sensor preset for scenes without band descriptions (None: the
            one the model was trained with).
        grid_offset: ``(row, col)`` shift of the tile grid's origin.
        workers: background threads beside the model. 0 maps serially; 1
            reads and normalises tiles ahead of the model; 2 (the default)
            also post-processes behind it (threshold, crop, merge, vectorise),
            so the pipeline's time hides behind the model's. The output is the
            same for every value.
        prefetch: batches each background queue holds (with ``workers`` >=
            1): how far reading runs ahead and post-processing lags behind.
        keep_overlaps: keep each tile's detections as they are, overlapping
            (for instance-level evaluation). By default each pixel belongs to
            at most one object: the higher score keeps shared pixels, a
            detection that keeps less than half of its pixels is dropped, and
            no two objects of a scene overlap or touch (see
            :func:`~rtsgeo.predict.resolve_overlaps`).
        resample: read scenes resampled on the fly to the ground sampling
            distance the model was trained at (when its file records one);
            tile sizes are in model pixels and polygons come back on the
            scene's CRS. False: map at the scene's own GSD, with a
            :class:`~rtsgeo.errors.ResolutionMismatchWarning` when it differs
            from the model's by more than 25 %.
        quality_mask: which pixels are unobserved (cloud, shadow, snow): a
            :class:`~rtsgeo.quality.QualityMask` or its text form
            (``'scl'``, ``'scl={dir}/{stem}_SCL.tif'``, see
            :func:`~rtsgeo.quality.parse_quality_mask`). Unobserved pixels
            are nodata for the model and left out of the coverage. None: the
            sensor preset's mask band when it names one, else no mask.
        drop_touching_unobserved: drop every polygon whose one-pixel outer
            rim has an unobserved or nodata pixel (``unobserved_fraction``
            above 0): objects possibly cut by a cloud or the scene's edge.
        coverage_block: with a quality mask, the coverage is drawn on blocks
            of this many pixels a side, each kept only when all its pixels
            are observed and have data: it never holds unobserved ground,
            leaves out fewer than this many pixels of observed ground along
            each edge, and keeps mapping fast on cloudy scenes (a
            pixel-exact footprint of a cloud mask costs about as much as
            reading the scene). 1: pixel-exact. The observed and unobserved
            areas and ``unobserved_fraction`` count pixels exactly whatever
            the block. Without a mask the coverage is always pixel-exact.

    Raises:
        ConfigError: If a size, the batch size or a threshold is out of range,
            or the quality mask names an unknown format or class.
    """

    tile_size: int | None = None
    overlap: int | None = None
    batch_size: int = 4
    device: str | torch.device = 'cpu'
    tta: bool = False
    amp: bool | None = None
    score_threshold: float = 0.5
    mask_threshold: float = 0.5
    sensor: str | None = None
    grid_offset: tuple[int, int] = (0, 0)
    keep_overlaps: bool = False
    resample: bool = True
    workers: int = 2
    prefetch: int = 2
    quality_mask: QualityMask | str | None = None
    drop_touching_unobserved: bool = False
    coverage_block: int = 4

    def __post_init__(self) -> None:
        if isinstance(self.quality_mask, str):
            parsed = parse_quality_mask(self.quality_mask)
            object.__setattr__(self, 'quality_mask', parsed)
        if self.coverage_block < 1:
            raise ConfigError(f'coverage_block={self.coverage_block}: use 1 or more')
        if self.tile_size is not None and self.tile_size < 1:
            raise ConfigError(f'tile_size={self.tile_size}: use 1 or more')
        if self.overlap is not None and self.overlap < 0:
            raise ConfigError(f'overlap={self.overlap}: use 0 or more')
        if self.batch_size < 1:
            raise ConfigError(f'batch_size={self.batch_size}: use 1 or more')
        if self.workers not in (0, 1, 2):
            raise ConfigError(f'workers={self.workers}: use 0, 1 or 2')
        if self.prefetch < 1:
            raise ConfigError(f'prefetch={self.prefetch}: use 1 or more')
        for name in ('score_threshold', 'mask_threshold'):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f'{name}={value}: use a value in [0, 1]')


class ScenePredictor:
    """Maps one scene at a time: tiles, batched inference, merge, polygons.

    Build one per process (it holds the model on its device); it keeps no
    state between scenes.
    """

    def __init__(
        self,
        model: nn.Module | Callable[[Tensor], list[dict[str, Tensor]]],
        info: TrainedModelInfo,
        options: PredictorOptions | None = None,
    ) -> None:
        """Initialise a new ScenePredictor.

        Args:
            model: the detector (eval mode is set here), or any callable with
                its output contract.
            info: what the trained-model file says (modalities, stats, sensor).
            options: how to map (default :class:`PredictorOptions`).

        Raises:
            ConfigError: If the overlap does not fit the tile size or the tile
                size does not fit the model.
        """
        options = options or PredictorOptions()
        config = info.config
        self.options = options
        self.tile_size = options.tile_size or config.image_size
        self.overlap = (
            default_overlap(self.tile_size)
            if options.overlap is None
            else options.overlap
        )
        if (
            config.fixed_input_size
            and self.tile_size != config.image_size
            and isinstance(model, nn.Module)
        ):
            msg = (
                f'tile_size={self.tile_size}: the {config.backbone} model '
                f'{info.name!r} runs only at image_size={config.image_size}: '
                'use that tile size'
            )
            raise ConfigError(msg)
        if self.overlap >= self.tile_size:
            msg = (
                f'overlap={self.overlap}: use 0 <= overlap < tile_size={self.tile_size}'
            )
            raise ConfigError(msg)
        self.device = torch.device(options.device)
        if isinstance(model, nn.Module):
            model = model.to(self.device).eval()
        self.model = model
        self.info = info
        self.amp = self.device.type == 'cuda' if options.amp is None else options.amp
        self.sensor = options.sensor if options.sensor is not None else info.sensor
        self.quality = self._quality_mask()

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path | Sequence[str | Path],
        options: PredictorOptions | None = None,
    ) -> ScenePredictor:
        """A predictor for a trained-model file, or an ensemble of several.

        Args:
            path: file read with :func:`rtsgeo.models.load_trained_model`, or
                a list of them: an ensemble, every model run on the same tiles
                and their instances fused (see
                :class:`~rtsgeo.models.ModelEnsemble`). A list of one maps as
                that file does.
            options: how to map (default :class:`PredictorOptions`).

        Raises:
            CheckpointError: If a file is missing, unreadable or not a trained
                model.
            ConfigError: If the models of an ensemble do not fit together
                (see :func:`~rtsgeo.models.check_ensemble`).
        """
        from ..models import load_ensemble

        options = options or PredictorOptions()
        paths = [path] if isinstance(path, str | Path) else list(path)
        model, info = load_ensemble(paths, mask_threshold=options.mask_threshold)
        return cls(model, info, options)

    def _quality_mask(self) -> QualityMask | None:
        """The mask given, else the sensor preset's mask band, else none."""
        given = self.options.quality_mask
        if isinstance(given, QualityMask):
            return given
        if self.sensor is None:
            return None
        try:
            fmt = get_sensor(self.sensor).quality
        except ConfigError:
            return None  # reading fails later, with the message that says so
        return QualityMask(fmt) if fmt else None

    @property
    def gsd_m(self) -> float | None:
        """The GSD scenes are resampled to: the model's, unless resampling is off."""
        return self.info.gsd_m if self.options.resample else None

    def open(self, path: str | Path) -> SceneReader:
        """Open a scene for reading with this model's modalities and statistics.

        The scene is read at the model's GSD (see :attr:`gsd_m`), with the
        quality mask, if any, and the model's per-scene stretch, if any.
        """
        return SceneReader(
            path,
            self.info.modalities,
            self.info.stats,
            self.sensor,
            self.gsd_m,
            self.quality,
            self.info.scene_stretch,
        )

    def _warn_resolution(self, reader: SceneReader) -> None:
        """Warn when mapping at a GSD far from the model's (resampling off)."""
        model = self.info.gsd_m
        if reader.resampled or model is None:
            return
        if gsd_differs(reader.native_gsd_m, model, GSD_WARN_RATIO):
            msg = (
                f'scene {reader.path} is mapped at its own GSD of '
                f'{reader.native_gsd_m:.3g} m, the model was trained at '
                f'{model:.3g} m: objects look {model / reader.native_gsd_m:.2g} '
                'times their trained size in pixels; turn resampling on '
                "(--resample on) to map it at the model's GSD"
            )
            warnings.warn(msg, ResolutionMismatchWarning, stacklevel=3)

    def check_scene(self, path: str | Path) -> None:
        """Check a scene can be mapped, without reading its pixels.

        Raises:
            DataNotFoundError: If the file does not exist.
            CorruptRasterError: If it cannot be opened or has no CRS.
            BandNotFoundError: If a band the model's modalities need is missing
                (also when the sensor preset does not fit the file).
            InvalidImageryError: If its CRS is geographic: reproject it to a
                projected CRS (its UTM zone, for example) first.
        """
        self.open(path).close()

    def tiles(self, reader: SceneReader) -> list[Tile]:
        """The tile grid over an open scene."""
        return tile_windows(
            reader.width,
            reader.height,
            self.tile_size,
            self.overlap,
            self.options.grid_offset,
        )

    def iter_batches(
        self,
        reader: SceneReader,
        progress: TileProgress | None = None,
        coverage: CoverageAccumulator | None = None,
    ) -> Iterator[tuple[list[Tile], Tensor, Tensor]]:
        """Batches of tiles holding valid pixels, in row-major order.

        Tiles without an observed pixel with data are skipped (and counted
        by ``progress``).

        Args:
            reader: the open scene.
            progress: called as ``progress(tiles_done, tiles_total)``.
            coverage: gathers the valid footprint of every tile read (and,
                after the last, starts drawing it: see
                :meth:`CoverageAccumulator.finish`).

        Yields:
            Tiles, their ``(B, C, H, W)`` images and ``(B, H, W)`` validity.
        """
        tiles = self.tiles(reader)
        channels = reader.channels
        size, capacity = self.tile_size, self.options.batch_size
        group: list[Tile] = []
        # Reused for every tile: the coverage counts it before the next read.
        unobserved = (
            np.empty((size, size), bool) if reader.quality is not None else None
        )
        for done, tile in enumerate(tiles, start=1):
            if not group:
                # Tiles are read straight into the batch: no stacking copy.
                images = np.empty((capacity, channels, size, size), np.float32)
                valids = np.empty((capacity, size, size), bool)
            slot = len(group)
            if unobserved is None:
                found = reader.read_into(tile, images[slot], valids[slot])
            else:
                found = reader.read_into(tile, images[slot], valids[slot], unobserved)
            if found:
                group.append(tile)
            if coverage is not None:
                coverage.add(tile, valids[slot], unobserved)
                if done == len(tiles):
                    coverage.finish()  # drawn while the last batches run
            if len(group) == capacity or (done == len(tiles) and group):
                count = len(group)
                yield (
                    group,
                    torch.from_numpy(images[:count]),
                    torch.from_numpy(valids[:count]),
                )
                group = []
            if progress is not None:
                progress(done, len(tiles))

    def predict_scene(
        self, path: str | Path, progress: TileProgress | None = None
    ) -> ScenePrediction:
        """Map one scene.

        Args:
            path: the scene raster.
            progress: called as ``progress(tiles_done, tiles_total)``.

        Returns:
            The scene's polygons and footprint in its native CRS (``transform``
            is that of the grid mapped: the resampled one when resampled).

        Raises:
            DataNotFoundError: If the scene is missing (see :meth:`check_scene`).
            CorruptRasterError: If the scene cannot be read.
            BandNotFoundError: If a band the model needs is absent.
            InvalidImageryError: If the scene's CRS or values cannot be mapped.
        """
        with self.open(path) as reader:
            self._warn_resolution(reader)
            reader.scene_percentiles()  # one stretch for the scene, before tiling
            block = 1 if reader.quality is None else self.options.coverage_block
            coverage = CoverageAccumulator(
                reader.transform, shape=(reader.height, reader.width), block=block
            )
            cache = reader.tile_row_cache_bytes(self.tile_size)
            with gdal_block_cache(cache):
                frames = self._map_tiles(reader, coverage, progress)
            tiles = len(self.tiles(reader))
            footprint = coverage.result()
            geometry = gpd.GeoSeries(
                pd.concat([f.geometry for f in frames], ignore_index=True),
                crs=reader.crs,
            )
            polygons = gpd.GeoDataFrame(
                {
                    'score': pd.concat([f['score'] for f in frames], ignore_index=True),
                    'unobserved_fraction': coverage.rim_unobserved_fractions(
                        list(geometry)
                    ),
                },
                geometry=geometry,
                crs=reader.crs,
            )
            calibration = self.info.calibration
            if calibration is not None:
                probability = calibration.probability(polygons['score'])
                polygons['probability'] = probability
                polygons['confidence'] = calibration.tiers(probability)
            if self.options.drop_touching_unobserved:
                touching = polygons['unobserved_fraction'] > 0
                polygons = polygons[~touching].reset_index(drop=True)
            unobserved = (
                None
                if reader.quality is None
                else coverage.unobserved_pixels * reader.pixel_area_m2
            )
            return ScenePrediction(
                path=str(path),
                scene_id=Path(path).stem,
                crs=reader.crs,
                transform=reader.transform,
                polygons=polygons,
                coverage=footprint,
                acquired=reader.acquired,
                tiles=tiles - coverage.tiles_empty,
                tiles_skipped=coverage.tiles_empty,
                valid_area_m2=coverage.valid_pixels * reader.pixel_area_m2,
                scene_gsd_m=reader.native_gsd_m,
                mapped_gsd_m=reader.gsd_m,
                unobserved_area_m2=unobserved,
            )

    def _map_tiles(
        self,
        reader: SceneReader,
        coverage: CoverageAccumulator,
        progress: TileProgress | None,
    ) -> list[gpd.GeoDataFrame]:
        """Polygons of the objects finished after each tile row, then the rest.

        With ``workers`` >= 1 the reader (and the coverage) runs in a
        background thread, and ``progress`` is called here with the latest
        count it reported; with 2, post-processing runs in another.
        """
        options = self.options
        last_row = max((tile.row for tile in self.tiles(reader)), default=0)
        rows = _RowAssembler(options, reader.transform, reader.crs, last_row)
        with contextlib.ExitStack() as stack:
            if options.workers == 0:
                batches = self.iter_batches(reader, progress, coverage)
            else:
                counts: list[tuple[int, int]] = []
                read = self.iter_batches(reader, lambda *c: counts.append(c), coverage)
                ahead = iterate_ahead(read, options.prefetch)
                # Stops and joins the reader thread however this block ends.
                stack.callback(ahead.close)
                batches = _reporting(ahead, counts, progress)
            post: Callable[[_Batch], object] = rows.add
            if options.workers == 2:
                behind = ConsumeBehind(rows.add, options.prefetch)
                post = stack.enter_context(behind).submit
            for tiles, images, valids in batches:
                found = forward_tiles(
                    self.model,
                    _to_device(images, self.device),
                    options.tta,
                    self.amp,
                    options.mask_threshold,
                    options.score_threshold,
                )
                post((tiles, found, valids))
                # The model's freed tensors, back to the system: see
                # release_free_memory.
                del found
                release_free_memory()
        return rows.finish()


#: One batch after the model: tiles, their detections and validity masks.
_Batch = tuple[list[Tile], list[Detections], Tensor]


def _to_device(images: Tensor, device: torch.device) -> Tensor:
    """Images on the model's device; from pinned memory, asynchronously, on CUDA."""
    if device.type != 'cuda':
        return images.to(device)
    return images.pin_memory().to(device, non_blocking=True)


def _reporting(
    batches: Iterator[_T],
    counts: list[tuple[int, int]],
    progress: TileProgress | None,
) -> Iterator[_T]:
    """Pass *batches* on, reporting the latest of *counts* after each."""
    for batch in batches:
        if progress is not None and counts:
            progress(*counts[-1])
        yield batch
    if progress is not None and counts:
        progress(*counts[-1])


class _RowAssembler:
    """Tiles' detections in, merged objects out row by row as polygons."""

    def __init__(
        self, options: PredictorOptions, transform: Affine, crs: CRS, last_row: int
    ) -> None:
        self.options = options
        self.transform = transform
        self.crs = crs
        self.last_row = last_row
        self.merger = InstanceMerger(options.keep_overlaps)
        self.frames: list[gpd.GeoDataFrame] = []
        self.row: int | None = None

    def add(self, batch: _Batch) -> None:
        """Add one batch's detections; vectorise the objects a new row finishes."""
        options = self.options
        for tile, detections, valid in zip(*batch, strict=True):
            if self.row is not None and tile.row != self.row:
                self._vectorize(self.merger.pop_finished(tile.row_off))
            elif self.row == self.last_row:
                # No row follows: what ends left of this tile is finished, so
                # it is vectorised now rather than after the scene's last tile.
                finished = self.merger.pop_finished(None, tile.col_off)
                if finished:
                    self._vectorize(finished)
            self.row = tile.row
            instances = tile_instances(
                tile,
                detections,
                valid,
                options.score_threshold,
                options.mask_threshold,
            )
            self.merger.add(tile, instances)

    def finish(self) -> list[gpd.GeoDataFrame]:
        """The polygons of every row, the objects still open included."""
        self._vectorize(self.merger.pop_finished(None))
        return self.frames

    def _vectorize(self, instances: list[MergedInstance]) -> None:
        self.frames.append(vectorize_masks(instances, self.transform, self.crs))
