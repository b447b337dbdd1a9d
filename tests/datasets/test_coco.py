from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image

from rtsgeo.datasets.coco import COCOInstanceDataset
from rtsgeo.errors import (
    ConfigError,
    CorruptLabelsError,
    CorruptRasterError,
    DataNotFoundError,
    InvalidImageryError,
    InvalidPolygonsError,
    RTSGeoError,
)

matplotlib.use('Agg')

# A 2-pixel-wide, 3-pixel-long block at rows 1-2, columns 7-9 of a 10 x 12
# image, as COCO's column-major uncompressed RLE.
RLE_COUNTS = [71, 2, 8, 2, 8, 2, 27]


def write_coco(root: Path, **overrides: Any) -> Path:
    """Tiny COCO dataset: two 10 x 12 PNG chips, the second without objects."""
    (root / 'images').mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in ('a.png', 'b.png'):
        pixels = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / 'images' / name)
    coco: dict[str, Any] = {
        'images': [
            {'id': 5, 'file_name': 'a.png', 'width': 12, 'height': 10},
            {'id': 9, 'file_name': 'b.png', 'width': 12, 'height': 10},
        ],
        'annotations': [
            # Square polygon: pycocotools fills rows and columns 2-5.
            {
                'id': 1,
                'image_id': 5,
                'category_id': 1,
                'iscrowd': 0,
                'segmentation': [[2, 2, 6, 2, 6, 6, 2, 6]],
            },
            {
                'id': 2,
                'image_id': 5,
                'category_id': 1,
                'iscrowd': 0,
                'segmentation': {'size': [10, 12], 'counts': RLE_COUNTS},
            },
            {
                'id': 3,
                'image_id': 5,
                'category_id': 1,
                'iscrowd': 1,
                'segmentation': {'size': [10, 12], 'counts': RLE_COUNTS},
            },
        ],
        'categories': [{'id': 1, 'name': 'rts'}],
    }
    coco.update(overrides)
    path = root / 'ann.json'
    path.write_text(json.dumps(coco))
    return path


def test_polygon_and_rle_instances(tmp_path: Path) -> None:
    write_coco(tmp_path)
    ds = COCOInstanceDataset(tmp_path, 'ann.json')
    assert len(ds) == 2
    sample = ds[0]
    assert sample['image_id'] == 5
    assert sample['file_name'] == 'a.png'
    image = sample['image']
    assert image.shape == (3, 10, 12)
    assert image.dtype == torch.float32
    raw = np.asarray(Image.open(tmp_path / 'images' / 'a.png'))
    assert torch.equal(
        image, torch.from_numpy(raw.transpose(2, 0, 1).astype('float32'))
    )
    # The crowd annotation is skipped: two instances.
    assert sample['mask'].shape == (2, 10, 12)
    assert sample['mask'].dtype == torch.uint8
    expected = torch.zeros((2, 10, 12), dtype=torch.uint8)
    expected[0, 2:6, 2:6] = 1
    expected[1, 1:3, 7:10] = 1
    assert torch.equal(sample['mask'], expected)
    assert sample['bbox_xyxy'].tolist() == [[2, 2, 6, 6], [7, 1, 10, 3]]
    assert sample['label'].tolist() == [1, 1]
    assert sample['label'].dtype == torch.int64


def test_compressed_rle(tmp_path: Path) -> None:
    from pycocotools import mask as coco_mask

    block = np.zeros((10, 12), dtype=np.uint8, order='F')
    block[4:9, 0:3] = 1
    counts = coco_mask.encode(block)['counts'].decode('ascii')
    ann = {
        'id': 1,
        'image_id': 5,
        'category_id': 1,
        'segmentation': {'size': [10, 12], 'counts': counts},
    }
    write_coco(tmp_path, annotations=[ann])
    sample = COCOInstanceDataset(tmp_path, tmp_path / 'ann.json')[0]
    assert torch.equal(sample['mask'][0], torch.from_numpy(block))
    assert sample['bbox_xyxy'].tolist() == [[0, 4, 3, 9]]


def test_image_without_annotations_has_empty_targets(tmp_path: Path) -> None:
    write_coco(tmp_path)
    sample = COCOInstanceDataset(tmp_path, 'ann.json')[1]
    assert sample['image'].shape == (3, 10, 12)
    assert sample['mask'].shape == (0, 10, 12)
    assert sample['bbox_xyxy'].shape == (0, 4)
    assert sample['label'].shape == (0,)


def test_min_area_and_transforms(tmp_path: Path) -> None:
    write_coco(tmp_path)

    def flip(sample: dict[str, Any]) -> dict[str, Any]:
        sample['image'] = sample['image'].flip(-1)
        return sample

    ds = COCOInstanceDataset(tmp_path, 'ann.json', min_area=7, transforms=flip)
    sample = ds[0]
    # The 6-pixel RLE block is dropped, the 16-pixel square kept.
    assert sample['bbox_xyxy'].tolist() == [[2, 2, 6, 6]]
    raw = np.asarray(Image.open(tmp_path / 'images' / 'a.png'))
    assert sample['image'][0, 0, 0] == raw[0, -1, 0]


def test_categories(tmp_path: Path) -> None:
    two = [{'id': 1, 'name': 'rts'}, {'id': 2, 'name': 'lake'}]
    write_coco(tmp_path, categories=two)
    with pytest.raises(
        ConfigError, match=r"2 categories \['lake', 'rts'\].*category_names"
    ):
        COCOInstanceDataset(tmp_path, 'ann.json')
    with pytest.raises(ConfigError, match=r"\['slump'\] are not in"):
        COCOInstanceDataset(tmp_path, 'ann.json', category_names=['slump'])
    assert (
        len(
            COCOInstanceDataset(tmp_path, 'ann.json', category_names=['lake'])[0][
                'label'
            ]
        )
        == 0
    )
    assert (
        len(
            COCOInstanceDataset(tmp_path, 'ann.json', category_names=['rts'])[0][
                'label'
            ]
        )
        == 2
    )


def test_plot(tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    write_coco(tmp_path)
    ds = COCOInstanceDataset(tmp_path, 'ann.json')
    fig = ds.plot(ds[0], suptitle='chips')
    assert isinstance(fig, Figure)
    assert '2 RTS' in fig.axes[0].get_title()


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match='nowhere'):
        COCOInstanceDataset(tmp_path / 'nowhere', 'ann.json')
    with pytest.raises(DataNotFoundError, match=r'missing\.json'):
        COCOInstanceDataset(tmp_path, 'missing.json')
    (tmp_path / 'bad.json').write_text('{"images": [')
    with pytest.raises(CorruptLabelsError, match=r'bad\.json is not valid JSON'):
        COCOInstanceDataset(tmp_path, 'bad.json')
    (tmp_path / 'list.json').write_text('{"images": []}')
    with pytest.raises(
        InvalidPolygonsError, match=r"list\.json is not a COCO.*'annotations'"
    ):
        COCOInstanceDataset(tmp_path, 'list.json')
    write_coco(tmp_path)
    ds = COCOInstanceDataset(tmp_path, 'ann.json')
    with pytest.raises(IndexError):
        ds[2]
    (tmp_path / 'images' / 'a.png').write_bytes(b'not a png')
    with pytest.raises(CorruptRasterError, match=r'images/a\.png'):
        ds[0]
    (tmp_path / 'images' / 'b.png').unlink()
    with pytest.raises(DataNotFoundError, match=r'b\.png'):
        ds[1]


def test_size_mismatch_and_orphan_annotation(tmp_path: Path) -> None:
    write_coco(
        tmp_path, images=[{'id': 5, 'file_name': 'a.png', 'width': 20, 'height': 10}]
    )
    with pytest.raises(
        InvalidImageryError, match=r'a\.png is 12x10 px but .*ann\.json says 20x10'
    ):
        COCOInstanceDataset(tmp_path, 'ann.json')[0]
    write_coco(
        tmp_path, images=[{'id': 9, 'file_name': 'b.png', 'width': 12, 'height': 10}]
    )
    with pytest.raises(InvalidPolygonsError, match='image_id 5, which is not in'):
        COCOInstanceDataset(tmp_path, 'ann.json')


def test_entry_without_a_needed_field(tmp_path: Path) -> None:
    write_coco(tmp_path, categories=[{'id': 1}])
    with pytest.raises(
        InvalidPolygonsError,
        match=r"ann\.json: entry 0 of \"categories\" lacks \['name'\]: add them",
    ):
        COCOInstanceDataset(tmp_path, 'ann.json')


def test_segmentation_neither_polygons_nor_rle(tmp_path: Path) -> None:
    write_coco(
        tmp_path,
        annotations=[
            {'id': 7, 'image_id': 5, 'category_id': 1, 'segmentation': 'a slump'}
        ],
    )
    ds = COCOInstanceDataset(tmp_path, 'ann.json')
    with pytest.raises(
        InvalidPolygonsError,
        match=r'ann\.json: annotation 7: segmentation must be polygons or RLE, got str',
    ):
        ds[0]


@pytest.mark.parametrize(
    'content',
    [
        '{"images": [',  # not JSON
        '{"images": []}',  # not a COCO instances file
        '{"images": [], "annotations": [{"id": 1}], "categories": []}',
    ],
)
def test_bad_files_raise_project_errors(tmp_path: Path, content: str) -> None:
    # The CLI turns RTSGeoError into one line; other errors end in a traceback.
    (tmp_path / 'bad.json').write_text(content)
    with pytest.raises(RTSGeoError, match=r'bad\.json'):
        COCOInstanceDataset(tmp_path, 'bad.json')


@pytest.mark.data
@pytest.mark.parametrize(
    ('annotation_file', 'n_images', 'n_instances'),
    [('coco_rts_train.json', 756, 1783), ('coco_rts_valtest.json', 138, 300)],
)
def test_real_yang2023(
    data_dir: Path, annotation_file: str, n_images: int, n_instances: int
) -> None:
    root = data_dir / 'rgb-rts-coco-yang2023'
    coco = json.loads((root / annotation_file).read_text())
    per_image = {image['id']: 0 for image in coco['images']}
    boxes = {}
    for ann in coco['annotations']:
        per_image[ann['image_id']] += 1
        boxes.setdefault(ann['image_id'], []).append(ann['bbox'])
    ds = COCOInstanceDataset(root, annotation_file)
    assert len(ds) == n_images
    total = 0
    for i in range(len(ds)):
        sample = ds[i]
        info = coco['images'][i]
        assert sample['image_id'] == info['id']
        assert sample['image'].shape == (3, info['height'], info['width'])
        # Every annotation rasterises to at least one pixel: none is dropped.
        n = len(sample['label'])
        assert n == per_image[info['id']], info['file_name']
        total += n
        masks, got = sample['mask'].bool(), sample['bbox_xyxy']
        for mask, box, (x, y, w, h) in zip(
            masks, got, boxes.get(info['id'], []), strict=True
        ):
            rows, cols = torch.nonzero(mask, as_tuple=True)
            assert box.tolist() == [
                cols.min(),
                rows.min(),
                cols.max() + 1,
                rows.max() + 1,
            ]
            # The mask lies in the JSON's own box (to a pixel of rounding).
            assert x - 1 <= box[0] and box[2] <= x + w + 1
            assert y - 1 <= box[1] and box[3] <= y + h + 1
    assert total == n_instances
