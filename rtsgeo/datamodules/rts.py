"""Lightning datamodule for multimodal RTS instance segmentation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import lightning
import numpy as np
import rasterio
import shapely
import torch
from torch import nn
from torch.utils.data import DataLoader

from ..datasets import CRSGroupedDataset, build_instance_dataset, collate_instances
from ..datasets._files import find_rasters, read_raster_info
from ..errors import ConfigError, DataNotFoundError
from ..modalities import channel_layout, get_modality, reflectance_bands
from ..quality import parse_quality_mask
from ..resolution import imagery_gsd_m
from ..samplers import (
    CRSGroupedGeoSampler,
    PositiveAwareGeoSampler,
    SceneGridGeoSampler,
    positive_boxes,
)
from ..transforms import (
    ModalityStats,
    NormalizeModalities,
    RandomFlipRotate,
    RandomRadiometry,
    SceneStretch,
    check_scene_norm,
    compute_modality_stats,
    measure_scene,
)
from ..transforms.scene_norm import BandRanges, reference_percentiles

__all__ = ['RTSDataModule']

SPLITS = ('train', 'val', 'test')


class RTSDataModule(lightning.LightningDataModule):
    """Train/val/test windows of multimodal imagery with instance targets.

    Two ways to give the data:

    * ``root``: a folder with ``train/``, ``val/`` and ``test/`` subfolders,
      each holding ``image/`` (scenes), ``mask/`` (label rasters) or a
      ``labels.gpkg`` file, and one subfolder per extra modality named after
      it (``slope/``). This is the layout of the ``s2-rts-lubka1`` chips.
    * ``images`` + ``labels`` + ``regions``: scenes, labels (masks or
      polygons), and region polygons with a ``split`` column (train/val/test)
      and optionally a ``region`` column; each split samples only inside its
      regions, and samples carry their region's name.

    Scenes stay in their own CRS (one TorchGeo dataset per CRS). Training
    windows come from :class:`~rtsgeo.samplers.PositiveAwareGeoSampler` (or
    TorchGeo's random sampling when ``positive_fraction`` is 0); evaluation
    windows from :class:`~rtsgeo.samplers.SceneGridGeoSampler`.
    Batches from the loaders are raw (see :func:`collate_instances`), or with
    ``scene_norm`` stretched per file as they are read; augmentation and
    normalisation run in :meth:`on_after_batch_transfer`, on the device, as in
    TorchGeo.
    """

    def __init__(
        self,
        root: str | None = None,
        images: str | list[str] | None = None,
        labels: str | list[str] | None = None,
        regions: str | None = None,
        extra: dict[str, str] | None = None,
        modalities: Sequence[str] = ('rgb', 'ndvi', 'nir'),
        sensor: str | None = None,
        patch_size: int = 256,
        batch_size: int = 4,
        length: int | None = None,
        positive_fraction: float = 0.5,
        min_instance_area: int = 1,
        augment: bool = True,
        radiometric: bool = False,
        stats: dict[str, dict[str, list[float]]] | None = None,
        stats_samples: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        vector_options: dict[str, Any] | None = None,
        gsd_m: float | None = None,
        quality_mask: str | None = None,
        unobserved: list[str] | None = None,
        scene_norm: str | None = None,
        scene_reference: dict[str, list[float]] | None = None,
    ) -> None:
        """Initialise a new RTSDataModule.

        Args:
            root: folder with train/val/test subfolders (see above).
            images: scene folders or files (with ``labels`` and ``regions``).
            labels: label masks or polygon file(s).
            regions: polygons with a ``split`` column.
            extra: more band sources, e.g. ``{'slope': 'dem/slope'}``.
            modalities: modality names in stacking order.
            sensor: band order of scenes without band descriptions.
            patch_size: window size in pixels.
            batch_size: windows per batch.
            length: training windows per epoch (default: one per 256x256 px of
                training imagery).
            positive_fraction: share of training windows placed on a slump.
            min_instance_area: smallest instance kept, in pixels.
            augment: random flips and quarter turns in training.
            radiometric: also random gain, band balance and haze of the
                raw bands in training
                (:class:`~rtsgeo.transforms.RandomRadiometry`), for scenes
                whose radiometry differs from the training chips'.
            stats: normalisation statistics per modality; those of the
                modalities it lacks (all when None) are computed from training
                windows at setup (read them back from :attr:`stats`).
            stats_samples: training windows used to compute ``stats``.
            num_workers: data loader worker processes.
            seed: seed of every random draw (windows, augmentation).
            vector_options: polygon label options (``layer``, ``where``,
                ``dissolve``).
            gsd_m: ground sampling distance of the imagery (metres per pixel)
                recorded in trained-model files; None: the median over the
                training rasters, read from their headers when fitting
                (read it back from :attr:`gsd_m`).
            quality_mask: the scenes' quality mask, as ``rtsgeo map
                --quality-mask`` takes it (``'scl'``,
                ``'scl={dir}/../scl/{stem}.tif'``, see
                :func:`~rtsgeo.quality.parse_quality_mask`): unobserved pixels
                are nodata in every split and carry no label; windows with no
                observed pixel are dropped. None: no mask.
            unobserved: the mask classes that count (None: its default).
            scene_norm: ``'percentile'``: stretch the reflectance bands of
                every image file (each split) so that its 2nd and 98th
                percentiles land on the training set's (see
                :mod:`rtsgeo.transforms.scene_norm`), before NDVI and the
                statistics; for data whose radiometry differs between scenes.
                Trained-model files record it, and ``rtsgeo map`` applies it.
                None: raw bands, as before.
            scene_reference: band -> ``[low, high]`` reference percentiles
                (with ``scene_norm``); None: the median over the training
                image files, found at setup (read it back from
                :attr:`scene_stretch`).

        Raises:
            ConfigError: If neither or both ways of giving data are used, a
                modality or ``scene_norm`` is unknown, or ``scene_reference``
                comes without ``scene_norm``.
        """
        super().__init__()
        if (root is None) == (images is None):
            msg = 'give either root= (train/val/test folders) or images= and labels='
            raise ConfigError(msg)
        if images is not None and (labels is None or regions is None):
            raise ConfigError(
                'images= needs labels= and regions= (with a split column)'
            )
        self.modalities = tuple(get_modality(m).name for m in modalities)
        self.channel_layout = channel_layout(self.modalities)
        self.root, self.images, self.labels, self.regions = (
            root,
            images,
            labels,
            regions,
        )
        self.extra = dict(extra or {})
        self.sensor = sensor
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.length = length
        self.positive_fraction = positive_fraction
        self.min_instance_area = min_instance_area
        self.radiometric = radiometric
        self.augment: nn.Module | None = None
        if augment or radiometric:
            steps: list[nn.Module] = [RandomFlipRotate()] if augment else []
            if radiometric:
                steps.append(RandomRadiometry(self.modalities))
            self.augment = steps[0] if len(steps) == 1 else nn.Sequential(*steps)
        self.stats = stats
        self.stats_samples = stats_samples
        self.num_workers = num_workers
        self.seed = seed
        self.vector_options = dict(vector_options or {})
        self.gsd_m = gsd_m
        self.quality_mask = (
            None
            if quality_mask is None
            else parse_quality_mask(quality_mask, unobserved)
        )
        self.scene_norm = check_scene_norm(scene_norm)
        self.scene_stretch: SceneStretch | None = None
        if scene_reference is not None:
            if self.scene_norm is None:
                msg = "scene_reference= needs scene_norm='percentile'"
                raise ConfigError(msg)
            self.scene_stretch = SceneStretch.from_ranges(scene_reference)
        self.datasets: dict[str, CRSGroupedDataset] = {}
        # Object boxes of each training group, found once: the statistics'
        # sampler and the training loader's sampler draw from the same ones.
        self._positives: dict[int, tuple[Any, np.ndarray]] = {}
        self.normalize: NormalizeModalities | None = None
        self._region_table: gpd.GeoDataFrame | None = None

    def _split_sources(self, split: str) -> tuple[Any, Any, dict[str, Any]]:
        if self.root is None:
            return self.images, self.labels, self.extra
        folder = Path(self.root) / split
        if not folder.is_dir():
            msg = f'{folder} does not exist: {self.root} needs {"/, ".join(SPLITS)}/'
            raise DataNotFoundError(msg)
        labels = folder / 'labels.gpkg'
        extra = {
            m: str(folder / m)
            for m in self.modalities + tuple(self.extra)
            if (folder / m).is_dir()
        }
        return (
            str(folder / 'image'),
            str(labels if labels.exists() else folder / 'mask'),
            extra,
        )

    def _regions(self, split: str) -> gpd.GeoDataFrame | None:
        if self.regions is None:
            return None
        if self._region_table is None:
            self._region_table = gpd.read_file(self.regions)
        table = self._region_table
        if 'split' not in table.columns:
            msg = f'{self.regions} needs a "split" column with train/val/test values'
            raise ConfigError(msg)
        return table[table['split'] == split]

    def _build(self, split: str) -> CRSGroupedDataset:
        images, labels, extra = self._split_sources(split)
        return build_instance_dataset(
            images,
            labels,
            self.modalities,
            extra=extra,
            sensor=self.sensor,
            min_area=self.min_instance_area,
            regions=self._regions(split),
            vector_options=self.vector_options,
            quality_mask=self.quality_mask,
            scene_stretch=self.fitted_scene_stretch(),
        )

    def fitted_scene_stretch(self) -> SceneStretch | None:
        """The per-scene stretch (given, or fitted once to the training files).

        None without ``scene_norm``. Fitting measures every training image
        file (and extra source) and takes the median of each band's
        percentiles; with ``regions=``, every image counts, as regions
        split the ground, not the files.

        Raises:
            ValueError: If no training file has a valid pixel.
            ConfigError: If a band's reference range is empty (a band
                constant over the training images).
        """
        if self.scene_norm is None:
            return None
        if self.scene_stretch is None:
            images, _, extra = self._split_sources('train')
            bands = reflectance_bands(self.modalities)
            measured: list[BandRanges] = []
            for name, paths in {'image': images, **extra}.items():
                quality = self.quality_mask if name == 'image' else None
                for path in find_rasters(paths):
                    info = read_raster_info(path, self.sensor, name)
                    measured.append(measure_scene(path, info.bands, bands, quality))
            self.scene_stretch = SceneStretch.from_ranges(
                reference_percentiles(measured)
            )
        return self.scene_stretch

    def _roi(self, dataset: CRSGroupedDataset, group: int, split: str) -> Any:
        regions = self._regions(split)
        if regions is None:
            return None
        return shapely.union_all(regions.to_crs(dataset.datasets[group].crs).geometry)

    def setup(self, stage: str) -> None:
        """Build the datasets a stage needs; compute statistics if missing."""
        wanted = {'fit': ('train', 'val'), 'validate': ('val',), 'test': ('test',)}
        for split in wanted.get(stage, ('test',)):
            if split not in self.datasets:
                self.datasets[split] = self._build(split)
        if self.stats is None or self.missing_stats():
            if 'train' not in self.datasets:
                self.datasets['train'] = self._build('train')
            train = self.datasets['train']
            sampler = self._train_sampler(self.stats_samples)
            self.stats = self.completed_stats(
                compute_modality_stats(
                    (train[key] for key in sampler),
                    self.modalities,
                    self.stats_samples,
                )
            )
        self.normalize = NormalizeModalities(self.stats, self.modalities)
        if stage == 'fit':
            self.gsd_m = self.training_gsd_m()

    def missing_stats(self) -> tuple[str, ...]:
        """The modalities that have no normalisation statistics yet."""
        given = self.stats or {}
        return tuple(m for m in self.modalities if m not in given)

    def completed_stats(self, computed: ModalityStats) -> ModalityStats:
        """The statistics given, with those of :meth:`missing_stats` from *computed*.

        Statistics given to the datamodule win over computed ones, so a
        frozen trunk keeps those it was trained with (the two-stage recipe).
        """
        return {**computed, **(self.stats or {})}

    def training_gsd_m(self) -> float | None:
        """The GSD given, else the median GSD of the training rasters (headers only).

        Raises:
            InvalidImageryError: If a training raster's CRS is geographic.
        """
        if self.gsd_m is not None:
            return self.gsd_m
        images = self._split_sources('train')[0]
        headers = []
        for path in find_rasters(images):
            with rasterio.open(path) as src:
                if src.crs is not None:
                    headers.append((src.crs, src.res))
        return imagery_gsd_m(headers)

    def _train_sampler(self, length: int | None = None) -> CRSGroupedGeoSampler:
        dataset = self.datasets['train']
        generator = torch.Generator().manual_seed(self.seed)
        pixels = [
            sum(g.area for g in ds.index.geometry) / (ds.res[0] * ds.res[1])
            for ds in dataset.datasets
        ]
        samplers = []
        for group, (ds, area) in enumerate(zip(dataset.datasets, pixels, strict=True)):
            if length is not None:
                count = length
            elif self.length is not None:
                count = max(1, round(self.length * area / sum(pixels)))
            else:
                count = max(1, round(area / 256**2))
            samplers.append(
                PositiveAwareGeoSampler(
                    ds,
                    self.patch_size,
                    count,
                    positives=self._positive_boxes(group, ds),
                    positive_fraction=self.positive_fraction,
                    roi=self._roi(dataset, group, 'train'),
                    generator=generator,
                )
            )
        grouped = CRSGroupedGeoSampler(samplers, shuffle=True, generator=generator)
        if len(grouped) == 0:
            msg = (
                f'no training scene (inside its regions) is {self.patch_size} px '
                'wide and high: lower patch_size or add larger scenes'
            )
            raise ConfigError(msg)
        return grouped

    def _positive_boxes(self, group: int, dataset: Any) -> np.ndarray:
        """The object boxes of training group *group*, read once per dataset."""
        cached = self._positives.get(group)
        if cached is None or cached[0] is not dataset:
            cached = (dataset, positive_boxes(dataset))
            self._positives[group] = cached
        return cached[1]

    def _grid_sampler(self, split: str) -> CRSGroupedGeoSampler:
        dataset = self.datasets[split]
        samplers = [
            SceneGridGeoSampler(ds, self.patch_size, roi=self._roi(dataset, g, split))
            for g, ds in enumerate(dataset.datasets)
        ]
        return CRSGroupedGeoSampler(samplers)

    def _loader(self, split: str, sampler: CRSGroupedGeoSampler) -> DataLoader[Any]:
        return DataLoader(
            self.datasets[split],
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=collate_instances,
        )

    def train_dataloader(self) -> DataLoader[Any]:
        """Random windows, a share of them on slumps."""
        return self._loader('train', self._train_sampler())

    def val_dataloader(self) -> DataLoader[Any]:
        """Grid windows over the validation scenes."""
        return self._loader('val', self._grid_sampler('val'))

    def test_dataloader(self) -> DataLoader[Any]:
        """Grid windows over the test scenes."""
        return self._loader('test', self._grid_sampler('test'))

    def predict_dataloader(self) -> DataLoader[Any]:
        """Grid windows over the test scenes (``rtsgeo predict``).

        Whole scenes are mapped with ``rtsgeo map``; this loader serves
        LightningCLI's ``predict`` on the same windows as ``test``.
        """
        return self._loader('test', self._grid_sampler('test'))

    def on_after_batch_transfer(
        self, batch: dict[str, Any], dataloader_idx: int
    ) -> dict[str, Any]:
        """Augment (training only) and normalise a batch on its device."""
        if len(batch['image']) == 0:
            return batch
        trainer = getattr(self, 'trainer', None)
        if self.augment is not None and trainer is not None and trainer.training:
            batch = self.augment(batch)
        if self.normalize is not None:
            batch = self.normalize.to(batch['image'].device)(batch)
        return batch

    def describe(self) -> Mapping[str, Any]:
        """Channel layout, statistics and scene stretch, for logs and checkpoints."""
        described: dict[str, Any] = {
            'modalities': list(self.modalities),
            'channels': {k: [s.start, s.stop] for k, s in self.channel_layout.items()},
            'stats': self.stats,
        }
        if self.scene_stretch is not None:
            described['scene_norm'] = self.scene_stretch.to_dict()
        return described
