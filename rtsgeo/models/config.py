"""Model configuration: one frozen dataclass and the named presets of the paper."""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Literal

from ..errors import ConfigError
from ..modalities import channel_layout

__all__ = [
    'BACKBONES',
    'DEFAULT_ANCHOR_SIZES',
    'DEFAULT_PROPOSALS_PER_MEGAPIXEL',
    'FUSIONS',
    'PRESETS',
    'SMALL_OBJECT_OPTIONS',
    'BackboneName',
    'FusionName',
    'ModelConfig',
    'get_preset',
]

BackboneName = Literal[
    'mvitv2_nano',
    'mvitv2_tiny',
    'mvitv2_small',
    'mvitv2_base',
    'mvitv2_large',
    'resnet50',
]
FusionName = Literal[
    'none',
    'channel_expansion',
    'conv',
    'residual_conv',
    'stacked_attention',
    'residual_stacked_attention',
    'cross_attention',
    'residual_cross_attention',
]

#: Backbone trunk names accepted by :class:`ModelConfig`.
BACKBONES: tuple[str, ...] = BackboneName.__args__  # type: ignore[attr-defined]
#: Fusion strategy names accepted by :class:`ModelConfig`.
FUSIONS: tuple[str, ...] = FusionName.__args__  # type: ignore[attr-defined]

#: Anchor side in pixels for P2..P6. RTS inventories (Huang 2022, Nitze 2021,
#: Witharana 2022, Segal 2015; n=3991) give a square-root area of 29-316 m
#: between the 5th and 95th percentiles (median ~100 m), that is ~10-105 px at
#: PlanetScope's 3 m and 3-30 px at Sentinel-2's 10 m: 8-128 px covers both.
DEFAULT_ANCHOR_SIZES: tuple[int, ...] = (8, 16, 32, 64, 128)

#: RPN proposals per megapixel of tile at test time by default: the paper's
#: (and detectron2's) 1000 proposals on its 512 x 512 px tiles (0.262144
#: megapixels), about 3815. detectron2 keeps 1000 on a ~1 megapixel image.
DEFAULT_PROPOSALS_PER_MEGAPIXEL: float = 1000 / (512 * 512 / 1e6)

#: ModelConfig overrides for objects a few pixels wide (Sentinel-2 slumps), each
#: measured on the memorisation probe (docs/benchmarks.md): anchors 4-64 px with
#: three scales and sub-stride offsets, RPN positives from IoU 0.5, 16 jittered
#: copies of each ground-truth box as training proposals, 64 sampled RoIs per
#: image, the dense segmentation loss and a 32-channel full-resolution detail
#: path. ``--model-options small-objects`` of the lubka1 benchmarks expands to it.
SMALL_OBJECT_OPTIONS: MappingProxyType[str, Any] = MappingProxyType(
    {
        'anchor_sizes': (4, 8, 16, 32, 64),
        'anchor_scales': (1.0, 1.26, 1.59),
        'anchor_density': 2,
        'rpn_fg_iou': 0.5,
        'gt_jitter_copies': 16,
        'min_box_size': 1.0,
        'roi_samples_per_image': 64,
        'aux_seg_weight': 1.0,
        'detail_channels': 32,
    }
)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build a detector; see :func:`rtsgeo.models.build_model`.

    Attributes:
        modalities: modality names in the image tensor's stacking order
            (:func:`rtsgeo.modalities.channel_layout`).
        primary: the modality used as attention query by the fusion module.
        fusion: how modalities are fused; ``'none'`` for one modality.
        backbone: trunk architecture (``'mvitv2_nano'`` is a tiny CPU-only one).
        image_size: tile side in pixels. MViTv2 trunks are built for it and
            accept only inputs of exactly this size (their relative-position
            tables are sized at construction).
        detector: ``'cascade'`` (three stages) or ``'mask_rcnn'`` (one stage).
        num_classes: classes including background (RTS is class 1).
        fpn_channels: channels C of every pyramid level.
        box_head: ``'4conv1fc'`` (detectron2's cascade head) or ``'2fc'``.
        box_fc_dim: width of the box head's fully connected layer(s).
        anchor_sizes: anchor side in pixels for each level P2..P6.
        anchor_aspect_ratios: anchor height/width ratios at every level.
        cascade_ious: foreground IoU threshold of each cascade stage.
        cascade_loss_weights: loss weight of each cascade stage.
        fusion_window: side of the attention windows at every level.
        fusion_heads: attention heads in the fusion module.
        unimodal_checkpoints: one unimodal model checkpoint per modality (in
            ``modalities`` order) whose branch weights initialise the model;
            ``''`` leaves that modality's branch as built.
        trunk_checkpoint: timm or detectron2 MViTv2 weights for every trunk.
        freeze_trunks: freeze the trunks (no gradients, no stored activations).
        drop_path_rate: stochastic depth of the MViTv2 trunks.
        detections_per_image: most detections returned per image.
        score_threshold: detections below this score are dropped.
        anchor_scales: multipliers of each level's anchor size: several anchor
            sizes per level (RetinaNet uses ``(1, 2**(1/3), 2**(2/3))``), so
            objects between two levels' sizes still find an anchor of their
            size. ``(1.0,)`` is the paper's one size per level.
        anchor_density: anchor centres per stride along each axis (FaceBoxes'
            anchor densification). At 1 the centres are a stride apart; at 2
            the stride-4 level has centres 2 px apart, which small objects need
            to reach the RPN's IoU 0.7 with any anchor.
        rpn_fg_iou: anchors at or above this IoU with an object are RPN
            positives (torchvision and the paper: 0.7). Each object's best
            anchors are positives whatever their IoU.
        rpn_bg_iou: anchors below this IoU with every object are RPN negatives.
        roi_samples_per_image: RoIs sampled per image for the first box stage
            (detectron2: 512).
        roi_positive_fraction: largest share of positives among those RoIs.
        gt_jitter_copies: while training, this many randomly shifted and
            rescaled copies of each ground-truth box join the RPN's proposals
            (:func:`rtsgeo.models.boxes.jitter_boxes`), so the box heads see
            enough positives of objects the young RPN misses. 0 (the paper's
            setting) adds only the ground-truth boxes themselves.
        gt_jitter_amount: largest relative shift and log-scale change of a
            jittered copy (0.15: most copies at IoU 0.5-0.9 with their box).
        min_box_size: detections narrower or lower than this many pixels are
            dropped before non-maximum suppression (a sub-pixel sliver holds
            no pixel of an object).
        aux_seg_weight: weight of an auxiliary dense RTS segmentation loss
            (binary cross-entropy of a small head on the finest fused pyramid
            level against the union of the instance masks); extra per-pixel
            supervision of the features, as panoptic models add. 0 disables
            it (no head is built).
        dense_score_weight: at inference, each detection's score becomes
            ``score ** (1 - w) * dense ** w`` with ``dense`` the mean
            probability of the auxiliary dense head under the detection's
            mask (:func:`rtsgeo.models.heads.rescore_by_dense_probability`):
            the per-pixel head ranks tiny objects better than a box
            classifier that sees a few RoIs per object. Needs
            ``aux_seg_weight > 0``; 0 keeps the classifier's scores.
        input_scale: the detector enlarges its input by this integer factor
            (bilinear; boxes and masks alike while training) before the
            backbone and maps its detections back to the input's pixels, as
            detectors for tiny objects upsample their images. A slump of 8 px
            spans 2 cells of the stride-4 level; at 2 it spans 4. The trunk is
            built for ``image_size * input_scale``, ``anchor_sizes`` and
            ``min_box_size`` stay in input pixels, and compute grows about
            with the square. 1 (the paper's setting) changes nothing.
        rpn_proposals_per_megapixel: RPN proposals kept per megapixel of an
            ``image_size`` tile at test time, after non-maximum suppression;
            the top-n scored anchors per pyramid level before it is the same
            count, and training keeps twice as many (detectron2's ratios). The
            default gives the paper's 1000 (training 2000) at 512 px, and
            proportionally fewer on smaller tiles: 4 x fewer at 256 px, and at
            128 px the floor. The cascade's cost grows with the proposal count,
            so small tiles no longer pay for 512 px worth of proposals.
            detectron2's own density is 1000 per megapixel.
        rpn_min_proposals: floor of that test-time count (100 by default, the
            most detections an image returns by default).
        aligned_rois: RoI pooling, mask targets and mask pasting sample at
            pixel centres (RoIAlign ``aligned=True``, detectron2's
            ``ROIAlignV2``, which the paper's detectron2 models use); see
            :mod:`rtsgeo.models.rois`. False (the default until it is
            measured on every benchmark) keeps torchvision's legacy sampling,
            half a pixel off on rtsgeo's exclusive-edge boxes, which caps the
            mask IoU of slumps a few pixels across below 0.5 even for a
            perfect mask head.
        detail_channels: width of a full-resolution convolutional path in
            every modality branch (:class:`rtsgeo.models.backbone.DetailStem`):
            three 3 x 3 convolutions at strides 1, 2 and 2 on the branch's
            input, whose stride-4 output joins the trunk's first stage before
            the pyramid. P2, from which the RoIs, masks and dense head of
            slumps a few pixels across are read, then carries local detail
            the way a U-Net's encoder does, instead of one patch-embedding
            convolution and one attention block of the nano trunk. 0 (the
            paper's setting) builds no path.
    """

    modalities: tuple[str, ...] = ('rgb',)
    primary: str = 'rgb'
    fusion: FusionName = 'none'
    backbone: BackboneName = 'mvitv2_base'
    image_size: int = 512
    detector: Literal['cascade', 'mask_rcnn'] = 'cascade'
    num_classes: int = 2
    fpn_channels: int = 256
    box_head: Literal['4conv1fc', '2fc'] = '4conv1fc'
    box_fc_dim: int = 1024
    anchor_sizes: tuple[int, ...] = DEFAULT_ANCHOR_SIZES
    anchor_aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    cascade_ious: tuple[float, ...] = (0.5, 0.6, 0.7)
    cascade_loss_weights: tuple[float, ...] = (1.0, 1.0, 1.0)
    fusion_window: int = 16
    fusion_heads: int = 8
    unimodal_checkpoints: tuple[str, ...] = ()
    trunk_checkpoint: str | None = None
    freeze_trunks: bool = False
    drop_path_rate: float = 0.0
    detections_per_image: int = 100
    score_threshold: float = 0.05
    anchor_scales: tuple[float, ...] = (1.0,)
    anchor_density: int = 1
    rpn_fg_iou: float = 0.7
    rpn_bg_iou: float = 0.3
    roi_samples_per_image: int = 512
    roi_positive_fraction: float = 0.25
    gt_jitter_copies: int = 0
    gt_jitter_amount: float = 0.15
    min_box_size: float = 1.0
    aux_seg_weight: float = 0.0
    dense_score_weight: float = 0.0
    input_scale: int = 1
    rpn_proposals_per_megapixel: float = DEFAULT_PROPOSALS_PER_MEGAPIXEL
    rpn_min_proposals: int = 100
    aligned_rois: bool = False
    detail_channels: int = 0

    def __post_init__(self) -> None:
        self.validate()

    @property
    def stages(self) -> int:
        """Number of box-head stages (3 for cascade, 1 for Mask R-CNN)."""
        return len(self.cascade_ious) if self.detector == 'cascade' else 1

    @property
    def fixed_input_size(self) -> bool:
        """Whether the model runs only on ``image_size`` inputs (MViTv2 trunks)."""
        return self.backbone.startswith('mvitv2')

    @property
    def network_size(self) -> int:
        """Side in pixels of what the backbone sees (``image_size * input_scale``)."""
        return self.image_size * self.input_scale

    @property
    def rpn_proposals(self) -> dict[str, int]:
        """RPN top-n per image, before (per level) and after NMS.

        Keys are torchvision's (``'training'``, ``'testing'``); see
        :attr:`rpn_proposals_per_megapixel`.
        """
        megapixels = self.image_size * self.image_size / 1e6
        testing = max(
            self.rpn_min_proposals, round(self.rpn_proposals_per_megapixel * megapixels)
        )
        return {'training': 2 * testing, 'testing': testing}

    @property
    def in_channels(self) -> int:
        """Channels of the stacked image tensor."""
        return max(s.stop for s in channel_layout(self.modalities).values())

    def validate(self) -> None:
        """Check the values fit together.

        Raises:
            ConfigError: naming the field at fault and how to fix it.
        """
        layout = channel_layout(self.modalities)  # checks names and repeats
        _check(
            self.backbone in BACKBONES, f'backbone={self.backbone!r}: use {BACKBONES}'
        )
        _check(self.fusion in FUSIONS, f'fusion={self.fusion!r}: use one of {FUSIONS}')
        _check(
            self.primary in layout,
            f'primary={self.primary!r} is not in modalities={self.modalities}',
        )
        single = len(layout) == 1
        _check(
            single or self.fusion != 'none',
            f'fusion="none" needs one modality, got {self.modalities}: pick a fusion',
        )
        _check(self.image_size % 32 == 0, f'image_size={self.image_size}: use 32*k')
        _check(
            len(self.anchor_sizes) == 5,
            f'anchor_sizes needs 5 values (P2..P6), got {self.anchor_sizes}',
        )
        _check(
            len(self.cascade_loss_weights) == len(self.cascade_ious),
            'cascade_loss_weights needs one weight per value of cascade_ious',
        )
        _check(
            self.fpn_channels % self.fusion_heads == 0,
            f'fpn_channels={self.fpn_channels} must be divisible by '
            f'fusion_heads={self.fusion_heads}',
        )
        self._validate_learning_options()
        _check(self.num_classes >= 2, 'num_classes counts background: use >= 2')
        _check(
            not self.unimodal_checkpoints
            or len(self.unimodal_checkpoints) == len(layout),
            f'unimodal_checkpoints needs one path per modality {self.modalities}',
        )
        _check(
            not (self.unimodal_checkpoints and self.fusion == 'channel_expansion'),
            'channel_expansion has a single trunk: it cannot load unimodal_checkpoints',
        )

    def _validate_learning_options(self) -> None:
        _check(
            bool(self.anchor_scales) and min(self.anchor_scales) > 0,
            f'anchor_scales={self.anchor_scales}: give positive multipliers',
        )
        _check(
            self.anchor_density >= 1,
            f'anchor_density={self.anchor_density}: use an integer >= 1',
        )
        _check(
            0 < self.rpn_bg_iou <= self.rpn_fg_iou <= 1,
            f'rpn_bg_iou={self.rpn_bg_iou}, rpn_fg_iou={self.rpn_fg_iou}: '
            'need 0 < rpn_bg_iou <= rpn_fg_iou <= 1',
        )
        _check(
            self.roi_samples_per_image >= 1 and 0 < self.roi_positive_fraction <= 1,
            f'roi_samples_per_image={self.roi_samples_per_image}, '
            f'roi_positive_fraction={self.roi_positive_fraction}: need >= 1 and '
            'a fraction in (0, 1]',
        )
        _check(
            self.gt_jitter_copies >= 0 and 0 <= self.gt_jitter_amount < 1,
            f'gt_jitter_copies={self.gt_jitter_copies}, gt_jitter_amount='
            f'{self.gt_jitter_amount}: need copies >= 0 and 0 <= amount < 1',
        )
        _check(
            isinstance(self.detail_channels, int) and self.detail_channels >= 0,
            f'detail_channels={self.detail_channels!r}: use an integer >= 0',
        )
        _check(
            isinstance(self.input_scale, int) and self.input_scale >= 1,
            f'input_scale={self.input_scale!r}: use an integer >= 1',
        )
        _check(
            0 <= self.dense_score_weight <= 1
            and (self.dense_score_weight == 0 or self.aux_seg_weight > 0),
            f'dense_score_weight={self.dense_score_weight}: use a value in [0, 1], '
            'and aux_seg_weight > 0 to train the dense head it reads',
        )
        _check(
            self.min_box_size >= 0 and self.aux_seg_weight >= 0,
            f'min_box_size={self.min_box_size}, aux_seg_weight='
            f'{self.aux_seg_weight}: use values >= 0',
        )
        _check(
            self.rpn_proposals_per_megapixel > 0 and self.rpn_min_proposals >= 1,
            f'rpn_proposals_per_megapixel={self.rpn_proposals_per_megapixel}, '
            f'rpn_min_proposals={self.rpn_min_proposals}: need a density > 0 '
            'and a floor >= 1',
        )

    def with_overrides(self, **overrides: Any) -> ModelConfig:
        """A copy with some fields replaced (validated again)."""
        unknown = set(overrides) - set(self.__dataclass_fields__)
        if unknown:
            msg = f'unknown ModelConfig field(s) {sorted(unknown)}'
            raise ConfigError(msg)
        return replace(self, **overrides)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(f'ModelConfig: {message}')


_FEATURE_FUSIONS = (
    'conv',
    'stacked_attention',
    'cross_attention',
    'residual_conv',
    'residual_stacked_attention',
    'residual_cross_attention',
)


def _paper_presets() -> dict[str, ModelConfig]:
    presets: dict[str, ModelConfig] = {}
    for name in ('rgb', 'ndvi', 'nir'):
        presets[f'cascade_mvitv2_b_{name}'] = ModelConfig(
            modalities=(name,), primary=name
        )
    for mods in (('rgb', 'ndvi'), ('rgb', 'ndvi', 'nir')):
        tag = '_'.join(mods)
        for fusion in ('channel_expansion', *_FEATURE_FUSIONS):
            presets[f'cascade_mvitv2_b_{tag}_{fusion}'] = ModelConfig(
                modalities=mods,
                fusion=fusion,  # type: ignore[arg-type]
                freeze_trunks=fusion != 'channel_expansion',
            )
    presets['mask_rcnn_r50_fpn_rgb'] = ModelConfig(
        backbone='resnet50', detector='mask_rcnn', box_head='2fc'
    )
    presets['mask_rcnn_mvitv2_b_rgb'] = ModelConfig(
        detector='mask_rcnn', box_head='2fc'
    )
    return presets


def _small_presets() -> dict[str, ModelConfig]:
    nano = ModelConfig(
        backbone='mvitv2_nano',
        image_size=64,
        fpn_channels=32,
        box_fc_dim=64,
        fusion_window=8,
        fusion_heads=4,
    )
    return {
        'nano_cascade_rgb': nano,
        'nano_cascade_rgb_ndvi_nir': replace(
            nano, modalities=('rgb', 'ndvi', 'nir'), fusion='residual_cross_attention'
        ),
        'nano_mask_rcnn_rgb': replace(nano, detector='mask_rcnn', box_head='2fc'),
        'nano_mask_rcnn_r50_fpn_rgb': replace(
            nano, backbone='resnet50', detector='mask_rcnn', box_head='2fc'
        ),
    }


#: Named configurations: the paper's (MViTv2-B, 512 px tiles) and tiny CPU ones.
PRESETS: dict[str, ModelConfig] = {**_paper_presets(), **_small_presets()}


def get_preset(name: str, **overrides: Any) -> ModelConfig:
    """A preset's configuration, with optional field overrides.

    Args:
        name: a key of :data:`PRESETS`.
        **overrides: :class:`ModelConfig` fields to replace.

    Returns:
        The configuration.

    Raises:
        ConfigError: If the name or a field is unknown.
    """
    if name not in PRESETS:
        msg = f'unknown model preset {name!r}: choose one of {", ".join(PRESETS)}'
        raise ConfigError(msg)
    return PRESETS[name].with_overrides(**overrides)
