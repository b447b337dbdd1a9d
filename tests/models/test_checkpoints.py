import re
from pathlib import Path

import pytest
import torch
from timm.models.mvitv2 import MultiScaleVit, MultiScaleVitCfg

from rtsgeo.errors import CheckpointError
from rtsgeo.models import (
    build_model_from_preset,
    build_trunk,
    count_parameters,
    load_trunk_weights,
    resize_rel_pos,
)

MODALITIES = ('rgb', 'ndvi', 'nir')


def save_unimodal(tmp_path: Path, modality: str, image_size: int = 64) -> Path:
    torch.manual_seed(MODALITIES.index(modality))
    model = build_model_from_preset(
        'nano_cascade_rgb',
        modalities=(modality,),
        primary=modality,
        image_size=image_size,
    )
    path = tmp_path / f'{modality}.pt'
    torch.save(
        {'state_dict': {f'model.{k}': v for k, v in model.state_dict().items()}}, path
    )
    return path


def test_unimodal_checkpoints_load_and_freeze(tmp_path: Path) -> None:
    paths = [save_unimodal(tmp_path, m) for m in MODALITIES]
    model = build_model_from_preset(
        'nano_cascade_rgb_ndvi_nir',
        unimodal_checkpoints=tuple(map(str, paths)),
        freeze_trunks=True,
    )
    for modality, path in zip(MODALITIES, paths, strict=True):
        saved = torch.load(path, weights_only=True)['state_dict']
        prefix = f'model.backbone.branches.{modality}.'
        branch = model.backbone.branches[modality]
        for name, value in branch.state_dict().items():
            torch.testing.assert_close(value, saved[prefix + name], rtol=0, atol=0)
        assert all(not p.requires_grad for p in branch.trunk.parameters())
        assert all(p.requires_grad for p in branch.fpn.parameters())
    total, trainable = count_parameters(model)
    trunks = sum(
        p.numel()
        for b in model.backbone.branches.values()
        for p in b.trunk.parameters()
    )
    assert trainable == total - trunks


def test_empty_unimodal_checkpoint_keeps_that_branch(tmp_path: Path) -> None:
    # Only the RGB trunk pretrained (extra RGB-only data): NDVI and NIR keep
    # the weights they are built with.
    rgb = str(save_unimodal(tmp_path, 'rgb'))
    torch.manual_seed(7)
    fresh = build_model_from_preset('nano_cascade_rgb_ndvi_nir')
    torch.manual_seed(7)
    model = build_model_from_preset(
        'nano_cascade_rgb_ndvi_nir', unimodal_checkpoints=(rgb, '', '')
    )
    saved = torch.load(rgb, weights_only=True)['state_dict']
    for name, value in model.backbone.branches['rgb'].state_dict().items():
        torch.testing.assert_close(
            value, saved[f'model.backbone.branches.rgb.{name}'], rtol=0, atol=0
        )
    for modality in ('ndvi', 'nir'):
        built = fresh.backbone.branches[modality].state_dict()
        for name, value in model.backbone.branches[modality].state_dict().items():
            torch.testing.assert_close(value, built[name], rtol=0, atol=0)
    with pytest.raises(CheckpointError, match='every unimodal checkpoint path'):
        build_model_from_preset(
            'nano_cascade_rgb_ndvi_nir', unimodal_checkpoints=('', '', '')
        )


def test_checkpoint_made_at_another_size(tmp_path: Path) -> None:
    paths = tuple(str(save_unimodal(tmp_path, m, image_size=64)) for m in MODALITIES)
    model = build_model_from_preset(
        'nano_cascade_rgb_ndvi_nir', image_size=128, unimodal_checkpoints=paths
    )
    table = model.backbone.branches['rgb'].trunk.body.stages[0].blocks[0].attn.rel_pos_h
    saved = torch.load(paths[0], weights_only=True)['state_dict']
    old = saved[
        'model.backbone.branches.rgb.trunk.body.stages.0.blocks.0.attn.rel_pos_h'
    ]
    assert table.shape[0] > old.shape[0]
    torch.testing.assert_close(table.detach(), resize_rel_pos(old, table.shape[0]))
    model.eval()
    with torch.no_grad():
        outputs = model(torch.randn(1, 5, 128, 128))
    assert outputs[0]['masks'].shape[-2:] == (128, 128)


def test_resize_rel_pos_keeps_constant_tables() -> None:
    table = torch.ones(15, 4) * torch.arange(4.0)
    torch.testing.assert_close(
        resize_rel_pos(table, 31), torch.ones(31, 4) * torch.arange(4.0)
    )


def timm_nano(image_size: int) -> MultiScaleVit:
    cfg = MultiScaleVitCfg(depths=(1, 1, 1, 1), embed_dim=16, num_heads=1)
    return MultiScaleVit(cfg, img_size=(image_size, image_size), num_classes=10)


def to_detectron2(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """timm keys as a detectron2 model's (blocks.N, proj, backbone.bottom_up.)."""
    out = {}
    for key, value in state.items():
        match = re.match(r'stages\.(\d)\.blocks\.0\.(.*)', key)
        if match:
            key = f'blocks.{match[1]}.{match[2]}'.replace('shortcut_proj_attn', 'proj')
        out[f'backbone.bottom_up.{key}'] = value
    return {'model': out}


@pytest.mark.parametrize('layout', ['timm', 'detectron2'])
def test_trunk_weights_from_timm_or_detectron2(tmp_path: Path, layout: str) -> None:
    torch.manual_seed(0)
    state = timm_nano(96).state_dict()
    path = tmp_path / 'mvit.pth'
    torch.save(state if layout == 'timm' else to_detectron2(state), path)
    trunk = build_trunk('mvitv2_nano', in_channels=1, image_size=64)
    load_trunk_weights(trunk, path)
    loaded = trunk.state_dict()
    summed = state['patch_embed.proj.weight'].sum(dim=1, keepdim=True)
    torch.testing.assert_close(loaded['body.patch_embed.proj.weight'], summed)
    torch.testing.assert_close(
        loaded['body.stages.1.blocks.0.mlp.fc1.weight'],
        state['stages.1.blocks.0.mlp.fc1.weight'],
    )
    assert len(trunk(torch.randn(1, 1, 64, 64))) == 4


def test_checkpoint_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match='does not exist'):
        load_trunk_weights(build_trunk('mvitv2_nano', 3, 64), tmp_path / 'missing.pt')
    paths = (str(save_unimodal(tmp_path, 'ndvi')), str(save_unimodal(tmp_path, 'rgb')))
    with pytest.raises(CheckpointError, match="one 'rgb' branch, found \\['ndvi'\\]"):
        build_model_from_preset(
            'nano_cascade_rgb_ndvi_nir',
            modalities=('rgb', 'ndvi'),
            unimodal_checkpoints=paths,
        )
    torch.save({'stages.0.blocks.0.norm1.weight': torch.ones(3)}, tmp_path / 'other.pt')
    with pytest.raises(CheckpointError, match='shape'):
        load_trunk_weights(build_trunk('mvitv2_nano', 3, 64), tmp_path / 'other.pt')
