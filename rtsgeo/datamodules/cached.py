"""An RTS datamodule whose training windows are cropped from chips held in memory.

Reading a window through TorchGeo costs a file open, a warp and a merge; for
small training sets (a few hundred chips, such as ``s2-rts-lubka1``) reading
every chip once and cropping training windows from memory is many times
faster, which makes CPU training and benchmarks practical. Validation and test
windows are read as in :class:`RTSDataModule`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from ..datasets import build_instance_dataset, collate_instances
from ..datasets._instances import boxes_from_masks, pack_instances
from ..samplers import CRSGroupedGeoSampler, SceneGridGeoSampler
from ..transforms import NormalizeModalities, compute_modality_stats
from .rts import RTSDataModule

__all__ = ['CachedRTSDataModule']

_CACHE: dict[tuple[Any, ...], list[dict[str, torch.Tensor]]] = {}


class _RandomCrops(Dataset[dict[str, Any]]):
    """Random ``size`` crops (with flips and quarter turns) of cached chips.

    With probability ``positive_fraction`` a crop is placed around an object
    drawn uniformly from all objects of all chips (the whole object inside
    when it fits, at a random offset); the other crops are placed uniformly.
    """

    def __init__(
        self,
        chips: list[dict[str, torch.Tensor]],
        size: int,
        length: int,
        seed: int,
        positive_fraction: float = 0.0,
    ) -> None:
        self.chips, self.size, self.length = chips, size, length
        self.positive_fraction = positive_fraction
        self.generator = torch.Generator().manual_seed(seed)
        # (chip index, x0, y0, x1, y1) of every object, for positive crops.
        objects = []
        for index, chip in enumerate(chips):
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
        image, valid, masks = (chip[k][window] for k in ('image', 'valid', 'mask'))
        turns = self._randint(4)
        if self._randint(2):
            image, valid, masks = (t.flip(-1) for t in (image, valid, masks))
        image, valid, masks = (
            torch.rot90(t, turns, (-2, -1)) for t in (image, valid, masks)
        )
        sample = {'image': image.contiguous(), 'valid': valid.contiguous()}
        sample.update(pack_instances(masks.contiguous()))
        return sample


class CachedRTSDataModule(RTSDataModule):
    """:class:`RTSDataModule` with training windows cropped from chips in memory.

    Takes the arguments of :class:`RTSDataModule` plus ``chip_size``: the
    training split is read once as a grid of ``chip_size`` windows (kept for
    the life of the process and shared by datamodules over the same data), and
    each training window is a random ``patch_size`` crop of one of them, with
    random flips and quarter turns. A ``positive_fraction`` share of the crops
    is placed around a labelled object, drawn uniformly from all objects.
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
        self.chips: list[dict[str, torch.Tensor]] = []

    def _read_chips(self) -> list[dict[str, torch.Tensor]]:
        key = (
            self.root,
            self.images,
            self.labels,
            self.modalities,
            self.chip_size,
            self.min_instance_area,
        )
        if key not in _CACHE:
            images, labels, extra = self._split_sources('train')
            dataset = build_instance_dataset(
                images,
                labels,
                self.modalities,
                extra=extra,
                sensor=self.sensor,
                min_area=self.min_instance_area,
            )
            sampler = CRSGroupedGeoSampler(
                [SceneGridGeoSampler(ds, self.chip_size) for ds in dataset.datasets]
            )
            chips = []
            for sample_key in sampler:
                sample = dataset[sample_key]
                if not sample['valid'].any():
                    continue
                chips.append(
                    {
                        'image': sample['image'].float(),
                        'valid': sample['valid'].bool(),
                        'mask': sample['mask'].to(torch.uint8),
                    }
                )
            _CACHE[key] = chips
        return _CACHE[key]

    def setup(self, stage: str) -> None:
        """Read (or reuse) the cached chips for fitting; otherwise as the parent."""
        if stage != 'fit':
            super().setup(stage)
            return
        self.chips = self._read_chips()
        if self.stats is None:
            self.stats = compute_modality_stats(self.chips, self.modalities)
        self.normalize = NormalizeModalities(self.stats, self.modalities)
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
