"""A datamodule over folders of image chips with COCO instance annotations.

The paper's RGB data (the Yang et al. 2023 RTS chips, ``rgb-rts-coco-yang2023``)
is a folder of JPEG chips of about 300 x 200 px with COCO JSON files, not
georeferenced. Training windows are random ``patch_size`` crops of the chips
(chips smaller than a window are padded with nodata), a share of them placed on
a labelled object; validation and test score whole chips, each padded to one
``patch_size`` window, so their AP50 is chip-level AP50. MViTv2 trunks accept
only ``image_size`` inputs: set ``patch_size`` to the model's ``image_size``
and at least the largest evaluation chip's side.

Chips carry no ground sampling distance (GSD). ``chip_gsd_m`` states it and
``gsd_m`` asks for another: every chip is then resampled (bilinear, with
antialiasing) by ``chip_gsd_m / gsd_m`` as it is read, so that a model meant
for 10 m imagery can train on 3 m chips at 10 m.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from ..datasets import collate_instances
from ..datasets._instances import pack_instances
from ..datasets.coco import COCOInstanceDataset
from ..errors import ConfigError
from ..resolution import gsd_differs
from ..transforms import NormalizeModalities, compute_modality_stats
from .cached import _RandomCrops
from .rts import RTSDataModule

__all__ = ['COCODataModule', 'resample_chip']


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


def resampled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """The side lengths of a ``height`` x ``width`` chip resampled by *scale*."""
    return max(1, round(height * scale)), max(1, round(width * scale))


def resample_chip(
    sample: dict[str, Any], scale: float, min_area: int = 1
) -> dict[str, Any]:
    """A chip resampled by *scale* (0.3: 3 m pixels become 10 m pixels).

    The image is resampled bilinearly with antialiasing (an area-weighted
    average when shrinking), as ``rtsgeo map`` resamples scenes. Each instance
    mask is resampled the same way and keeps the pixels it covers at least
    half; instances left with fewer than *min_area* pixels are dropped, and
    boxes are recomputed from the masks.

    Args:
        sample: a sample of :class:`~rtsgeo.datasets.coco.COCOInstanceDataset`.
        scale: new size over old size.
        min_area: smallest instance kept, in pixels of the new grid.

    Returns:
        The sample with ``image``, ``mask``, ``bbox_xyxy`` and ``label``
        resampled and metadata unchanged.
    """
    image, masks = sample['image'], sample['mask']
    size = resampled_size(image.shape[-2], image.shape[-1], scale)
    out = dict(sample)
    out['image'] = F.interpolate(
        image[None].float(), size=size, mode='bilinear', antialias=True
    )[0]
    if len(masks):
        cover = F.interpolate(
            masks[:, None].float(), size=size, mode='bilinear', antialias=True
        )[:, 0]
        masks = (cover >= 0.5).to(torch.uint8)
    else:
        masks = masks.new_zeros((0, *size))
    out.update(pack_instances(masks, min_area=min_area))
    return out


class _Resample:
    """A dataset transform: :func:`resample_chip` with fixed arguments."""

    def __init__(self, scale: float, min_area: int) -> None:
        self.scale, self.min_area = scale, min_area

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        return resample_chip(sample, self.scale, self.min_area)


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


def check_chips_fit(
    dataset: COCOInstanceDataset, size: int, scale: float = 1.0
) -> None:
    """Refuse chips that a ``size`` window cannot hold whole (once resampled).

    Args:
        dataset: the chips.
        size: the window side in pixels.
        scale: the chips' resampling factor (see :func:`resample_chip`).

    Raises:
        ConfigError: naming the file, a chip that is too large and the fix.
    """
    too_big = []
    for image in dataset.images:
        height, width = resampled_size(int(image['height']), int(image['width']), scale)
        if max(height, width) > size:
            too_big.append(f'{image["file_name"]} ({width}x{height} px)')
    if too_big:
        resampled = '' if scale == 1.0 else ' once resampled'
        msg = (
            f'{dataset.annotation_file}: {len(too_big)} chip(s) such as '
            f'{too_big[0]}{resampled} exceed patch_size={size}: set patch_size '
            '(and the model image_size) to at least the largest chip side'
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

    With ``chip_gsd_m`` and ``gsd_m`` the chips of every split are resampled
    from the first GSD to the second as they are read (:func:`resample_chip`);
    ``patch_size`` and ``min_instance_area`` are then in pixels of the new
    grid. The trained-model file records ``gsd_m`` (or ``chip_gsd_m`` alone).
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
        chip_gsd_m: float | None = None,
        gsd_m: float | None = None,
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
            chip_gsd_m: ground sampling distance of the chips (metres per
                pixel), which COCO files do not record.
            gsd_m: GSD to train and score at: with ``chip_gsd_m``, the chips
                are resampled by ``chip_gsd_m / gsd_m``. The GSD recorded in
                trained-model files (default ``chip_gsd_m``).

        Raises:
            ConfigError: If a modality other than RGB is asked for, or a GSD is
                not positive.
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
            gsd_m=gsd_m if gsd_m is not None else chip_gsd_m,
        )
        for name, value in (('chip_gsd_m', chip_gsd_m), ('gsd_m', gsd_m)):
            if value is not None and not value > 0:
                msg = f'{name}={value}: give the metres per pixel, a positive number'
                raise ConfigError(msg)
        self.chip_gsd_m = chip_gsd_m
        #: New chip size over old: 1 unless both GSDs are given and differ.
        self.scale = 1.0
        if (
            chip_gsd_m is not None
            and gsd_m is not None
            and gsd_differs(chip_gsd_m, gsd_m)
        ):
            self.scale = chip_gsd_m / gsd_m
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
            resample = None
            if self.scale != 1.0:
                resample = _Resample(self.scale, self.min_instance_area)
            self.chips[split] = COCOInstanceDataset(
                str(self.root),
                self.annotations[split],
                transforms=resample,
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
                check_chips_fit(dataset, self.patch_size, self.scale)
        if self.stats is None or self.missing_stats():
            train = self.chip_dataset('train')
            count = min(len(train), self.stats_samples)
            self.stats = self.completed_stats(
                compute_modality_stats(
                    (train[i] for i in range(count)), self.modalities
                )
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
        return {
            **super().describe(),
            'root': str(self.root),
            **self.annotations,
            'chip_gsd_m': self.chip_gsd_m,
            'gsd_m': self.gsd_m,
        }
