"""The multimodal Cascade Mask R-CNN of the paper: trunks, fusion, heads, presets.

Build a model from a preset or a :class:`ModelConfig`::

    from rtsgeo.models import build_model_from_preset, count_parameters

    model = build_model_from_preset('nano_cascade_rgb_ndvi_nir')
    total, trainable = count_parameters(model)
"""

from .attention import WindowAttention
from .backbone import LEVELS, ModalityBranch, MultimodalBackbone
from .cascade import CascadeRoIHeads
from .checkpoints import (
    load_trunk_weights,
    load_unimodal_checkpoints,
    read_state_dict,
    resize_rel_pos,
)
from .config import (
    BACKBONES,
    DEFAULT_ANCHOR_SIZES,
    DEFAULT_PROPOSALS_PER_MEGAPIXEL,
    FUSIONS,
    PRESETS,
    SMALL_OBJECT_OPTIONS,
    BackboneName,
    FusionName,
    ModelConfig,
    get_preset,
)
from .detector import (
    MultimodalCascadeMaskRCNN,
    build_model,
    build_model_from_preset,
    count_parameters,
)
from .ensemble import ModelEnsemble, check_ensemble, ensemble_info, load_ensemble
from .fusion import (
    ConvFusion,
    CrossAttentionFusion,
    PassThroughFusion,
    StackedAttentionFusion,
    build_fusion,
)
from .trained import (
    TrainedModelInfo,
    checkpoint_metadata,
    config_from_dict,
    config_to_dict,
    file_sha256,
    load_trained_model,
    read_calibration,
    save_trained_model,
    write_calibration,
)
from .trunks import MViTv2Trunk, ResNet50Trunk, build_trunk

__all__ = [
    'BACKBONES',
    'DEFAULT_ANCHOR_SIZES',
    'DEFAULT_PROPOSALS_PER_MEGAPIXEL',
    'FUSIONS',
    'LEVELS',
    'PRESETS',
    'SMALL_OBJECT_OPTIONS',
    'BackboneName',
    'CascadeRoIHeads',
    'ConvFusion',
    'CrossAttentionFusion',
    'FusionName',
    'MViTv2Trunk',
    'ModalityBranch',
    'ModelConfig',
    'ModelEnsemble',
    'MultimodalBackbone',
    'MultimodalCascadeMaskRCNN',
    'PassThroughFusion',
    'ResNet50Trunk',
    'StackedAttentionFusion',
    'TrainedModelInfo',
    'WindowAttention',
    'build_fusion',
    'build_model',
    'build_model_from_preset',
    'build_trunk',
    'check_ensemble',
    'checkpoint_metadata',
    'config_from_dict',
    'config_to_dict',
    'count_parameters',
    'ensemble_info',
    'file_sha256',
    'get_preset',
    'load_ensemble',
    'load_trained_model',
    'load_trunk_weights',
    'load_unimodal_checkpoints',
    'read_calibration',
    'read_state_dict',
    'resize_rel_pos',
    'save_trained_model',
    'write_calibration',
]
