"""An RTS datamodule whose training windows are cropped from chips held in memory.

Reading a window through TorchGeo costs a file open, a warp and a merge; for
small training sets (a few hundred chips, such as ``s2-rts-lubka1``) reading
every chip once and cropping training windows from memory is many times
faster, which makes CPU training and benchmarks practical. Validation and test
windows are read as in :class:`RTSDataModule`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import rasterio.features
import shapely
import torch
from torch.utils.data import DataLoader, Dataset

from ..datasets import build_instance_dataset, collate_instances
from ..datasets._geo import window_transform
from ..datasets._instances import boxes_from_masks, pack_instances
from ..quality import QualityMask
from ..samplers import CRSGroupedGeoSampler, SceneGridGeoSampler
from ..transforms import NormalizeModalities, SceneStretch, compute_modality_stats
from .rts import RTSDataModule

__all__ = ['CachedRTSDataModule']

#: A training chip: ``image`` (C, H, W), ``valid`` (H, W) and ``mask`` (N, H, W).
Chip = dict[str, torch.Tensor]


def _paths(value: str | Path | Sequence[str | Path]) -> tuple[str, ...]:
    if isinstance(value, str | Path):
        return (str(value),)
    return tuple(str(v) for v in value)


def _unpack(paths: tuple[str, ...]) -> str | list[str]:
    """The path alone when there is one, so messages show it as given."""
    return paths[0] if len(paths) == 1 else list(paths)


@dataclass(frozen=True)
class _ChipSource:
    """Everything that decides the training chips; frozen and hashable, a cache key.

    Attributes:
        images: scene folders or files.
        labels: label folders or files.
        modalities: modality names in stacking order.
        extra: more band sources, as sorted ``(name, paths)`` pairs.
        sensor: band order of scenes without band descriptions.
        area: the training area as WKB, or None for the whole imagery.
        area_crs: CRS of ``area``.
        chip_size: side of a chip in pixels.
        min_area: smallest instance kept, in pixels.
        vector_options: polygon label options, as sorted ``(key, value)`` pairs.
        quality_mask: the scenes' quality mask, or None.
        scene_stretch: the per-file stretch of the reflectance bands, or None.
    """

    images: tuple[str, ...]
    labels: tuple[str, ...]
    modalities: tuple[str, ...]
    extra: tuple[tuple[str, tuple[str, ...]], ...]
    sensor: str | None
    area: bytes | None
    area_crs: str | None
    chip_size: int
    min_area: int
    vector_options: tuple[tuple[str, Any], ...]
    quality_mask: QualityMask | None = None
    scene_stretch: SceneStretch | None = None


def _inside(
    area: shapely.Geometry, query: Any, height: int, width: int
) -> torch.Tensor:
    """``(H, W)`` bool: the pixels of a window whose centre lies in *area*."""
    transform = window_transform(query[0], query[1], width, height)
    outside = rasterio.features.geometry_mask(
        [area], out_shape=(height, width), transform=transform
    )
    return torch.from_numpy(~outside)


@functools.lru_cache(maxsize=4)
def _read_chips(source: _ChipSource) -> list[Chip]:
    """Read the grid of chips over the training area (the four latest are kept).

    Chips are cut on a grid over the training area; pixels of a chip outside
    the area become nodata (``valid`` False, image 0, no instance), so no
    other split's imagery or labels reach training.
    """
    dataset = build_instance_dataset(
        _unpack(source.images),
        _unpack(source.labels),
        source.modalities,
        extra={name: _unpack(paths) for name, paths in source.extra},
        sensor=source.sensor,
        min_area=source.min_area,
        vector_options=dict(source.vector_options),
        quality_mask=source.quality_mask,
        scene_stretch=source.scene_stretch,
    )
    areas: list[shapely.Geometry | None] = [None] * len(dataset.datasets)
    if source.area is not None:
        train = gpd.GeoSeries([shapely.from_wkb(source.area)], crs=source.area_crs)
        areas = [train.to_crs(ds.crs).iloc[0] for ds in dataset.datasets]
    sampler = CRSGroupedGeoSampler(
        [
            SceneGridGeoSampler(ds, source.chip_size, roi=roi)
            for ds, roi in zip(dataset.datasets, areas, strict=True)
        ]
    )
    chips = []
    for group, query in sampler:
        sample = dataset[group, query]
        image = sample['image'].float()
        valid = sample['valid'].bool()
        mask = sample['mask'].to(torch.uint8)
        area = areas[group]
        if area is not None:
            inside = _inside(area, query, *valid.shape)
            valid, image, mask = valid & inside, image * inside, mask * inside
        if valid.any():
            chips.append({'image': image, 'valid': valid, 'mask': mask})
    return chips


class _RandomCrops(Dataset[dict[str, Any]]):
    """Random ``size`` crops of cached chips, as read (augmentation comes later).

    With probability ``positive_fraction`` a crop is placed around an object
    drawn uniformly from all objects of all chips (the whole object inside
    when it fits, at a random offset); the other crops are placed uniformly.
    """

    def __init__(
        self,
        chips: Sequence[Chip],
        size: int,
        length: int,
        seed: int,
        positive_fraction: float = 0.0,
    ) -> None:
        self.chips, self.size, self.length = chips, size, length
        self.positive_fraction = positive_fraction
        self.generator = torch.Generator().manual_seed(seed)
        # (chip index, x0, y0, x1, y1) of every object, for positive crops;
        # not gathered without them (COCO chips are decoded to be searched).
        objects = []
        for index, chip in enumerate(chips if positive_fraction > 0 else ()):
            for box in boxes_from_masks(chip['mask']).tolist():
                if box[2] > box[0]:
                    objects.append((index, *(int(v) for v in box)))
        self.objects = objects

    def __len__(self) -> int:
        return self.length

    def _randint(self, high: int) -> int:
        return int(torch.randint(high, (1,), generator=self.generator))

    def _start(self, low: int, high: int, extent: int) -> int:
        """A crop start in ``[0, extent - size]`` covering ``[low, high)`` if it can."""
        first, last = max(0, high - self.size), min(low, extent - self.size)
        if first > last:  # object longer than the crop: any start inside it
            first, last = low, high - self.size
        return first + self._randint(last - first + 1)

    def __getitem__(self, index: int) -> dict[str, Any]:
        positive = bool(self.objects) and (
            float(torch.rand(1, generator=self.generator)) < self.positive_fraction
        )
        if positive:
            chip_index, x0, y0, x1, y1 = self.objects[self._randint(len(self.objects))]
            chip = self.chips[chip_index]
            height, width = chip['image'].shape[-2:]
            y = self._start(y0, y1, height)
            x = self._start(x0, x1, width)
        else:
            chip = self.chips[self._randint(len(self.chips))]
            height, width = chip['image'].shape[-2:]
            y = self._randint(height - self.size + 1)
            x = self._randint(width - self.size + 1)
        window = (..., slice(y, y + self.size), slice(x, x + self.size))
        sample = {
            'image': chip['image'][window].contiguous(),
            'valid': chip['valid'][window].contiguous(),
        }
        sample.update(pack_instances(chip['mask'][window].contiguous()))
        return sample


class CachedRTSDataModule(RTSDataModule):
    """:class:`RTSDataModule` with training windows cropped from chips in memory.

    Takes the arguments of :class:`RTSDataModule` plus ``chip_size``: the
    training split's area is read once as a grid of ``chip_size`` chips, and
    each training window is a random ``patch_size`` crop of one of them. A
    ``positive_fraction`` share of the crops is placed around a labelled
    object, drawn uniformly from all objects. With ``regions=``, chip pixels
    outside the training regions are nodata, so no other split leaks into
    training. Augmentation (``augment``) and normalisation run once, in
    :meth:`on_after_batch_transfer`, as in :class:`RTSDataModule`.

    The chips of the four most recently used data descriptions (sources,
    modalities, sensor, extra bands, training area, chip size, minimum area,
    polygon options, quality mask, scene stretch) are kept for the life of the
    process, so runs over the same data (benchmarks, seeds) read them once.
    Chips are never modified.
    """

    def __init__(self, *args: Any, chip_size: int = 256, **kwargs: Any) -> None:
        """Initialise a new CachedRTSDataModule (see :class:`RTSDataModule`).

        Args:
            *args: passed to :class:`RTSDataModule`.
            chip_size: side of the cached training chips in pixels.
            **kwargs: passed to :class:`RTSDataModule`.
        """
        super().__init__(*args, **kwargs)
        self.chip_size = chip_size
        self.chips: list[Chip] = []

    def _chip_source(self) -> _ChipSource:
        """The frozen description of the training chips this datamodule reads."""
        images, labels, extra = self._split_sources('train')
        regions = self._regions('train')
        area = area_crs = None
        if regions is not None:
            area = shapely.to_wkb(shapely.union_all(regions.geometry))
            area_crs = regions.crs.to_wkt() if regions.crs is not None else None
        return _ChipSource(
            images=_paths(images),
            labels=_paths(labels),
            modalities=self.modalities,
            extra=tuple(sorted((k, _paths(v)) for k, v in extra.items())),
            sensor=self.sensor,
            area=area,
            area_crs=area_crs,
            chip_size=self.chip_size,
            min_area=self.min_instance_area,
            vector_options=tuple(sorted(self.vector_options.items())),
            quality_mask=self.quality_mask,
            scene_stretch=self.fitted_scene_stretch(),
        )

    def setup(self, stage: str) -> None:
        """Read (or reuse) the cached chips for fitting; otherwise as the parent."""
        if stage != 'fit':
            super().setup(stage)
            return
        self.chips = _read_chips(self._chip_source())
        if self.stats is None or self.missing_stats():
            self.stats = self.completed_stats(
                compute_modality_stats(self.chips, self.modalities)
            )
        self.normalize = NormalizeModalities(self.stats, self.modalities)
        self.gsd_m = self.training_gsd_m()
        if 'val' not in self.datasets:
            self.datasets['val'] = self._build('val')

    def train_dataloader(self) -> DataLoader[Any]:
        """Random crops of the cached chips."""
        length = self.length or max(1, len(self.chips) * (self.chip_size // 256) ** 2)
        crops = _RandomCrops(
            self.chips,
            self.patch_size,
            length,
            self.seed,
            positive_fraction=self.positive_fraction,
        )
        return DataLoader(
            crops,
            batch_size=self.batch_size,
            num_workers=0,
            collate_fn=collate_instances,
        )
