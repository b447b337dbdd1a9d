"""Multimodal imagery and raster labels as TorchGeo GeoDatasets."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio.enums
import torch
from pyproj import CRS
from torch import Tensor
from torchgeo.datasets import GeoDataset
from torchgeo.datasets.utils import GeoSlice

from ..errors import (
    BandNotFoundError,
    CRSMismatchError,
    InvalidImageryError,
)
from ..modalities import (
    SensorPreset,
    channel_layout,
    compute_modalities,
    get_modality,
    modality_channel_names,
    required_bands,
)
from ..quality import QualityMask, parse_quality_mask
from ..transforms.scene_norm import SceneStretch, apply_stretch
from ._files import RasterInfo, find_rasters, read_raster_info
from ._geo import resolve_query
from ._instances import instances_from_mask
from ._reader import NODATA_FILL, RasterSource

__all__ = ['InstanceMaskDataset', 'MultimodalRasterDataset']

PathLike = str | Path
Paths = PathLike | Sequence[PathLike]


class _SourceDataset(GeoDataset):
    """A GeoDataset over :class:`RasterSource` files, the first defining its grid.

    The dataset owns its index (the first source's footprints); setting
    :attr:`crs` or :attr:`res`, as :class:`~torchgeo.datasets.IntersectionDataset`
    does, moves every source onto the new grid.
    """

    _sources: list[RasterSource]
    # Sources read beside the bands (a quality mask): moved with the grid too.
    _aligned: tuple[RasterSource, ...] = ()

    def _adopt(self, sources: list[RasterSource]) -> None:
        self._sources = sources
        self.index = sources[0].index
        self.paths = [info.path for info in sources[0].infos]

    @property
    def crs(self) -> CRS:
        """CRS of the dataset; setting it re-indexes every source."""
        return self._sources[0].crs

    @crs.setter
    def crs(self, new_crs: CRS) -> None:
        for source in (*self._sources, *self._aligned):
            source.crs = new_crs
        self.index = self._sources[0].index

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size ``(x, y)`` of the dataset in CRS units."""
        return self._sources[0].res

    @res.setter
    def res(self, new_res: float | tuple[float, float]) -> None:
        pair = (new_res, new_res) if isinstance(new_res, int | float) else new_res
        for source in (*self._sources, *self._aligned):
            source.res = (float(pair[0]), float(pair[1]))

    def _window(self, query: GeoSlice) -> tuple[slice, slice, slice]:
        return resolve_query(query, self.bounds)


def _as_sources(paths: Paths | Mapping[str, Paths]) -> dict[str, Paths]:
    if isinstance(paths, Mapping):
        if not paths:
            raise ValueError('paths is an empty mapping: give at least one source')
        return dict(paths)
    return {'image': paths}


def _single_crs(infos: Sequence[RasterInfo], source: str) -> None:
    crss = {info.crs.to_string() for info in infos}
    if len(crss) > 1:
        msg = (
            f'the {source!r} files are on {len(crss)} CRSs ({", ".join(sorted(crss))}):'
            ' keep each scene in its own CRS by grouping files per CRS '
            '(RTSDataModule does this), or pass crs= to reproject all of them'
        )
        raise CRSMismatchError(msg)


class MultimodalRasterDataset(_SourceDataset):
    """Scenes as one stacked image of modalities (RGB, NDVI, NIR, slope, ...).

    Bands come from one multi-band file per scene, or from one source per
    modality (``paths={'image': 'scenes/', 'slope': 'slope/'}``). The first
    source defines the grid (CRS and resolution); other sources are warped onto
    it on the fly (bilinear), so a DEM in EPSG:3413 pairs with UTM scenes.
    Band names come from the files' band descriptions, else from ``sensor``; an
    undescribed single-band file takes its source name (``'slope'``).

    Samples hold:

    * ``image``: ``(C, H, W)`` float32, modalities stacked in the order given
      (see :func:`rtsgeo.modalities.channel_layout`); values are raw (reflectance
      as stored, or stretched per file with ``scene_stretch``; NDVI in
      [-1, 1]); pixels that are nodata in any band are 0 in every channel;
    * ``valid``: ``(H, W)`` bool, False where any band is nodata or uncovered,
      or where the quality mask, if any, marks the ground unobserved;
    * ``unobserved`` (with a quality mask only): ``(H, W)`` bool, the pixels
      with data that the mask hides; :func:`~rtsgeo.datasets.join_samples`
      clears the label pixels there and drops instances left empty;
    * ``channels``: modality name -> ``(start, stop)`` channel range;
    * ``crs`` and ``bounds`` (the query's ``(x, y, t)`` slices), the window's
      place; join them with a TorchGeo dataset through
      :func:`~rtsgeo.datasets.join_samples`.
    """

    def __init__(
        self,
        paths: Paths | Mapping[str, Paths],
        modalities: Sequence[str] = ('rgb', 'ndvi', 'nir'),
        sensor: str | SensorPreset | None = None,
        crs: CRS | None = None,
        res: float | tuple[float, float] | None = None,
        transforms: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        nan_as_nodata: bool = False,
        cache: bool = True,
        quality_mask: QualityMask | str | None = None,
        scene_stretch: SceneStretch | None = None,
    ) -> None:
        """Initialise a new MultimodalRasterDataset.

        Args:
            paths: folders or files of the scenes, or a mapping from source
                name to folders/files (the first source defines the grid).
            modalities: modality names in stacking order.
            sensor: band order of files without band descriptions.
            crs: CRS to reproject to (defaults to the scenes' own CRS; scenes on
                several CRSs are refused unless this is set).
            res: resolution in CRS units (defaults to the first scene's).
            transforms: function applied to each sample.
            nan_as_nodata: treat NaN pixels of float imagery as nodata instead
                of raising :class:`~rtsgeo.errors.InvalidImageryError`.
            cache: keep file handles open between reads.
            quality_mask: which pixels are unobserved (see
                :mod:`rtsgeo.quality`): the same definition as mapping uses,
                read per window onto the grid by nearest neighbour; pixels
                outside the mask raster count as unobserved. None: none.
            scene_stretch: stretch the reflectance bands of each file onto
                these reference percentiles (see
                :mod:`rtsgeo.transforms.scene_norm`), before NDVI is derived:
                every file is measured once, here, over its valid pixels
                (those the quality mask leaves observed), and each window
                read is stretched with its own file's percentiles. None:
                raw values.

        Raises:
            DataNotFoundError: If a path is missing or holds no raster.
            CorruptRasterError: If a file cannot be opened.
            BandNotFoundError: If a band a modality needs is in no source, or
                a scene lacks its mask band.
            CRSMismatchError: If the scenes are on several CRSs and ``crs`` is None.
        """
        self.modalities = tuple(get_modality(m).name for m in modalities)
        self.channel_layout = channel_layout(self.modalities)
        self.channel_names = modality_channel_names(self.modalities)
        self.nan_as_nodata = nan_as_nodata
        sources = _as_sources(paths)
        infos = {
            name: [read_raster_info(f, sensor, name) for f in find_rasters(src)]
            for name, src in sources.items()
        }
        primary, *others = infos
        if crs is None:
            _single_crs(infos[primary], primary)
        bilinear = rasterio.enums.Resampling.bilinear
        grid = RasterSource(infos[primary], crs, _pair(res), bilinear, cache)
        self._adopt(
            [grid]
            + [
                RasterSource(infos[name], grid.crs, grid.res, bilinear, cache)
                for name in others
            ]
        )
        self._needed = self._check_bands()
        self.quality = (
            None if quality_mask is None else parse_quality_mask(quality_mask)
        )
        self._quality = (
            None
            if self.quality is None
            else _quality_source(self.quality, infos[primary], grid, cache)
        )
        if self._quality is not None:
            self._aligned = (self._quality[0],)
        self.infos = infos[primary]
        self.bands = grid.band_names
        self.cache = cache
        self.transforms = transforms
        self.scene_stretch = scene_stretch
        # file path -> band -> (gain, offset) of its stretch
        self._stretch: dict[str, dict[str, tuple[float, float]]] = {}
        if scene_stretch is not None:
            self._measure_files(scene_stretch)

    def _measure_files(self, stretch: SceneStretch) -> None:
        """The stretch of every file, the quality mask applying to the scenes."""
        for index, source in enumerate(self._sources):
            quality = self.quality if index == 0 else None
            for info in source.infos:
                scene = stretch.measure(info.path, info.bands, quality)
                self._stretch[info.path] = stretch.coefficients(scene)

    def _read(
        self, source: RasterSource, window: tuple[slice, slice, slice]
    ) -> Tensor | None:
        """A source's bands over a window, each file stretched, if asked, first."""
        if self.scene_stretch is None:
            return source.read(*window)
        names, stretch = source.band_names, self._stretch

        def adjust(path: str, block: np.ndarray) -> None:
            apply_stretch(block, names, stretch[path])

        return source.read(*window, adjust)

    def _check_bands(self) -> tuple[str, ...]:
        """The bands to read, once each; a stored NDVI band replaces nir and red."""
        available = {b for src in self._sources for b in src.band_names}
        for modality in self.modalities:
            for band in get_modality(modality).source_bands(available):
                if band not in available:
                    described = '; '.join(
                        f'{src.infos[0].path} has {", ".join(src.band_names)}'
                        for src in self._sources
                    )
                    msg = (
                        f'modality {modality!r} needs band {band!r}, which no '
                        f'source provides ({described}): add a source with that '
                        'band, fix the band descriptions, or choose the right sensor'
                    )
                    raise BandNotFoundError(msg)
        return required_bands(self.modalities, available)

    def __getitem__(self, query: GeoSlice) -> dict[str, Any]:
        """Stacked modalities, valid-pixel mask and metadata over a query."""
        window = self._window(query)
        primary = self._sources[0]
        raw = self._read(primary, window)
        if raw is None:
            msg = f'query {query} is outside the scenes (bounds {self.bounds})'
            raise IndexError(msg)
        bands, valid = self._collect_bands(raw, primary, window)
        for source in self._sources[1:]:
            extra = self._read(source, window)
            if extra is None:
                shape = (len(source.band_names), *raw.shape[1:])
                extra = torch.full(shape, NODATA_FILL)
            more, more_valid = self._collect_bands(extra, source, window)
            bands.update(more)
            valid &= more_valid
        hidden = None
        if self._quality is not None:
            hidden = self._unobserved(window, valid.shape) & valid
            valid &= ~hidden
        image = compute_modalities(
            {b: bands[b] for b in self._needed}, self.modalities, valid
        )
        sample: dict[str, Any] = {
            'crs': self.crs,
            'bounds': query,
            'image': image,
            'valid': valid,
            'channels': {k: (s.start, s.stop) for k, s in self.channel_layout.items()},
        }
        if hidden is not None:
            sample['unobserved'] = hidden
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def _unobserved(
        self, window: tuple[slice, slice, slice], shape: tuple[int, ...]
    ) -> Tensor:
        """*shape* bool over a window: True where the quality mask hides it."""
        assert self._quality is not None and self.quality is not None
        source, rows = self._quality
        raw = source.read(*window)
        if raw is None:  # no mask raster there: nothing observed
            return torch.ones(tuple(shape), dtype=torch.bool)
        block = raw[rows]
        inside = torch.isfinite(block).all(0)
        values = torch.where(torch.isfinite(block), block, 0).numpy().astype(np.int64)
        hidden = torch.from_numpy(self.quality.flags(values))
        return hidden | ~inside

    def _collect_bands(
        self, raw: Tensor, source: RasterSource, window: tuple[slice, slice, slice]
    ) -> tuple[dict[str, Tensor], Tensor]:
        rows = [i for i, b in enumerate(source.band_names) if b in self._needed]
        data = raw[rows]
        nan = torch.isnan(data)
        if nan.any() and not self.nan_as_nodata:
            files = ', '.join(source.files_at(*window))
            msg = (
                f'{files} holds {int(nan.sum())} NaN values that are not declared '
                'nodata: declare them (gdal_edit.py -a_nodata nan FILE) or pass '
                'nan_as_nodata=True'
            )
            raise InvalidImageryError(msg)
        valid = torch.isfinite(data).all(dim=0)
        data = torch.where(torch.isfinite(data), data, torch.zeros_like(data))
        names = [source.band_names[i] for i in rows]
        return dict(zip(names, data, strict=True)), valid

    def plot(self, sample: Mapping[str, Any], title: str | None = None) -> Any:
        """Show each modality of a sample side by side.

        Args:
            sample: a sample of this dataset.
            title: optional figure title.

        Returns:
            A matplotlib Figure.
        """
        from ..plotting import plot_modalities

        return plot_modalities(sample, self.channel_layout, title=title)


def _quality_source(
    mask: QualityMask,
    images: Sequence[RasterInfo],
    grid: RasterSource,
    cache: bool,
) -> tuple[RasterSource, list[int]]:
    """The quality mask's files on the grid (nearest) and the rows of its bands.

    Raises:
        BandNotFoundError: If a scene lacks its mask band(s).
    """
    wanted = mask.spec.bands
    if mask.path is None:
        for info in images:
            mask.check_bands(info.path, info.bands)
        infos = list(images)
        rows = [infos[0].bands.index(band) for band in wanted]
    else:
        # The mask's bands are taken by position, whatever their descriptions.
        preset = SensorPreset(mask.format, wanted)
        infos = []
        for info in images:
            path = str(mask.existing_raster(info.path))
            infos.append(read_raster_info(path, preset, 'quality'))
        rows = list(range(len(wanted)))
    nearest = rasterio.enums.Resampling.nearest
    return RasterSource(infos, grid.crs, grid.res, nearest, cache), rows


def _pair(res: float | tuple[float, float] | None) -> tuple[float, float] | None:
    if res is None or isinstance(res, tuple):
        return res
    return (float(res), float(res))


class InstanceMaskDataset(_SourceDataset):
    """Instance targets from label rasters (binary or instance-id masks).

    A binary mask is split into 8-connected components, one instance each (the
    same objects OpenCV's external contours give, which the paper uses); an
    instance mask (``instance_ids=True``) keeps one instance per distinct value.
    Instances smaller than ``min_area`` pixels are dropped. Samples hold
    ``mask`` ``(N, H, W)`` uint8, ``bbox_xyxy`` ``(N, 4)`` and ``label`` ``(N,)``
    (nearest-neighbour reads onto the query grid), besides ``crs`` and ``bounds``.
    """

    def __init__(
        self,
        paths: Paths,
        crs: CRS | None = None,
        res: float | tuple[float, float] | None = None,
        min_area: int = 1,
        instance_ids: bool = False,
        transforms: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        cache: bool = True,
    ) -> None:
        """Initialise a new InstanceMaskDataset.

        Args:
            paths: label raster folders or files.
            crs: CRS of the imagery they pair with (defaults to their own).
            res: resolution of the imagery (defaults to the first file's).
            min_area: smallest instance kept, in pixels.
            instance_ids: True if pixel values are instance ids.
            transforms: function applied to each sample.
            cache: keep file handles open between reads.
        """
        infos = [read_raster_info(f, None, 'mask') for f in find_rasters(paths)]
        if crs is None:
            _single_crs(infos, 'mask')
        nearest = rasterio.enums.Resampling.nearest
        self._adopt([RasterSource(infos, crs, _pair(res), nearest, cache)])
        self.min_area = min_area
        self.instance_ids = instance_ids
        self.transforms = transforms

    def __getitem__(self, query: GeoSlice) -> dict[str, Any]:
        """Instance targets over a query."""
        raw = self._sources[0].read(*self._window(query))
        if raw is None:
            msg = f'query {query} is outside the label rasters (bounds {self.bounds})'
            raise IndexError(msg)
        labels = torch.where(torch.isfinite(raw[0]), raw[0], 0).numpy()
        sample: dict[str, Any] = {'crs': self.crs, 'bounds': query}
        sample.update(
            instances_from_mask(labels, self.min_area, instance_ids=self.instance_ids)
        )
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample
