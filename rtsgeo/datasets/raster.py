"""Multimodal imagery and raster labels as TorchGeo raster datasets."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio.errors
import rasterio.merge
import torch
from rasterio.crs import CRS
from torch import Tensor
from torchgeo.datasets import RasterDataset
from torchgeo.datasets.utils import GeoSlice

from ..errors import (
    BandNotFoundError,
    CorruptRasterError,
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
from ._files import RasterInfo, find_rasters, read_raster_info
from ._instances import instances_from_mask

__all__ = ['InstanceMaskDataset', 'MultimodalRasterDataset']

PathLike = str | Path
Paths = PathLike | Sequence[PathLike]

# Fill value for nodata and uncovered pixels while reading; real imagery never
# holds -inf, and NaN stays free to flag NaN values that are really in a file.
_NODATA_FILL = -np.inf


class _CheckedRasterDataset(RasterDataset):
    """A RasterDataset over files already checked by :func:`read_raster_info`.

    Reads every band as float32, with nodata and uncovered pixels set to -inf.
    """

    def __init__(
        self,
        infos: Sequence[RasterInfo],
        crs: CRS | None,
        res: tuple[float, float] | None,
        cache: bool = True,
    ) -> None:
        self.infos = list(infos)
        self.band_names = self.infos[0].bands
        for info in self.infos[1:]:
            if info.bands != self.band_names:
                msg = (
                    f'{info.path} has bands {info.bands} but {self.infos[0].path} '
                    f'has {self.band_names}: files of one source must share bands'
                )
                raise BandNotFoundError(msg)
        super().__init__([i.path for i in self.infos], crs=crs, res=res, cache=cache)

    def files_at(self, query: GeoSlice) -> list[str]:
        """Files that intersect a query (empty when none does)."""
        x, y, t = self._disambiguate_slice(query)
        index = self.index.iloc[self.index.index.overlaps(pd.Interval(t.start, t.stop))]
        index = index.cx[x.start : x.stop, y.start : y.stop]
        return list(index.filepath)

    def read(self, query: GeoSlice) -> Tensor | None:
        """All bands over a query as ``(C, H, W)`` float32, or None if uncovered."""
        files = self.files_at(query)
        return self._merge_files(files, query) if files else None

    def _merge_files(
        self,
        filepaths: Sequence[str],
        query: GeoSlice,
        band_indexes: Sequence[int] | None = None,
    ) -> Tensor:
        load = self._cached_load_warp_file if self.cache else self._load_warp_file
        vrts = [load(fp) for fp in filepaths]
        x, y, _ = self._disambiguate_slice(query)
        try:
            dest, _ = rasterio.merge.merge(
                vrts,
                (x.start, y.start, x.stop, y.stop),
                (x.step, y.step),
                indexes=band_indexes,
                resampling=self.resampling,
                nodata=_NODATA_FILL,
                dtype='float32',
            )
        except rasterio.errors.RasterioError as error:
            names = ', '.join(filepaths)
            msg = f'reading {names} failed (corrupt or truncated file?): {error}'
            raise CorruptRasterError(msg) from error
        return torch.from_numpy(dest)

    @property
    def resampling(self) -> rasterio.enums.Resampling:
        """Bilinear for continuous imagery; labels override with nearest."""
        return rasterio.enums.Resampling.bilinear


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


class MultimodalRasterDataset(RasterDataset):
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
      as stored; NDVI in [-1, 1]); pixels that are nodata in any band are 0 in
      every channel;
    * ``valid``: ``(H, W)`` bool, False where any band is nodata or uncovered;
    * ``channels``: modality name -> ``(start, stop)`` channel range;
    * ``crs`` and ``bounds``, as in every TorchGeo sample.
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

        Raises:
            DataNotFoundError: If a path is missing or holds no raster.
            CorruptRasterError: If a file cannot be opened.
            BandNotFoundError: If a band a modality needs is in no source.
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
        grid = _CheckedRasterDataset(infos[primary], crs, _pair(res), cache)
        self._sources = [grid] + [
            _CheckedRasterDataset(infos[name], grid.crs, grid.res, cache)
            for name in others
        ]
        self._needed = self._check_bands()
        # The grid source already indexed the scenes: share its index rather
        # than letting RasterDataset.__init__ open every file a second time.
        self.infos = infos[primary]
        self.paths = grid.paths
        self.index = grid.index
        self._res = grid.res
        self.bands = grid.band_names
        self.cache = cache
        self.transforms = transforms

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
        primary = self._sources[0]
        raw = primary.read(query)
        if raw is None:
            msg = f'query {query} is outside the scenes (bounds {self.bounds})'
            raise IndexError(msg)
        bands, valid = self._collect_bands(raw, primary, query)
        for source in self._sources[1:]:
            extra = source.read(query)
            if extra is None:
                extra = torch.full((len(source.band_names), *raw.shape[1:]), -np.inf)
            more, more_valid = self._collect_bands(extra, source, query)
            bands.update(more)
            valid &= more_valid
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
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def _collect_bands(
        self, raw: Tensor, source: _CheckedRasterDataset, query: GeoSlice
    ) -> tuple[dict[str, Tensor], Tensor]:
        rows = [i for i, b in enumerate(source.band_names) if b in self._needed]
        data = raw[rows]
        nan = torch.isnan(data)
        if nan.any() and not self.nan_as_nodata:
            files = ', '.join(source.files_at(query))
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


def _pair(res: float | tuple[float, float] | None) -> tuple[float, float] | None:
    if res is None or isinstance(res, tuple):
        return res
    return (float(res), float(res))


class InstanceMaskDataset(_CheckedRasterDataset):
    """Instance targets from label rasters (binary or instance-id masks).

    A binary mask is split into 8-connected components, one instance each (the
    same objects OpenCV's external contours give, which the paper uses); an
    instance mask (``instance_ids=True``) keeps one instance per distinct value.
    Instances smaller than ``min_area`` pixels are dropped. Samples hold
    ``mask`` ``(N, H, W)`` uint8, ``bbox_xyxy`` ``(N, 4)`` and ``label`` ``(N,)``.
    """

    is_image = False

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
        super().__init__(infos, crs, _pair(res), cache)
        self.min_area = min_area
        self.instance_ids = instance_ids
        self.transforms = transforms

    @property
    def resampling(self) -> rasterio.enums.Resampling:
        """Labels are resampled with nearest neighbour."""
        return rasterio.enums.Resampling.nearest

    def __getitem__(self, query: GeoSlice) -> dict[str, Any]:
        """Instance targets over a query."""
        raw = self.read(query)
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
