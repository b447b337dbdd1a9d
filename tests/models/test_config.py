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
