"""A datamodule over folders of image chips with COCO instance annotations.

The paper's RGB data (the Yang et al. 2023 RTS chips, ``rgb-rts-coco-yang2023``)
is a folder of JPEG chips of about 300 x 200 px with COCO JSON files, not
georeferenced. Training windows are random ``patch_size`` crops of the chips
(chips smaller than a window are padded with nodata), a share of them placed on
a labelled object; validation and test score whole chips, each padded to one
``patch_size`` window, so their AP50 is chip-level AP50. MViTv2 trunks accept
only ``image_size`` inputs: set ``patch_size`` to the model's ``image_size``
and at least the largest evaluation chip's side.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from ..datasets import collate_instances
from ..datasets.coco import COCOInstanceDataset
from ..errors import ConfigError
from ..transforms import NormalizeModalities, compute_modality_stats
from .cached import _RandomCrops
from .rts import RTSDataModule

__all__ = ['COCODataModule']


def pad_chip(sample: dict[str, Any], height: int, width: int) -> dict[str, Any]:
    """A chip padded at the bottom and right to at least ``height`` x ``width``.

    Padding is nodata: image 0, ``valid`` False, no instance pixel.

    Args:
        sample: a sample of :class:`~rtsgeo.datasets.coco.COCOInstanceDataset`.
        height: smallest height of the result.
        width: smallest width of the result.

    Returns:
        The sample with ``image``, ``valid``, ``mask`` padded and ``bbox_xyxy``,
        ``label`` and metadata unchanged.
    """
    image, mask = sample['image'], sample['mask']
    h, w = image.shape[-2:]
    size = (max(h, height), max(w, width))
    padded = dict(sample)
    padded['image'] = image.new_zeros((image.shape[0], *size))
    padded['image'][:, :h, :w] = image
    padded['valid'] = torch.zeros(size, dtype=torch.bool)
    padded['valid'][:h, :w] = True
    padded['mask'] = mask.new_zeros((mask.shape[0], *size))
    padded['mask'][:, :h, :w] = mask
    return padded


class _PaddedChips(Sequence[dict[str, torch.Tensor]]):
    """The chips of a COCO dataset as ``image``/``valid``/``mask``, decoded on access.

    Each chip is padded to at least ``size`` x ``size`` so that every crop of
    that size fits; the chips are read from disk every time, not held in memory.
    """

    def __init__(self, dataset: COCOInstanceDataset, size: int) -> None:
        self.dataset, self.size = dataset, size

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:  # type: ignore[override]
        sample = pad_chip(self.dataset[index], self.size, self.size)
        return {k: sample[k] for k in ('image', 'valid', 'mask')}


def check_chips_fit(dataset: COCOInstanceDataset, size: int) -> None:
    """Refuse chips that a ``size`` window cannot hold whole.

    Raises:
        ConfigError: naming the file, a chip that is too large and the fix.
    """
    too_big = [
        f'{image["file_name"]} ({image["width"]}x{image["height"]} px)'
        for image in dataset.images
        if max(int(image['width']), int(image['height'])) > size
    ]
    if too_big:
        msg = (
            f'{dataset.annotation_file}: {len(too_big)} chip(s) such as '
            f'{too_big[0]} exceed patch_size={size}: set patch_size (and the '
            'model image_size) to at least the largest chip side'
        )
        raise ConfigError(msg)


class _WholeChips(Dataset[dict[str, Any]]):
    """Every chip padded to exactly ``size`` x ``size``, for chip-level scoring."""

    def __init__(self, dataset: COCOInstanceDataset, size: int) -> None:
        self.dataset, self.size = dataset, size

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return pad_chip(self.dataset[index], self.size, self.size)


class COCODataModule(RTSDataModule):
    """Random crops of COCO chips for training, whole chips for evaluation.

    The folder holds the images (under ``images/`` or beside the JSON files)
    and one COCO instances file per split (see
    :class:`~rtsgeo.datasets.coco.COCOInstanceDataset`), by default those of
    the Yang et al. (2023) RTS dataset::

        root/
            coco_rts_train.json
            coco_rts_valtest.json
            images/train_nitze_000.jpg ...

    Training windows are random ``patch_size`` crops of the training chips,
    ``positive_fraction`` of them around a labelled object (as in
    :class:`~rtsgeo.datamodules.CachedRTSDataModule`); chips smaller than a
    window are padded with nodata. Validation and test batches are whole
    chips, padded to ``patch_size`` (which must be at least the largest
    chip's side), so the task's AP50 is chip-level COCO AP50 (pycocotools).
    Batches carry the keys of :class:`~rtsgeo.datamodules.RTSDataModule`;
    augmentation (flips and quarter turns) and normalisation run in
    :meth:`on_after_batch_transfer`, with statistics of the training chips'
    0-255 RGB values (or ``stats``).
    """

    def __init__(
        self,
        root: str,
        train_annotations: str = 'coco_rts_train.json',
        val_annotations: str = 'coco_rts_valtest.json',
        test_annotations: str | None = None,
        modalities: Sequence[str] = ('rgb',),
        patch_size: int = 320,
        batch_size: int = 4,
        length: int | None = None,
        positive_fraction: float = 0.5,
        min_instance_area: int = 1,
        augment: bool = True,
        radiometric: bool = False,
        stats: dict[str, dict[str, list[float]]] | None = None,
        stats_samples: int = 64,
        category_names: list[str] | None = None,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        """Initialise a new COCODataModule.

        Args:
            root: folder of the chips and the COCO JSON files.
            train_annotations: training COCO file, relative to *root* or absolute.
            val_annotations: validation COCO file.
            test_annotations: test COCO file (default: the validation file; the
                Yang et al. 2023 data has one ``valtest`` split).
            modalities: only ``['rgb']``: COCO chips are RGB images.
            patch_size: window side in pixels: the crop size in training and the
                padded chip size in evaluation (the model's ``image_size``).
            batch_size: windows per batch.
            length: training windows per epoch (default: one per training chip).
            positive_fraction: share of training windows placed on an object.
            min_instance_area: smallest instance kept, in pixels.
            augment: random flips and quarter turns in training.
            radiometric: also random gain, band balance and haze in training
                (:class:`~rtsgeo.transforms.RandomRadiometry`).
            stats: normalisation statistics (computed from the training chips at
                setup when None; read them back from :attr:`stats`).
            stats_samples: training chips used to compute ``stats``.
            category_names: categories that are RTS, for files with several.
            num_workers: data loader worker processes (evaluation).
            seed: seed of the training crops and their order.

        Raises:
            ConfigError: If a modality other than RGB is asked for.
        """
        if tuple(modalities) != ('rgb',):
            msg = (
                f'modalities={list(modalities)}: COCO chips are RGB images; '
                "use modalities: ['rgb']"
            )
            raise ConfigError(msg)
        super().__init__(
            root=str(root),
            modalities=('rgb',),
            patch_size=patch_size,
            batch_size=batch_size,
            length=length,
            positive_fraction=positive_fraction,
            min_instance_area=min_instance_area,
            augment=augment,
            radiometric=radiometric,
            stats=stats,
            stats_samples=stats_samples,
            num_workers=num_workers,
            seed=seed,
        )
        self.annotations = {
            'train': train_annotations,
            'val': val_annotations,
            'test': test_annotations or val_annotations,
        }
        self.category_names = category_names
        self.chips: dict[str, COCOInstanceDataset] = {}

    def chip_dataset(self, split: str) -> COCOInstanceDataset:
        """The COCO dataset of a split (``train``, ``val`` or ``test``), read once."""
        if split not in self.chips:
            self.chips[split] = COCOInstanceDataset(
                str(self.root),
                self.annotations[split],
                min_area=self.min_instance_area,
                category_names=self.category_names,
            )
        return self.chips[split]

    def setup(self, stage: str) -> None:
        """Read the annotations a stage needs; compute statistics if missing.

        Raises:
            ConfigError: If a validation or test chip is larger than
                ``patch_size`` (it could not be scored whole).
        """
        wanted = {'fit': ('train', 'val'), 'validate': ('val',), 'test': ('test',)}
        for split in wanted.get(stage, ('test',)):
            dataset = self.chip_dataset(split)
            if split != 'train':
                check_chips_fit(dataset, self.patch_size)
        if self.stats is None:
            train = self.chip_dataset('train')
            count = min(len(train), self.stats_samples)
            self.stats = compute_modality_stats(
                (train[i] for i in range(count)), self.modalities
            )
        self.normalize = NormalizeModalities(self.stats, self.modalities)

    def train_dataloader(self) -> DataLoader[Any]:
        """Random crops of the training chips, a share of them on objects."""
        chips = _PaddedChips(self.chip_dataset('train'), self.patch_size)
        crops = _RandomCrops(
            chips,
            self.patch_size,
            self.length or len(chips),
            self.seed,
            positive_fraction=self.positive_fraction,
        )
        return DataLoader(
            crops,
            batch_size=self.batch_size,
            num_workers=0,  # the crops draw from one seeded generator
            collate_fn=collate_instances,
        )

    def _chip_loader(self, split: str) -> DataLoader[Any]:
        return DataLoader(
            _WholeChips(self.chip_dataset(split), self.patch_size),
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            collate_fn=collate_instances,
        )

    def val_dataloader(self) -> DataLoader[Any]:
        """Whole validation chips, padded to ``patch_size``."""
        return self._chip_loader('val')

    def test_dataloader(self) -> DataLoader[Any]:
        """Whole test chips, padded to ``patch_size``."""
        return self._chip_loader('test')

    def predict_dataloader(self) -> DataLoader[Any]:
        """Whole test chips, as :meth:`test_dataloader`."""
        return self._chip_loader('test')

    def describe(self) -> dict[str, Any]:
        """Channel layout, statistics and annotation files, for logs."""
        return {**super().describe(), 'root': str(self.root), **self.annotations}
