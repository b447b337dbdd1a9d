"""Chip datasets with COCO instance annotations (no georeferencing)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from pycocotools import mask as coco_mask
from torchgeo.datasets import NonGeoDataset

from ..errors import (
    ConfigError,
    CorruptLabelsError,
    CorruptRasterError,
    DataNotFoundError,
    InvalidImageryError,
    InvalidPolygonsError,
)
from ._instances import pack_instances

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ['COCOInstanceDataset', 'decode_segmentation']

# Fields this reader needs in each entry of the file's lists.
_FIELDS = {
    'images': {'id', 'file_name', 'width', 'height'},
    'annotations': {'image_id', 'category_id', 'segmentation'},
    'categories': {'id', 'name'},
}


def decode_segmentation(segmentation: Any, height: int, width: int) -> np.ndarray:
    """Binary ``(H, W)`` uint8 mask of one COCO segmentation.

    Args:
        segmentation: polygons (a list of flat ``[x0, y0, x1, y1, ...]`` lists),
            an uncompressed RLE (``counts`` a list) or a compressed RLE
            (``counts`` a string).
        height: image height in pixels.
        width: image width in pixels.

    Returns:
        The mask; all zeros when the polygons are degenerate (fewer than three
        vertices) or cover no pixel.

    Raises:
        InvalidPolygonsError: If the segmentation is neither polygons nor RLE.
    """
    if isinstance(segmentation, list):
        polygons = [p for p in segmentation if len(p) >= 6]
        if not polygons:
            return np.zeros((height, width), dtype=np.uint8)
        rle = coco_mask.merge(coco_mask.frPyObjects(polygons, height, width))
    elif isinstance(segmentation, dict) and 'counts' in segmentation:
        if isinstance(segmentation['counts'], list):
            rle = coco_mask.frPyObjects(segmentation, height, width)
        else:
            counts = segmentation['counts']
            if isinstance(counts, str):
                counts = counts.encode('ascii')
            rle = {'size': [height, width], 'counts': counts}
    else:
        msg = f'segmentation must be polygons or RLE, got {type(segmentation).__name__}'
        raise InvalidPolygonsError(msg)
    with warnings.catch_warnings():
        # pycocotools' Cython decoder trips a NumPy 2 copy-keyword deprecation.
        warnings.simplefilter('ignore', DeprecationWarning)
        return np.asarray(coco_mask.decode(rle), dtype=np.uint8)


class COCOInstanceDataset(NonGeoDataset):
    """Image chips with COCO instance annotations, as a one-class RTS task.

    The layout of the Yang et al. (2023) RTS dataset::

        root/
            coco_rts_train.json
            images/train_nitze_000.jpg ...

    An image's ``file_name`` is looked up as an absolute path, then under
    ``root/images/``, then under ``root/``. Every kept annotation becomes one
    instance of class :data:`~rtsgeo.datasets._instances.RTS_CLASS`; crowd
    annotations (``iscrowd: 1``) are skipped, and annotations that cover fewer
    than *min_area* pixels once rasterised are dropped.

    A file with one category uses it, whatever its name. A file with several
    categories needs *category_names*: the annotations of those categories are
    kept and all become RTS.

    Samples have ``image`` ``(3, H, W)`` float32 with the raw 0-255 values,
    ``mask`` ``(N, H, W)`` uint8, ``bbox_xyxy`` ``(N, 4)`` float32 enclosing the
    masks, ``label`` ``(N,)`` int64, ``image_id`` and ``file_name``.
    """

    def __init__(
        self,
        root: str | Path,
        annotation_file: str | Path,
        transforms: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        min_area: int = 1,
        category_names: Sequence[str] | None = None,
    ) -> None:
        """Initialize a new COCOInstanceDataset.

        Args:
            root: folder of the dataset (images under ``root/images/``).
            annotation_file: the COCO JSON, absolute or relative to *root*.
            transforms: a function that takes a sample and returns a
                transformed version.
            min_area: instances with fewer pixels are dropped.
            category_names: categories to keep when the file has several.

        Raises:
            DataNotFoundError: If *root* or the JSON does not exist.
            CorruptLabelsError: If the file is not valid JSON.
            InvalidPolygonsError: If it is not a COCO instances file, an
                entry lacks a field, or an annotation refers to an image it
                does not list.
            ConfigError: If the file has several categories and
                *category_names* is not given, or names an unknown one.
        """
        self.root = Path(root)
        if not self.root.is_dir():
            msg = f'COCO dataset root {self.root} does not exist: pass the folder'
            raise DataNotFoundError(msg)
        path = Path(annotation_file)
        self.annotation_file = path if path.is_absolute() else self.root / path
        if not self.annotation_file.is_file():
            msg = f'COCO annotation file {self.annotation_file} does not exist'
            raise DataNotFoundError(msg)
        self.transforms = transforms
        self.min_area = min_area
        coco = self._load_json()
        keep = self._category_ids(coco['categories'], category_names)
        self.images: list[dict[str, Any]] = list(coco['images'])
        self.annotations: dict[int, list[dict[str, Any]]] = {
            int(image['id']): [] for image in self.images
        }
        for ann in coco['annotations']:
            if ann.get('iscrowd', 0) or ann['category_id'] not in keep:
                continue
            if ann['image_id'] not in self.annotations:
                msg = (
                    f'{self.annotation_file}: annotation {ann.get("id")} refers to '
                    f'image_id {ann["image_id"]}, which is not in "images": add the '
                    'image or remove the annotation'
                )
                raise InvalidPolygonsError(msg)
            self.annotations[ann['image_id']].append(ann)

    def _load_json(self) -> dict[str, Any]:
        """Parse the annotation file and check its top-level structure."""
        try:
            with open(self.annotation_file, encoding='utf-8') as f:
                coco = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            msg = f'{self.annotation_file} is not valid JSON: {error}'
            raise CorruptLabelsError(msg) from error
        missing = [
            key
            for key in ('images', 'annotations', 'categories')
            if not isinstance(coco, dict) or not isinstance(coco.get(key), list)
        ]
        if missing:
            msg = (
                f'{self.annotation_file} is not a COCO instances file: '
                f'lists {missing} are missing'
            )
            raise InvalidPolygonsError(msg)
        for key, fields in _FIELDS.items():
            for k, entry in enumerate(coco[key]):
                lacking = sorted(fields - set(entry if isinstance(entry, dict) else ()))
                if lacking:
                    msg = (
                        f'{self.annotation_file}: entry {k} of "{key}" lacks '
                        f'{lacking}: add them'
                    )
                    raise InvalidPolygonsError(msg)
        return coco

    def _category_ids(
        self, categories: list[dict[str, Any]], names: Sequence[str] | None
    ) -> set[int]:
        """Ids of the categories whose annotations become RTS instances."""
        by_name = {str(c['name']): int(c['id']) for c in categories}
        if names is None:
            if len(by_name) > 1:
                msg = (
                    f'{self.annotation_file} has {len(by_name)} categories '
                    f'{sorted(by_name)}: pass category_names= the one(s) that are RTS'
                )
                raise ConfigError(msg)
            return set(by_name.values())
        unknown = sorted(set(names) - set(by_name))
        if unknown:
            msg = (
                f'category_names {unknown} are not in {self.annotation_file}; '
                f'it has {sorted(by_name)}'
            )
            raise ConfigError(msg)
        return {by_name[name] for name in names}

    def __len__(self) -> int:
        """Number of images."""
        return len(self.images)

    def image_path(self, index: int) -> Path:
        """Path of image *index* (see the class docstring for the lookup)."""
        name = Path(self.images[index]['file_name'])
        candidates = (
            [name]
            if name.is_absolute()
            else [self.root / 'images' / name, self.root / name]
        )
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        tried = ', '.join(str(c) for c in candidates)
        msg = f'image {name} of {self.annotation_file} not found (tried {tried})'
        raise DataNotFoundError(msg)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Image and instance targets of one chip.

        Args:
            index: position of the image in the annotation file.

        Returns:
            The sample (see the class docstring).

        Raises:
            IndexError: If *index* is out of range.
            DataNotFoundError: If the image file is missing.
            CorruptRasterError: If the image cannot be decoded.
            InvalidImageryError: If the image size differs from the JSON's.
            InvalidPolygonsError: If a segmentation is neither polygons nor RLE.
        """
        if not -len(self) <= index < len(self):
            raise IndexError(f'index {index} out of range for {len(self)} images')
        info = self.images[index]
        path = self.image_path(index)
        try:
            with Image.open(path) as img:
                array = np.asarray(img.convert('RGB'))
        except (UnidentifiedImageError, OSError) as error:
            msg = f'cannot decode image {path}: {error}; re-export or remove it'
            raise CorruptRasterError(msg) from error
        height, width = array.shape[:2]
        if (height, width) != (info['height'], info['width']):
            msg = (
                f'{path} is {width}x{height} px but {self.annotation_file} says '
                f'{info["width"]}x{info["height"]}: fix the JSON or the image'
            )
            raise InvalidImageryError(msg)
        anns = self.annotations[int(info['id'])]
        masks = np.zeros((len(anns), height, width), dtype=np.uint8)
        for i, ann in enumerate(anns):
            try:
                masks[i] = decode_segmentation(ann['segmentation'], height, width)
            except InvalidPolygonsError as error:
                msg = (
                    f'{self.annotation_file}: annotation {ann.get("id")}: {error}; '
                    'fix or remove it'
                )
                raise InvalidPolygonsError(msg) from error
        sample: dict[str, Any] = {
            'image': torch.from_numpy(array.transpose(2, 0, 1).astype(np.float32)),
            **pack_instances(masks, min_area=self.min_area),
            'image_id': int(info['id']),
            'file_name': str(info['file_name']),
        }
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def plot(
        self,
        sample: dict[str, Any],
        show_titles: bool = True,
        suptitle: str | None = None,
    ) -> Figure:
        """Plot a sample: the image with the outline of every instance.

        Args:
            sample: a sample returned by :meth:`__getitem__`.
            show_titles: show the file name and instance count.
            suptitle: optional figure title.

        Returns:
            The matplotlib figure.
        """
        import matplotlib.pyplot as plt

        image = sample['image'].permute(1, 2, 0).numpy()
        fig, ax = plt.subplots(figsize=(6, 6 * image.shape[0] / image.shape[1]))
        ax.imshow(np.clip(image / 255.0, 0.0, 1.0))
        for mask in sample['mask'].numpy():
            ax.contour(mask, levels=[0.5], colors='yellow', linewidths=1.0)
        ax.axis('off')
        if show_titles:
            ax.set_title(f'{sample.get("file_name", "")}: {len(sample["mask"])} RTS')
        if suptitle is not None:
            fig.suptitle(suptitle)
        return fig
