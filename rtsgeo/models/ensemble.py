"""Model ensembles: several trained detectors run as one, instances fused.

An ensemble keeps the detector's output contract, so the scene predictor, the
seam merge and the campaign map with it as with one model::

    from rtsgeo.models import load_ensemble

    model, info = load_ensemble(['a.pt', 'b.pt', 'c.pt'])
    outputs = model(images)  # per image: fused 'masks' (N, 1, H, W), 'scores'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..resolution import gsd_differs
from .trained import TrainedModelInfo, load_trained_model

__all__ = ['ModelEnsemble', 'check_ensemble', 'ensemble_info', 'load_ensemble']


def _gsd(value: float | None) -> str:
    return 'none recorded' if value is None else f'{value:g} m'


def _difference(first: TrainedModelInfo, other: TrainedModelInfo) -> str | None:
    """What *other* does not share with *first* that an ensemble needs, or None."""
    a, b = first.config, other.config
    if first.modalities != other.modalities:
        return (
            f'modalities {",".join(first.modalities)} vs {",".join(other.modalities)}'
        )
    if (first.gsd_m is None) != (other.gsd_m is None) or (
        first.gsd_m is not None
        and other.gsd_m is not None
        and gsd_differs(other.gsd_m, first.gsd_m)
    ):
        return f'GSD {_gsd(first.gsd_m)} vs {_gsd(other.gsd_m)}'
    if a.image_size != b.image_size:
        return f'image_size {a.image_size} vs {b.image_size}'
    if a.fixed_input_size != b.fixed_input_size:
        return (
            f'fixed input size {a.fixed_input_size} vs {b.fixed_input_size} '
            f'({a.backbone} vs {b.backbone})'
        )
    if first.scene_stretch != other.scene_stretch:
        stretched = ('no per-scene stretch', 'a per-scene stretch')
        if first.scene_stretch is None or other.scene_stretch is None:
            return (
                f'{stretched[first.scene_stretch is not None]} vs '
                f'{stretched[other.scene_stretch is not None]}'
            )
        return 'per-scene stretch (different reference percentiles or settings)'
    return None


def check_ensemble(infos: Sequence[TrainedModelInfo]) -> None:
    """Check that trained models can map as one ensemble.

    They must share modalities, GSD, tile size (``image_size`` and whether
    the input size is fixed) and per-scene stretch: the scene is read and
    tiled once for all. Normalisation statistics may differ.

    Args:
        infos: what each member's file says, in ensemble order.

    Raises:
        ConfigError: If there is no member, or one differs from the first.
    """
    if not infos:
        raise ConfigError('an ensemble needs at least one trained model: give one')
    first = infos[0]
    for other in infos[1:]:
        difference = _difference(first, other)
        if difference is not None:
            msg = (
                f'cannot ensemble {first.path} with {other.path}: {difference}; '
                "an ensemble's models must share modalities, GSD, tile size and "
                'per-scene stretch'
            )
            raise ConfigError(msg)


def ensemble_info(infos: Sequence[TrainedModelInfo]) -> TrainedModelInfo:
    """What mapping outputs record about an ensemble of *infos*.

    The first member's info with ``name`` ``ensemble(a, b, c)``, ``path`` the
    members' paths and ``sha256`` their SHA-256s, comma separated in order;
    every other field (statistics, sensor, GSD, stretch) is the first
    member's, but no calibration: a member's mapping from its own score to a
    probability says nothing about the fused score, so an ensemble's maps
    carry no ``probability``. One member's info is returned as it is.

    Raises:
        ConfigError: If the members do not fit together (see
            :func:`check_ensemble`).
    """
    check_ensemble(infos)
    if len(infos) == 1:
        return infos[0]
    return dataclasses.replace(
        infos[0],
        name=f'ensemble({", ".join(info.name for info in infos)})',
        path=', '.join(info.path for info in infos),
        sha256=','.join(info.sha256 for info in infos),
        calibration=None,
    )


def _channel_stats(info: TrainedModelInfo) -> tuple[Tensor, Tensor]:
    """Mean and standard deviation ``(1, C, 1, 1)`` of each channel of *info*."""
    from ..transforms import NormalizeModalities

    normalize = NormalizeModalities(info.stats, info.modalities)
    return torch.as_tensor(normalize.mean), torch.as_tensor(normalize.std)


class ModelEnsemble(nn.Module):
    """Trained detectors run one after another on the same tiles, instances fused.

    ``forward`` takes tiles normalised with the first member's statistics,
    as the scene predictor reads them, and gives every other member the same
    tiles normalised with its own. Per tile, the members' instances that
    overlap at mask IoU ``iou`` or more become one (see
    :func:`~rtsgeo.predict.fuse_detections`, with the members as its
    sources): the mean of their mask probabilities, and the sum of their
    scores over the number of members, so an object one model of three found
    keeps a third of its score. Memory and time grow linearly with the
    number of members.

    One member is run as it is: its output is the ensemble's.
    """

    def __init__(
        self,
        models: Sequence[nn.Module],
        infos: Sequence[TrainedModelInfo],
        mask_threshold: float = 0.5,
        iou: float = 0.5,
    ) -> None:
        """Initialise a new ModelEnsemble.

        Args:
            models: the detectors, each returning per image a dict with
                ``masks`` ``(N, 1, H, W)`` probabilities and ``scores``
                ``(N,)``.
            infos: what each model's file says, in the same order.
            mask_threshold: probability at which a mask pixel is on, for
                matching instances.
            iou: mask IoU at which instances of two members are one object.

        Raises:
            ConfigError: If the counts differ, a threshold is out of range,
                or the members do not fit together (see
                :func:`check_ensemble`).
        """
        super().__init__()
        if len(models) != len(infos):
            msg = f'{len(models)} model(s) but {len(infos)} info(s): give one of each'
            raise ConfigError(msg)
        self.info = ensemble_info(infos)
        for name, value in (('mask_threshold', mask_threshold), ('iou', iou)):
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f'{name}={value}: use a value in [0, 1]')
        self.members = nn.ModuleList(models)
        self.mask_threshold = mask_threshold
        self.iou = iou
        self._renormalise = [False] + [
            self._register_affine(i, infos[0], info)
            for i, info in enumerate(infos[1:], start=1)
        ]

    def _register_affine(
        self, index: int, first: TrainedModelInfo, member: TrainedModelInfo
    ) -> bool:
        """Buffers taking the first member's normalisation to *member*'s.

        ``raw = x * std0 + mean0`` and ``x_k = (raw - mean_k) / std_k``, per
        channel, as ``x_k = x * scale + shift``.

        Returns:
            Whether the statistics differ (else no buffer is needed).
        """
        mean0, std0 = _channel_stats(first)
        mean, std = _channel_stats(member)
        if torch.equal(mean0, mean) and torch.equal(std0, std):
            return False
        self.register_buffer(f'scale_{index}', std0 / std)
        self.register_buffer(f'shift_{index}', (mean0 - mean) / std)
        return True

    def member_inputs(self, images: Tensor, index: int) -> Tensor:
        """*images* (normalised for member 0) normalised for member *index*.

        Pixels that are 0 in every channel (nodata and padding, as the scene
        reader writes them) stay 0.
        """
        if not self._renormalise[index]:
            return images
        scale: Tensor = getattr(self, f'scale_{index}')
        shift: Tensor = getattr(self, f'shift_{index}')
        data = (images != 0).any(1, keepdim=True)
        return (images * scale + shift) * data.to(images.dtype)

    def forward(self, images: Tensor) -> list[dict[str, Tensor]]:
        """Run every member on *images* and fuse their instances per image.

        Args:
            images: ``(B, C, H, W)`` tiles normalised with the first member's
                statistics.

        Returns:
            Per image, ``masks`` ``(N, 1, H, W)`` fused probabilities and
            ``scores`` ``(N,)``, by decreasing score (one member: its own
            output).
        """
        if len(self.members) == 1:
            outputs: list[dict[str, Tensor]] = self.members[0](images)
            return outputs
        from ..predict.inference import fuse_detections

        runs = [
            member(self.member_inputs(images, index))
            for index, member in enumerate(self.members)
        ]
        fused = []
        # Matching counts pixels: in float32 even under autocast.
        with torch.autocast(images.device.type, enabled=False):
            for per_image in zip(*runs, strict=True):
                sources = [
                    (o['masks'][:, 0].float(), o['scores'].float()) for o in per_image
                ]
                masks, scores = fuse_detections(sources, self.mask_threshold, self.iou)
                fused.append({'masks': masks[:, None], 'scores': scores})
        return fused


def load_ensemble(
    paths: Sequence[str | Path],
    map_location: str | torch.device = 'cpu',
    mask_threshold: float = 0.5,
) -> tuple[nn.Module, TrainedModelInfo]:
    """Build an ensemble from trained-model files, in eval mode.

    Args:
        paths: files read with :func:`~rtsgeo.models.load_trained_model`, in
            ensemble order (the first one's statistics, sensor and GSD read
            the scenes).
        map_location: where to load the tensors.
        mask_threshold: probability at which a mask pixel is on, for matching
            instances of different members.

    Returns:
        The :class:`ModelEnsemble` and its :func:`ensemble_info`; for one
        path, that file's model and info, as
        :func:`~rtsgeo.models.load_trained_model` returns them.

    Raises:
        CheckpointError: If a file is missing, unreadable or not a trained
            model.
        ConfigError: If no path is given or the models do not fit together
            (see :func:`check_ensemble`).
    """
    if not paths:
        raise ConfigError('an ensemble needs at least one trained model: give one')
    loaded = [load_trained_model(path, map_location) for path in paths]
    if len(loaded) == 1:
        return loaded[0]
    models, infos = zip(*loaded, strict=True)
    ensemble = ModelEnsemble(models, infos, mask_threshold)
    return ensemble.eval(), ensemble.info
