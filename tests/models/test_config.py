import pytest

from rtsgeo.errors import ConfigError
from rtsgeo.models import FUSIONS, PRESETS, ModelConfig, get_preset


def test_paper_presets_exist() -> None:
    assert PRESETS['cascade_mvitv2_b_rgb'].modalities == ('rgb',)
    for fusion in FUSIONS[1:]:
        for mods in ('rgb_ndvi', 'rgb_ndvi_nir'):
            config = PRESETS[f'cascade_mvitv2_b_{mods}_{fusion}']
            assert config.fusion == fusion and config.backbone == 'mvitv2_base'
    assert PRESETS['mask_rcnn_r50_fpn_rgb'].stages == 1
    assert (
        PRESETS['cascade_mvitv2_b_rgb_ndvi_nir_residual_cross_attention'].in_channels
        == 5
    )


@pytest.mark.parametrize(
    ('overrides', 'message'),
    [
        ({'primary': 'nir'}, 'primary'),
        ({'modalities': ('rgb', 'ndvi')}, 'pick a fusion'),
        ({'image_size': 100}, 'image_size'),
        ({'fusion_heads': 7}, 'divisible'),
        ({'unimodal_checkpoints': ('a.pt', 'b.pt')}, 'one path per modality'),
        ({'colour': 'red'}, 'unknown ModelConfig field'),
        ({'roi_samples_per_image': 0}, 'roi_samples_per_image'),
        ({'roi_positive_fraction': 0.0}, 'roi_positive_fraction'),
        ({'gt_jitter_copies': -1}, 'gt_jitter_copies'),
        ({'gt_jitter_amount': 1.5}, 'gt_jitter_amount'),
        ({'min_box_size': -1.0}, 'min_box_size'),
        ({'aux_seg_weight': -0.1}, 'aux_seg_weight'),
        ({'rpn_proposals_per_megapixel': 0.0}, 'rpn_proposals_per_megapixel'),
        ({'rpn_min_proposals': 0}, 'rpn_min_proposals'),
    ],
)
def test_invalid_configs(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        get_preset('nano_cascade_rgb', **overrides)


def test_channel_expansion_cannot_load_unimodal() -> None:
    with pytest.raises(ConfigError, match='single trunk'):
        ModelConfig(
            modalities=('rgb', 'ndvi'),
            fusion='channel_expansion',
            unimodal_checkpoints=('a.pt', 'b.pt'),
        )


def test_paper_presets_keep_the_paper_learning_setup() -> None:
    for name, config in PRESETS.items():
        assert config.anchor_scales == (1.0,) and config.anchor_density == 1, name
        assert (config.rpn_fg_iou, config.rpn_bg_iou) == (0.7, 0.3), name
        assert config.roi_samples_per_image == 512, name
        assert config.gt_jitter_copies == 0 and config.aux_seg_weight == 0, name


def test_paper_presets_keep_detectron2_proposal_counts() -> None:
    for name, config in PRESETS.items():
        if config.image_size == 512:
            assert config.rpn_proposals == {'training': 2000, 'testing': 1000}, name


@pytest.mark.parametrize(
    ('size', 'testing'), [(512, 1000), (1024, 4000), (256, 250), (128, 100), (64, 100)]
)
def test_proposals_scale_with_tile_area_down_to_the_floor(
    size: int, testing: int
) -> None:
    config = get_preset('nano_cascade_rgb', image_size=size)
    assert config.rpn_proposals == {'training': 2 * testing, 'testing': testing}


def test_proposal_density_and_floor_are_options() -> None:
    config = get_preset(
        'nano_cascade_rgb',
        image_size=1024,
        rpn_proposals_per_megapixel=1000.0,
        rpn_min_proposals=10,
    )
    assert config.rpn_proposals['testing'] == round(1000 * 1024**2 / 1e6)
    small = config.with_overrides(image_size=64)
    assert small.rpn_proposals == {'training': 20, 'testing': 10}
