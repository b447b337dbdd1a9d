import pytest
import torch
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import box_iou

from rtsgeo.errors import ConfigError
from rtsgeo.models import get_preset
from rtsgeo.models.anchors import DenseAnchorGenerator, level_anchors
from rtsgeo.models.detector import build_anchor_generator

SIZE = 128
STRIDES = (4, 8, 16, 32, 64)


def all_anchors(generator: AnchorGenerator) -> torch.Tensor:
    features = [torch.zeros(1, 1, SIZE // s, SIZE // s) for s in STRIDES]
    images = ImageList(torch.zeros(1, 3, SIZE, SIZE), [(SIZE, SIZE)])
    return generator(images, features)[0]


def small_boxes() -> torch.Tensor:
    """400 boxes 5-30 px wide, height/width 0.5-2, at whole-pixel positions."""
    g = torch.Generator().manual_seed(0)
    widths = torch.randint(5, 31, (400,), generator=g).float()
    ratios = 2 ** (torch.rand(400, generator=g) * 2 - 1)
    sides = torch.stack([widths, (widths * ratios).round().clamp(min=3)], dim=1)
    corners = torch.randint(0, SIZE - 61, (400, 2), generator=g).float()
    return torch.cat([corners, corners + sides], dim=1)


def best_iou(generator: AnchorGenerator) -> torch.Tensor:
    return box_iou(small_boxes(), all_anchors(generator)).max(dim=1).values


def test_dense_anchors_cover_small_boxes() -> None:
    config = get_preset(
        'nano_mask_rcnn_rgb',
        anchor_sizes=(4, 8, 16, 32, 64),
        anchor_scales=(1.0, 1.26, 1.59),
        anchor_density=2,
    )
    plain = best_iou(build_anchor_generator(config.with_overrides(
        anchor_scales=(1.0,), anchor_density=1)))  # fmt: skip
    dense = best_iou(build_anchor_generator(config))
    # One 4-64 px anchor per cell: a quarter of the boxes reach IoU 0.5.
    assert (plain >= 0.5).float().mean() < 0.35
    assert (plain >= 0.7).float().mean() < 0.1
    assert (dense >= 0.5).float().mean() >= 0.99
    assert (dense >= 0.7).float().mean() >= 0.35
    denser = best_iou(build_anchor_generator(config.with_overrides(anchor_density=3)))
    assert (denser >= 0.5).all()
    assert (denser >= 0.7).float().mean() >= 0.7


def test_paper_setting_keeps_torchvision_anchors() -> None:
    config = get_preset('cascade_mvitv2_b_rgb')
    generator = build_anchor_generator(config)
    assert type(generator) is AnchorGenerator
    assert generator.num_anchors_per_location() == [3] * 5


def test_level_anchors_shape_and_centres() -> None:
    anchors = level_anchors(8, (1.0, 2.0), (0.5, 1.0, 2.0), stride=4, density=2)
    assert anchors.shape == (2 * 2 * 2 * 3, 4)
    centres = ((anchors[:, :2] + anchors[:, 2:]) / 2).unique(dim=0)
    assert centres.tolist() == [[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]]
    sides = anchors[:, 2:] - anchors[:, :2]
    areas = sides.prod(dim=1).round(decimals=3).unique()
    assert torch.allclose(areas, torch.tensor([64.0, 256.0]))
    assert torch.allclose(sides[:3, 1] / sides[:3, 0], torch.tensor([0.5, 1.0, 2.0]))


def test_density_one_scale_one_matches_torchvision_centres() -> None:
    dense = all_anchors(DenseAnchorGenerator([16] * 5, (1.0,), STRIDES))
    plain = all_anchors(AnchorGenerator(tuple((16,) for _ in STRIDES), ((1.0,),) * 5))
    assert torch.equal(dense, plain)


def test_detector_rpn_head_matches_anchor_count() -> None:
    from rtsgeo.models import build_model_from_preset

    model = build_model_from_preset(
        'nano_mask_rcnn_rgb', anchor_scales=(1.0, 1.5), anchor_density=2
    )
    head = model.rpn.head
    assert head.cls_logits.out_channels == 2 * 3 * 4
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
    assert out[0]['boxes'].shape[1] == 4


@pytest.mark.parametrize(
    ('overrides', 'message'),
    [
        ({'anchor_scales': ()}, 'anchor_scales'),
        ({'anchor_density': 0}, 'anchor_density'),
        ({'rpn_fg_iou': 0.3, 'rpn_bg_iou': 0.5}, 'rpn_bg_iou'),
    ],
)
def test_anchor_options_are_checked(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        get_preset('nano_mask_rcnn_rgb', **overrides)


def test_generator_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match='one stride per anchor size'):
        DenseAnchorGenerator([4, 8], (1.0,), (4,))
    with pytest.raises(ValueError, match='density'):
        DenseAnchorGenerator([4], (1.0,), (4,), density=0)
