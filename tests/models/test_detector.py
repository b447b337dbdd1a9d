import pytest
import torch

from rtsgeo.errors import ConfigError
from rtsgeo.models import build_model_from_preset, count_parameters

SIZE = 64
CASCADE_LOSSES = {
    'loss_objectness',
    'loss_rpn_box_reg',
    'loss_mask',
    *(f'loss_{kind}_stage{k}' for kind in ('classifier', 'box_reg') for k in range(3)),
}


def make_targets(counts: list[int]) -> list[dict[str, torch.Tensor]]:
    targets = []
    for n in counts:
        boxes = torch.tensor([[6.0, 8.0, 38.0, 30.0], [30.0, 28.0, 60.0, 62.0]])[:n]
        masks = torch.zeros(n, SIZE, SIZE, dtype=torch.uint8)
        for mask, (x0, y0, x1, y1) in zip(masks, boxes.int().tolist(), strict=True):
            mask[y0:y1, x0:x1] = 1
        labels = torch.ones(n, dtype=torch.int64)
        targets.append({'boxes': boxes.reshape(n, 4), 'labels': labels, 'masks': masks})
    return targets


@pytest.fixture(scope='module')
def fused():
    torch.manual_seed(0)
    return build_model_from_preset('nano_cascade_rgb_ndvi_nir', freeze_trunks=True)


def images(channels: int, batch: int = 2) -> torch.Tensor:
    return torch.randn(
        batch, channels, SIZE, SIZE, generator=torch.Generator().manual_seed(5)
    )


def test_train_losses_are_finite(fused) -> None:
    fused.train()
    losses = fused(images(5), make_targets([2, 1]))
    assert set(losses) == CASCADE_LOSSES
    for name, value in losses.items():
        assert value.dim() == 0 and torch.isfinite(value), name


def test_backward_reaches_trainable_not_frozen(fused) -> None:
    fused.train()
    fused.zero_grad(set_to_none=True)
    # P6's projection learns only when the RPN samples one of its 3 anchors (of
    # ~1000 at 64 px): seeded here, where it does, whatever ran before.
    torch.manual_seed(1)
    sum(fused(images(5), make_targets([2, 2])).values()).backward()
    no_grad = [
        n for n, p in fused.named_parameters() if p.requires_grad and p.grad is None
    ]
    assert no_grad == []
    frozen = [(n, p) for n, p in fused.named_parameters() if not p.requires_grad]
    assert frozen and all('.trunk.' in n and p.grad is None for n, p in frozen)
    assert all(
        '.trunk.' not in n for n, p in fused.named_parameters() if p.requires_grad
    )
    # At P6 (1x1 here) attention has one key: softmax gives q and k no gradient.
    for name, p in fused.backbone.fusion.named_parameters():
        if name.startswith(('attention.0.', 'project.')):
            assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize('counts', [[0, 0], [2, 0]], ids=['empty', 'half-empty'])
def test_empty_and_half_empty_batches_train(fused, counts: list[int]) -> None:
    fused.train()
    losses = fused(images(5), make_targets(counts))
    assert set(losses) == CASCADE_LOSSES
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()


def test_eval_outputs_at_input_resolution(fused) -> None:
    fused.eval()
    with torch.no_grad():
        outputs = fused(images(5))
    assert len(outputs) == 2
    for out in outputs:
        assert set(out) == {'boxes', 'scores', 'labels', 'masks'}
        n = len(out['boxes'])
        assert n > 0
        assert out['boxes'].shape == (n, 4) and out['scores'].shape == (n,)
        assert out['masks'].shape == (n, 1, SIZE, SIZE)
        assert out['masks'].dtype == torch.float32
        assert out['masks'].min() >= 0 and out['masks'].max() <= 1
        assert (out['labels'] == 1).all()
        assert (out['boxes'] >= 0).all() and (out['boxes'] <= SIZE).all()


def test_deterministic_under_seed() -> None:
    results = []
    for _ in range(2):
        torch.manual_seed(7)
        model = build_model_from_preset('nano_cascade_rgb').eval()
        with torch.no_grad():
            results.append(model(images(3, batch=1))[0])
    for key in results[0]:
        torch.testing.assert_close(results[0][key], results[1][key], rtol=0, atol=0)


@pytest.mark.parametrize('preset', ['nano_mask_rcnn_rgb', 'nano_mask_rcnn_r50_fpn_rgb'])
def test_mask_rcnn_has_one_stage(preset: str) -> None:
    torch.manual_seed(0)
    model = build_model_from_preset(preset)
    losses = model(images(3), make_targets([1, 0]))
    assert set(losses) == {
        'loss_objectness',
        'loss_rpn_box_reg',
        'loss_mask',
        'loss_classifier_stage0',
        'loss_box_reg_stage0',
    }
    assert all(torch.isfinite(v) for v in losses.values())


def test_channel_expansion_uses_one_trunk() -> None:
    model = build_model_from_preset(
        'nano_cascade_rgb_ndvi_nir', fusion='channel_expansion'
    )
    assert list(model.backbone.branches) == ['stacked']
    model.eval()
    with torch.no_grad():
        assert len(model(images(5, batch=1))) == 1


def test_bad_inputs_have_clear_errors(fused) -> None:
    fused.eval()
    with pytest.raises(ValueError, match=r'\(B, 5, H, W\)'):
        fused(images(3))
    with pytest.raises(ValueError, match='image_size=64'):
        fused(torch.randn(1, 5, 96, 96))


def test_count_parameters_counts_frozen(fused) -> None:
    total, trainable = count_parameters(fused)
    trunks = sum(
        p.numel()
        for b in fused.backbone.branches.values()
        for p in b.trunk.parameters()
    )
    assert trainable == total - trunks


def test_unknown_preset() -> None:
    with pytest.raises(ConfigError, match='unknown model preset'):
        build_model_from_preset('cascade_vit_h')


def test_auxiliary_segmentation_loss_trains_its_head() -> None:
    torch.manual_seed(0)
    model = build_model_from_preset('nano_mask_rcnn_rgb', aux_seg_weight=0.5)
    losses = model(images(3), make_targets([2, 0]))
    assert 'loss_aux_seg' in losses and torch.isfinite(losses['loss_aux_seg'])
    losses['loss_aux_seg'].backward()
    assert model.aux_seg is not None
    assert model.aux_seg.logits.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        assert set(model(images(3, batch=1))[0]) == {
            'boxes',
            'scores',
            'labels',
            'masks',
        }


def test_no_auxiliary_head_by_default() -> None:
    model = build_model_from_preset('nano_mask_rcnn_rgb')
    assert model.aux_seg is None
    assert 'loss_aux_seg' not in model(images(3), make_targets([1, 1]))


def test_learning_options_reach_the_heads() -> None:
    model = build_model_from_preset(
        'nano_cascade_rgb',
        rpn_fg_iou=0.5,
        rpn_bg_iou=0.2,
        roi_samples_per_image=128,
        roi_positive_fraction=0.5,
        gt_jitter_copies=8,
        min_box_size=2.0,
    )
    matcher = model.rpn.proposal_matcher
    assert (matcher.high_threshold, matcher.low_threshold) == (0.5, 0.2)
    sampler = model.roi_heads.sampler
    assert (sampler.batch_size_per_image, sampler.positive_fraction) == (128, 0.5)
    assert model.roi_heads.jitter_copies == 8
    assert model.roi_heads.min_box_size == 2.0
    model.eval()
    with torch.no_grad():
        boxes = model(images(3, batch=1))[0]['boxes']
    assert ((boxes[:, 2:] - boxes[:, :2]) >= 2.0).all()


def test_input_scale_upsamples_inside_and_answers_at_input_size() -> None:
    seen: list[tuple[int, ...]] = []
    torch.manual_seed(0)
    model = build_model_from_preset('nano_cascade_rgb', input_scale=2)
    branch = model.backbone.branches['rgb']
    branch.trunk.register_forward_hook(lambda m, args, out: seen.append(args[0].shape))
    targets = make_targets([2, 1])
    losses = model(images(3), targets)
    assert seen[-1][-2:] == (2 * SIZE, 2 * SIZE)
    assert all(torch.isfinite(v) for v in losses.values())
    # the caller's targets are not rescaled in place
    assert targets[0]['boxes'][0].tolist() == [6.0, 8.0, 38.0, 30.0]
    assert targets[0]['masks'].shape[-1] == SIZE
    # anchors live in the backbone's pixels
    assert model.rpn.anchor_generator.sizes[0] == (2 * model.config.anchor_sizes[0],)
    assert model.roi_heads.min_box_size == 2 * model.config.min_box_size
    model.eval()
    with torch.no_grad():
        out = model(images(3, batch=1))[0]
    assert out['masks'].shape[-2:] == (SIZE, SIZE)
    assert (out['boxes'] <= SIZE).all()


def test_input_scale_targets_scale_with_the_image() -> None:
    from rtsgeo.models.detector import _StackedImageTransform

    targets = make_targets([1])
    batch, scaled = _StackedImageTransform(3)(images(3, batch=1), targets)
    assert batch.tensors.shape[-2:] == (3 * SIZE, 3 * SIZE)
    assert scaled is not None
    assert scaled[0]['boxes'][0].tolist() == [18.0, 24.0, 114.0, 90.0]
    assert int(scaled[0]['masks'].sum()) == 9 * int(targets[0]['masks'].sum())
    assert scaled[0]['masks'].dtype == torch.uint8


@pytest.mark.parametrize('scale', [0, 1.5])
def test_input_scale_must_be_a_whole_factor(scale) -> None:
    with pytest.raises(ConfigError, match='input_scale'):
        build_model_from_preset('nano_cascade_rgb', input_scale=scale)


def test_dense_score_weight_rescores_detections_with_the_dense_head() -> None:
    torch.manual_seed(0)
    model = build_model_from_preset(
        'nano_cascade_rgb', aux_seg_weight=1.0, score_threshold=0.0
    ).eval()
    batch = images(3, batch=1)
    with torch.no_grad():
        plain = model(batch)[0]
        model.config = model.config.with_overrides(dense_score_weight=1.0)
        dense = model(batch)[0]
        prob = model.aux_seg(model.backbone(batch)['p2'], batch.shape[-2:]).sigmoid()[
            0, 0
        ]
    assert len(dense['scores']) == len(plain['scores']) > 0
    assert not torch.allclose(dense['scores'], plain['scores'])
    # the best detection's new score is the dense probability under its mask
    mask = dense['masks'][0, 0] >= 0.5
    assert torch.isclose(dense['scores'][0], prob[mask].mean(), atol=1e-5)
    assert (dense['scores'][:-1] >= dense['scores'][1:]).all()


@pytest.mark.parametrize(
    'options',
    [{'dense_score_weight': 0.5}, {'aux_seg_weight': 1.0, 'dense_score_weight': 2.0}],
)
def test_dense_score_weight_needs_the_dense_head(options) -> None:
    with pytest.raises(ConfigError, match='dense_score_weight'):
        build_model_from_preset('nano_cascade_rgb', **options)


def test_rpn_keeps_the_configured_proposal_counts() -> None:
    model = build_model_from_preset('nano_cascade_rgb', image_size=256)
    assert (model.rpn.pre_nms_top_n(), model.rpn.post_nms_top_n()) == (500, 500)
    model.eval()
    assert (model.rpn.pre_nms_top_n(), model.rpn.post_nms_top_n()) == (250, 250)
    with torch.no_grad():
        proposals, _ = model.rpn(
            model.transform(torch.randn(1, 3, 256, 256))[0],
            model.backbone(torch.randn(1, 3, 256, 256)),
        )
    assert len(proposals[0]) <= 250


def test_detail_path_joins_c2_and_learns() -> None:
    torch.manual_seed(0)
    model = build_model_from_preset('nano_cascade_rgb', detail_channels=8)
    branch = model.backbone.branches['rgb']
    assert branch.detail is not None
    seen: list[tuple[int, ...]] = []
    branch.detail.register_forward_hook(lambda m, args, out: seen.append(out.shape))
    losses = model(images(3), make_targets([2, 1]))
    assert seen[-1] == (2, 8, SIZE // 4, SIZE // 4)
    sum(losses.values()).backward()
    first = branch.detail.layers[0][0].weight
    assert first.grad is not None and first.grad.abs().sum() > 0
    # the pyramid reads C2 and the detail path together
    assert branch.fpn.inner_blocks[0][0].in_channels == branch.trunk.out_channels[0] + 8


def test_detail_path_freezes_with_the_trunk() -> None:
    model = build_model_from_preset('nano_cascade_rgb', detail_channels=8)
    model.backbone.freeze_trunks()
    model.train()
    branch = model.backbone.branches['rgb']
    assert not branch.detail.training
    assert not any(p.requires_grad for p in branch.detail.parameters())


def test_no_detail_path_by_default() -> None:
    model = build_model_from_preset('nano_cascade_rgb')
    assert model.backbone.branches['rgb'].detail is None


@pytest.mark.parametrize('width', [-1, 2.5])
def test_detail_channels_must_be_a_whole_width(width) -> None:
    with pytest.raises(ConfigError, match='detail_channels'):
        build_model_from_preset('nano_cascade_rgb', detail_channels=width)
