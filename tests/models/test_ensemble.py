"""Tests of model ensembles: fusion of members' instances, statistics, checks."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import torch
from affine import Affine
from torch import Tensor, nn

from rtsgeo.errors import CheckpointError, ConfigError
from rtsgeo.models import (
    ModelEnsemble,
    TrainedModelInfo,
    check_ensemble,
    ensemble_info,
    file_sha256,
    get_preset,
    load_ensemble,
)
from rtsgeo.predict import PredictorOptions, ScenePredictor, forward_tiles
from rtsgeo.transforms import SceneStretch
from tests.models._nano import write_nano_model
from tests.predict.oracle import OracleModule, oracle_info, write_mask_scene

TRANSFORM = Affine(5.0, 0.0, 500000.0, 0.0, -5.0, 7600000.0)


def _square(top: int, left: int, side: int, size: int = 32) -> Tensor:
    mask = torch.zeros(size, size)
    mask[top : top + side, left : left + side] = 0.9
    return mask


class _Fixed(nn.Module):
    """The same detections for every image; records the images it was given."""

    def __init__(self, masks: list[Tensor], scores: list[float]) -> None:
        super().__init__()
        self.masks = torch.stack(masks) if masks else torch.zeros(0, 32, 32)
        self.scores = torch.tensor(scores, dtype=torch.float32)
        self.seen: list[Tensor] = []

    def forward(self, images: Tensor) -> list[dict[str, Tensor]]:
        self.seen.append(images)
        return [
            {'masks': self.masks[:, None].clone(), 'scores': self.scores.clone()}
            for _ in images
        ]


def _info(name: str, **changes: object) -> TrainedModelInfo:
    info = replace(oracle_info(32), name=name, path=f'{name}.pt', sha256=name * 64)
    return replace(info, **changes)  # type: ignore[arg-type]


def _fuse(*members: _Fixed) -> dict[str, Tensor]:
    infos = [_info(chr(ord('a') + i)) for i in range(len(members))]
    ensemble = ModelEnsemble(members, infos)
    (output,) = ensemble(torch.ones(1, 4, 32, 32))
    return output


def test_full_overlap_becomes_one_instance() -> None:
    obj = _square(4, 4, 8)
    half = obj * 0.5 / 0.9
    fused = _fuse(_Fixed([obj], [0.8]), _Fixed([half + (obj > 0) * 0.3], [0.6]))
    assert fused['masks'].shape == (1, 1, 32, 32)
    assert fused['scores'].tolist() == pytest.approx([0.7])
    # the mean of the members' probabilities: (0.9 + 0.8) / 2 on the object
    assert fused['masks'][0, 0, 8, 8].item() == pytest.approx(0.85)
    assert fused['masks'][0, 0, 20, 20].item() == 0.0


@pytest.mark.parametrize(
    ('shift', 'expected'),
    [
        (1, [(0.9 + 0.7) / 2]),  # IoU 7/9: one object
        (4, [0.9 / 2, 0.7 / 2]),  # IoU 4/12: two, each seen by one model of two
    ],
)
def test_partial_overlap_fuses_only_at_iou_half(
    shift: int, expected: list[float]
) -> None:
    fused = _fuse(
        _Fixed([_square(4, 4, 8)], [0.9]), _Fixed([_square(4 + shift, 4, 8)], [0.7])
    )
    assert fused['scores'].tolist() == pytest.approx(expected)
    if len(expected) == 1:
        # pixels only one member covers are at half its probability
        assert fused['masks'][0, 0, 4, 4].item() == pytest.approx(0.45)
        assert fused['masks'][0, 0, 8, 8].item() == pytest.approx(0.9)


def test_instance_of_one_model_keeps_a_kth_of_its_score() -> None:
    lone = _square(20, 20, 6)
    fused = _fuse(
        _Fixed([_square(2, 2, 8)], [0.9]),
        _Fixed([_square(2, 2, 8), lone], [0.8, 0.9]),
        _Fixed([_square(2, 2, 8)], [0.7]),
    )
    assert fused['scores'].tolist() == pytest.approx([0.8, 0.3])
    # its mask is kept as the model gave it
    torch.testing.assert_close(fused['masks'][1, 0], lone)


def test_members_with_empty_outputs() -> None:
    obj = _square(4, 4, 8)
    fused = _fuse(_Fixed([], []), _Fixed([obj], [0.8]), _Fixed([], []))
    assert fused['scores'].tolist() == pytest.approx([0.8 / 3])
    torch.testing.assert_close(fused['masks'][0, 0], obj)
    nothing = _fuse(_Fixed([], []), _Fixed([], []))
    assert nothing['masks'].shape == (0, 1, 32, 32)
    assert nothing['scores'].shape == (0,)


def test_one_member_is_the_model_itself() -> None:
    member = _Fixed([_square(4, 4, 8), _square(5, 4, 8)], [0.6, 0.9])
    ensemble = ModelEnsemble([member], [_info('a')])
    (output,) = ensemble(torch.ones(1, 4, 32, 32))
    # unfused: the overlapping pair stays two, in the model's order
    assert output['scores'].tolist() == pytest.approx([0.6, 0.9])
    assert ensemble.info == _info('a')


def test_members_see_tiles_normalised_with_their_own_statistics() -> None:
    first, second, same = (_Fixed([], []) for _ in range(3))
    stats = {
        'rgb': {'mean': [500.0, 600.0, 700.0], 'std': [50.0, 200.0, 100.0]},
        'nir': {'mean': [300.0], 'std': [400.0]},
    }
    infos = [_info('a'), _info('b', stats=stats), _info('c')]
    ensemble = ModelEnsemble([first, second, same], infos)
    images = torch.randn(2, 4, 32, 32)
    images[1, :, :5, :7] = 0.0  # nodata and padding: zero in every channel
    images[0, 2, 10, 10] = 0.0  # one zero channel of a pixel with data
    ensemble(images)
    assert first.seen[0] is images and same.seen[0] is images
    mean0 = torch.tensor([550.0] * 4).view(1, 4, 1, 1)
    std0 = torch.tensor([100.0] * 4).view(1, 4, 1, 1)
    mean1 = torch.tensor([500.0, 600.0, 700.0, 300.0]).view(1, 4, 1, 1)
    std1 = torch.tensor([50.0, 200.0, 100.0, 400.0]).view(1, 4, 1, 1)
    raw = images * std0 + mean0
    expected = (raw - mean1) / std1
    expected[1, :, :5, :7] = 0.0
    torch.testing.assert_close(second.seen[0], expected)
    assert second.seen[0][0, 2, 10, 10].item() == pytest.approx((550 - 700) / 100)


def _stretch() -> SceneStretch:
    return SceneStretch.from_ranges({b: (100.0, 1000.0) for b in ('red', 'green')})


@pytest.mark.parametrize(
    ('changes', 'difference'),
    [
        (
            {'config': oracle_info(32).config.with_overrides(modalities=('rgb',))},
            'modalities rgb,nir vs rgb',
        ),
        ({'gsd_m': 3.0}, 'GSD none recorded vs 3 m'),
        ({'config': oracle_info(64).config}, 'image_size 32 vs 64'),
        (
            {'scene_stretch': _stretch()},
            'no per-scene stretch vs a per-scene stretch',
        ),
    ],
)
def test_members_that_do_not_fit_together_are_refused(
    changes: dict[str, object], difference: str
) -> None:
    infos = [_info('a'), _info('b'), _info('c', **changes)]
    message = (
        f'cannot ensemble a.pt with c.pt: {difference}; '
        "an ensemble's models must share modalities, GSD, tile size and "
        'per-scene stretch'
    )
    with pytest.raises(ConfigError) as caught:
        check_ensemble(infos)
    assert str(caught.value) == message
    with pytest.raises(ConfigError, match=r'cannot ensemble a\.pt with c\.pt'):
        ModelEnsemble([_Fixed([], []) for _ in infos], infos)


def test_other_gsd_fixed_size_and_stretch_are_refused() -> None:
    with pytest.raises(ConfigError, match=r'GSD 5 m vs 10 m;'):
        check_ensemble([_info('a', gsd_m=5.0), _info('b', gsd_m=10.0)])
    # Within the 1 % that mapping treats as the same GSD, as rtsgeo map does.
    check_ensemble([_info('a', gsd_m=10.0), _info('b', gsd_m=10.05)])
    nano = get_preset('nano_cascade_rgb')
    flexible = nano.with_overrides(backbone='resnet50')
    assert nano.fixed_input_size and not flexible.fixed_input_size
    with pytest.raises(ConfigError, match='fixed input size True vs False'):
        check_ensemble([_info('a', config=nano), _info('b', config=flexible)])
    other = replace(_stretch(), low=5.0)
    with pytest.raises(ConfigError, match=r'per-scene stretch \(different reference'):
        check_ensemble(
            [_info('a', scene_stretch=_stretch()), _info('b', scene_stretch=other)]
        )
    with pytest.raises(ConfigError, match='at least one trained model'):
        check_ensemble([])
    with pytest.raises(ConfigError, match=r'2 model\(s\) but 1 info'):
        ModelEnsemble([_Fixed([], []), _Fixed([], [])], [_info('a')])


def test_ensemble_info_records_every_member() -> None:
    stats = {
        'rgb': {'mean': [1.0] * 3, 'std': [2.0] * 3},
        'nir': oracle_info().stats['nir'],
    }
    first = _info('a', gsd_m=2.5, sensor='planetscope')
    infos = [first, _info('b', stats=stats, gsd_m=2.5), _info('c', gsd_m=2.5)]
    info = ensemble_info(infos)
    assert info.name == 'ensemble(a, b, c)'
    assert info.sha256 == ','.join(x * 64 for x in 'abc')
    assert info.path == 'a.pt, b.pt, c.pt'
    # every other field is the first member's
    assert replace(info, name='a', sha256='a' * 64, path='a.pt') == first
    assert ensemble_info([first]) is first
    # a member's calibration does not describe the fused score
    from rtsgeo.evaluation import ScoreCalibration

    calibration = ScoreCalibration('platt', 'iou50', slope=2.0)
    calibrated = [replace(x, calibration=calibration) for x in infos]
    assert ensemble_info(calibrated).calibration is None
    assert ensemble_info(calibrated[:1]).calibration == calibration


def test_load_ensemble_of_files(tmp_path: Path) -> None:
    a = write_nano_model(tmp_path / 'a.pt', 0)
    b = write_nano_model(tmp_path / 'b.pt', 1, mean=400.0)
    model, info = load_ensemble([a, b])
    assert isinstance(model, ModelEnsemble) and not model.training
    assert info.name == 'ensemble(a, b)'
    assert info.sha256 == f'{file_sha256(a)},{file_sha256(b)}'
    assert info.stats['rgb']['mean'] == [550.0] * 3  # the first member reads
    with torch.no_grad():
        outputs = model(torch.randn(2, 3, 64, 64))
    assert len(outputs) == 2
    for output in outputs:
        assert output['masks'].shape[1:] == (1, 64, 64)
        assert output['masks'].shape[0] == output['scores'].shape[0]
    single, single_info = load_ensemble([a])
    assert not isinstance(single, ModelEnsemble)
    assert single_info.sha256 == file_sha256(a) and single_info.name == 'a'
    other = write_nano_model(tmp_path / 'c.pt', 2, gsd_m=10.0)
    with pytest.raises(
        ConfigError, match=re.escape(f'cannot ensemble {a} with {other}: GSD')
    ):
        load_ensemble([a, other])
    with pytest.raises(CheckpointError, match=r'gone\.pt'):
        load_ensemble([a, tmp_path / 'gone.pt'])
    with pytest.raises(ConfigError, match='at least one'):
        load_ensemble([])


def _scene(tmp_path: Path, size: int = 160) -> tuple[Path, np.ndarray]:
    rows, cols = np.ogrid[:size, :size]
    truth = (rows - 64) ** 2 + (cols - 64) ** 2 <= 30**2  # across the seams
    truth |= (rows - 120 <= 8) & (rows >= 110) & (cols >= 10) & (cols < 150)
    return write_mask_scene(tmp_path / 's.tif', truth, TRANSFORM, 'EPSG:32608'), truth


@pytest.mark.parametrize('tta', [False, True])
def test_identical_members_map_as_one_model(tmp_path: Path, tta: bool) -> None:
    path, _ = _scene(tmp_path)
    options = PredictorOptions(overlap=16, tta=tta, workers=0)
    alone = ScenePredictor(OracleModule(), oracle_info(64), options).predict_scene(path)
    infos = [replace(oracle_info(64), sha256=x) for x in 'ab']
    ensemble = ModelEnsemble([OracleModule(), OracleModule()], infos)
    both = ScenePredictor(ensemble, ensemble.info, options).predict_scene(path)
    assert len(alone.polygons) > 0
    assert both.polygons['score'].tolist() == alone.polygons['score'].tolist()
    assert both.polygons.geometry.geom_equals_exact(alone.polygons.geometry, 0).all()


def _overlapping_pairs(frame: gpd.GeoDataFrame) -> list[tuple[int, int]]:
    geometries = list(frame.geometry)
    return [
        (int(i), int(j))
        for i, j in zip(*frame.sindex.query(frame.geometry, 'intersects'), strict=True)
        if i < j and geometries[i].intersection(geometries[j]).area > 0
    ]


def test_members_disagreeing_at_a_seam_give_no_overlapping_polygons(
    tmp_path: Path,
) -> None:
    path, _ = _scene(tmp_path)
    infos = [replace(oracle_info(64), sha256=x) for x in 'ab']
    # The second member sees every object, cut by each tile's edges, 30
    # pixels to the right: too far to fuse with the first's, so both are kept
    # (at half their score) and its pieces straddle the first's seams.
    ensemble = ModelEnsemble([OracleModule(), OracleModule(30)], infos)
    maps = []
    for keep in (True, False):
        options = PredictorOptions(overlap=16, score_threshold=0.2, keep_overlaps=keep)
        predictor = ScenePredictor(ensemble, ensemble.info, options)
        maps.append(predictor.predict_scene(path).polygons)
    kept, resolved = maps
    assert _overlapping_pairs(kept) != []  # the members disagree
    assert len(resolved) > 0 and _overlapping_pairs(resolved) == []
    # objects only one member found keep half its score (the oracle's >= 0.6)
    assert (resolved['score'] < 0.5).any()


def test_forward_tiles_with_tta_on_an_ensemble() -> None:
    images = torch.full((1, 4, 32, 32), -1.0)
    images[0, :, 2:10, 3:20] = 1.0
    infos = [replace(oracle_info(32), sha256=x) for x in 'ab']
    ensemble = ModelEnsemble([OracleModule(), OracleModule()], infos)
    (plain,) = forward_tiles(ensemble, images)
    (augmented,) = forward_tiles(ensemble, images, tta=True)
    torch.testing.assert_close(plain[0], augmented[0])
    torch.testing.assert_close(plain[1], augmented[1])
