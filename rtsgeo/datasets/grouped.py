"""Scenes on many CRSs, each kept in its own: one dataset per CRS group.

A pan-Arctic training set spans many UTM zones. TorchGeo's datasets hold one
CRS and would warp every scene into the first one, which distorts polar scenes
badly. :class:`CRSGroupedDataset` keeps one TorchGeo dataset per CRS and is
indexed by ``(group, query)``; :class:`~rtsgeo.samplers.CRSGroupedGeoSampler`
yields such keys from one TorchGeo sampler per group.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from torch.utils.data import Dataset
from torchgeo.datasets import GeoDataset, IntersectionDataset
from torchgeo.datasets.utils import GeoSlice

from ..errors import DataNotFoundError, LabelsOutsideImageryWarning
from ..modalities import SensorPreset
from ..quality import QualityMask
from ..transforms.scene_norm import SceneStretch
from ._files import find_rasters, group_by_crs, read_raster_info
from ._geo import resolve_query
from .polygons import VECTOR_SUFFIXES, InstancePolygonDataset
from .raster import InstanceMaskDataset, MultimodalRasterDataset
from .utils import join_samples

__all__ = ['CRSGroupedDataset', 'build_instance_dataset']

GroupKey = tuple[int, GeoSlice]


class CRSGroupedDataset(Dataset[dict[str, Any]]):
    """Several GeoDatasets, one per CRS, indexed by ``(group, query)``.

    Samples get a ``group`` key (the group index) and, when region polygons
    are given, a ``region`` key: the name of the region holding the window's
    centre (None outside every region).
    """

    def __init__(
        self,
        datasets: Sequence[GeoDataset],
        regions: gpd.GeoDataFrame | None = None,
        region_column: str = 'region',
    ) -> None:
        """Initialise a new CRSGroupedDataset.

        Args:
            datasets: one dataset per CRS.
            regions: optional polygons with a name column, in any CRS.
            region_column: the column of ``regions`` that names each region.
        """
        if not datasets:
            raise DataNotFoundError('no dataset to group: no scene was found')
        self.datasets = list(datasets)
        self._regions: list[gpd.GeoDataFrame | None] = [None] * len(self.datasets)
        if regions is not None and region_column in regions.columns:
            self._regions = [regions.to_crs(ds.crs) for ds in self.datasets]
        self.region_column = region_column

    def __len__(self) -> int:
        """Number of groups (samples are drawn by a sampler, not enumerated)."""
        return len(self.datasets)

    def __getitem__(self, key: GroupKey) -> dict[str, Any]:
        """Sample of group ``key[0]`` over query ``key[1]``."""
        group, query = key
        sample: dict[str, Any] = self.datasets[group][query]
        sample['group'] = group
        regions = self._regions[group]
        if regions is not None:
            x, y, _ = resolve_query(query, self.datasets[group].bounds)
            centre = shapely.Point((x.start + x.stop) / 2, (y.start + y.stop) / 2)
            hits = regions[regions.contains(centre)]
            sample['region'] = hits[self.region_column].iloc[0] if len(hits) else None
        return sample


def _is_vector(labels: str | Path | Sequence[str | Path]) -> bool:
    first = Path(labels if isinstance(labels, str | Path) else labels[0])
    return first.suffix.lower() in VECTOR_SUFFIXES


def _label_dataset(
    labels: str | Path | Sequence[str | Path],
    image: MultimodalRasterDataset,
    footprint: shapely.Geometry,
    min_area: int,
    vector_options: Mapping[str, Any],
) -> GeoDataset:
    if _is_vector(labels):
        # Polygons label the whole imagery (no polygon = no slump), not just
        # their own bounding box: windows without slumps are sampled too.
        return InstancePolygonDataset(
            labels,
            crs=image.crs,
            res=image.res,
            min_area=min_area,
            extent=footprint,
            **vector_options,
        )
    return InstanceMaskDataset(labels, crs=image.crs, res=image.res, min_area=min_area)


def _footprint(dataset: GeoDataset) -> shapely.Geometry:
    return shapely.union_all(np.asarray(dataset.index.geometry))


def _warn_outside(
    inside: np.ndarray, what: str, source: str | Path | Sequence[str | Path]
) -> None:
    outside = int((~inside).sum())
    if outside:
        msg = (
            f'{outside} of {inside.size} {what} in {source} fall outside the '
            'imagery and are ignored: check that labels and scenes cover the same '
            'area (CRS and extent)'
        )
        warnings.warn(msg, LabelsOutsideImageryWarning, stacklevel=3)


def build_instance_dataset(
    images: str | Path | Sequence[str | Path],
    labels: str | Path | Sequence[str | Path],
    modalities: Sequence[str] = ('rgb', 'ndvi', 'nir'),
    extra: Mapping[str, str | Path | Sequence[str | Path]] | None = None,
    sensor: str | SensorPreset | None = None,
    min_area: int = 1,
    regions: gpd.GeoDataFrame | None = None,
    region_column: str = 'region',
    vector_options: Mapping[str, Any] | None = None,
    nan_as_nodata: bool = False,
    quality_mask: QualityMask | str | None = None,
    scene_stretch: SceneStretch | None = None,
) -> CRSGroupedDataset:
    """Imagery paired with instance labels, one TorchGeo dataset per scene CRS.

    Args:
        images: scene folders or files (multi-band).
        labels: label masks (folders/files of rasters) or polygon files.
        modalities: modality names in stacking order.
        extra: more band sources by name, e.g. ``{'slope': 'slope/'}``.
        sensor: band order of scenes without band descriptions.
        min_area: smallest instance kept, in pixels.
        regions: optional region polygons, used to tag samples with a name.
        region_column: the column of ``regions`` naming each region.
        vector_options: options of
            :class:`~rtsgeo.datasets.InstancePolygonDataset` (``layer``,
            ``where``, ``dissolve``).
        nan_as_nodata: treat NaN imagery pixels as nodata.
        quality_mask: which pixels are unobserved (cloud, shadow, snow; see
            :mod:`rtsgeo.quality`): they are nodata in the image and carry no
            label pixel (see :func:`~rtsgeo.datasets.join_samples`).
        scene_stretch: stretch each file's reflectance bands onto these
            reference percentiles (see
            :class:`~rtsgeo.datasets.MultimodalRasterDataset`).

    Returns:
        The grouped dataset; warns with counts when labels fall outside imagery.

    Raises:
        DataNotFoundError: If no label overlaps any scene.
    """
    infos = [read_raster_info(f, sensor, 'image') for f in find_rasters(images)]
    vector = _is_vector(labels)
    datasets: list[GeoDataset] = []
    inside: np.ndarray | None = None
    for group in group_by_crs(infos).values():
        sources = {'image': [i.path for i in group], **(extra or {})}
        image = MultimodalRasterDataset(
            sources,
            modalities,
            sensor,
            nan_as_nodata=nan_as_nodata,
            quality_mask=quality_mask,
            scene_stretch=scene_stretch,
        )
        footprint = _footprint(image)
        label = _label_dataset(labels, image, footprint, min_area, vector_options or {})
        if isinstance(label, InstancePolygonDataset):
            shapes = label.geometries
        else:
            shapes = label.index.geometry
        hit = np.asarray(shapes.intersects(footprint))
        inside = hit if inside is None else inside | hit
        if hit.any():
            datasets.append(IntersectionDataset(image, label, collate_fn=join_samples))
    assert inside is not None  # find_rasters returned at least one file
    _warn_outside(inside, 'label polygons' if vector else 'label rasters', labels)
    if not datasets:
        msg = f'no label in {labels} overlaps the scenes in {images}'
        raise DataNotFoundError(msg)
    return CRSGroupedDataset(datasets, regions, region_column)
