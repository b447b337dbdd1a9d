"""Calibration: fitted curves, tiers, ECE, polygon outcomes, the model file."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from rtsgeo.errors import CheckpointError, ConfigError
from rtsgeo.evaluation import (
    ScoreCalibration,
    evaluate_polygons,
    expected_calibration_error,
    fit_calibration,
    polygon_outcomes,
    reliability_bins,
)
from rtsgeo.evaluation.calibration import tier_thresholds

GRID = np.linspace(0.05, 0.95, 19)


def _sample(curve, n: int = 20000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0, 1, n)
    return scores, rng.uniform(0, 1, n) < curve(scores)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


@pytest.mark.parametrize(
    ('method', 'curve'),
    [
        ('isotonic', lambda s: s**2),
        ('isotonic', lambda s: 0.1 + 0.5 * (s > 0.6)),
        ('platt', lambda s: _sigmoid(2 * _logit(s) - 1)),
        ('temperature', lambda s: _sigmoid(_logit(s) / 2)),
    ],
)
def test_fitted_curve_is_within_005_of_the_true_one(method: str, curve) -> None:
    scores, real = _sample(curve)
    fitted = fit_calibration(scores, real, method=method)
    # the step curve is checked away from its jump
    grid = GRID[np.abs(GRID - 0.6) > 0.06]
    assert np.abs(fitted.probability(grid) - curve(grid)).max() <= 0.05
    assert fitted.n == len(scores) and fitted.positives == int(real.sum())
    # on data whose scores are too confident, calibration lowers the ECE
    assert fitted.ece < fitted.ece_raw


def test_isotonic_is_monotone_and_flat_beyond_the_data() -> None:
    scores = np.array([0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    real = np.array([0, 1, 0, 0, 1, 1], dtype=bool)
    fitted = fit_calibration(scores, real)
    # pool adjacent violators: 0 | (1, 0, 0) -> 1/3 | 1, 1
    want = [0.2, 0.0, 0.4, 1 / 3, 0.65, 1.0]
    assert np.ravel(fitted.knots) == pytest.approx(want)
    p = fitted.probability([0.0, 0.2, 0.3, 0.4, 0.65, 1.0])
    assert p == pytest.approx([0.0, 0.0, 1 / 6, 1 / 3, 1.0, 1.0])
    assert np.all(np.diff(fitted.probability(np.linspace(0, 1, 101))) >= 0)


def test_tiers_reach_their_target_precision() -> None:
    p = np.array([0.95, 0.9, 0.85, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    real = np.array([1, 1, 0, 1, 1, 0, 0, 0, 0, 0], dtype=bool)
    # precision from the top: 1, 1, .67, .75, .8, .67, .57, .5, .44, .4
    high, medium = tier_thresholds(p, real, (0.8, 0.5))
    assert high == 0.6 and medium == 0.3
    fitted = ScoreCalibration(
        'platt', 'iou50', tier_thresholds=(high, medium), tier_precisions=(0.8, 0.5)
    )
    assert list(fitted.tiers([0.6, 0.59, 0.3, 0.29])) == [
        'high',
        'medium',
        'medium',
        'low',
    ]
    assert tier_thresholds(p, np.zeros(10, bool), (0.8, 0.5)) == (None, None)
    empty = ScoreCalibration('platt', 'iou50')
    assert set(empty.tiers(p)) == {'low'}


def test_tied_probabilities_are_cut_together() -> None:
    p = np.array([0.9, 0.5, 0.5, 0.5])
    real = np.array([1, 1, 0, 0], dtype=bool)
    # cutting between the tied 0.5s would claim precision 1.0 at 0.5
    assert tier_thresholds(p, real, (0.6, 0.5)) == (0.9, 0.5)


def test_expected_calibration_error_by_hand() -> None:
    p = np.array([0.05, 0.05, 0.95, 0.95])
    real = np.array([0, 1, 1, 1], dtype=bool)
    # bin 0: mean 0.05 vs 0.5; bin 9: 0.95 vs 1.0; weights 1/2 each
    assert expected_calibration_error(p, real) == pytest.approx(0.25)
    assert reliability_bins(p, real) == [(0.05, 0.5, 2), (0.95, 1.0, 2)]
    assert expected_calibration_error([], []) is None


def test_round_trip_and_errors() -> None:
    scores, real = _sample(lambda s: s**2, n=500)
    fitted = fit_calibration(scores, real, fitted_on='a.gpkg against b.gpkg')
    assert ScoreCalibration.from_dict(fitted.to_dict()) == fitted
    with pytest.raises(ConfigError, match='unknown field'):
        ScoreCalibration.from_dict({**fitted.to_dict(), 'bins': 3})
    with pytest.raises(ConfigError, match="method 'spline'"):
        fit_calibration(scores, real, method='spline')
    with pytest.raises(ConfigError, match='one outcome per score'):
        fit_calibration(scores, real[:-1])
    with pytest.raises(ConfigError, match=r'in \[0, 1\]'):
        fit_calibration(scores + 1, real)
    with pytest.raises(ConfigError, match='no polygon to calibrate on'):
        fit_calibration([], [])
    with pytest.raises(ConfigError, match='increasing score'):
        ScoreCalibration('isotonic', 'iou50', knots=((0.5, 0.1), (0.4, 0.2)))


def test_one_class_and_separable_samples_give_finite_fits() -> None:
    scores = np.linspace(0, 1, 50)
    for real in (np.zeros(50, bool), scores > 0.5):
        for method in ('platt', 'temperature'):
            p = fit_calibration(scores, real, method=method).probability(scores)
            assert np.all(np.isfinite(p))


def _frame(boxes: list[tuple], scores: list[float], **columns) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {'score': scores, **columns},
        geometry=[box(*b) for b in boxes],
        crs='EPSG:32608',
    )


def test_polygon_outcomes_match_touch_or_neither() -> None:
    truth = _frame([(0, 0, 10, 10), (100, 0, 110, 10)], [1, 1])
    pred = _frame(
        [(0, 0, 10, 9), (0, 0, 10, 10), (105, 0, 120, 10), (300, 0, 310, 10)],
        [0.9, 0.8, 0.7, 0.6],
    )
    out = polygon_outcomes(pred, truth)
    # the first takes the square (higher score), the second is a duplicate
    assert list(out['matched']) == [True, False, False, False]
    assert list(out['touches']) == [True, True, True, False]


def test_evaluation_reports_tier_precision_and_ece() -> None:
    truth = _frame([(0, 0, 10, 10), (100, 0, 110, 10)], [1, 1])
    pred = _frame(
        [(0, 0, 10, 10), (100, 0, 110, 10), (300, 0, 310, 10), (500, 0, 510, 10)],
        [0.9, 0.8, 0.7, 0.2],
        probability=[0.9, 0.6, 0.6, 0.1],
        confidence=['high', 'medium', 'medium', 'low'],
    )
    result = evaluate_polygons(pred, truth)
    assert result.tiers == {
        'high': {'n': 1, 'tp': 1, 'precision': 1.0},
        'medium': {'n': 2, 'tp': 1, 'precision': 0.5},
        'low': {'n': 1, 'tp': 0, 'precision': 0.0},
    }
    # bins: 0.9 vs 1 (1), 0.6 vs 0.5 (2), 0.1 vs 0 (1)
    assert result.ece == pytest.approx((0.1 + 2 * 0.1 + 0.1) / 4)
    table = result.to_table()
    assert 'precision medium' in table and '0.5000 (1 of 2)' in table
    assert 'ECE (probability)' in table
    plain = evaluate_polygons(pred.drop(columns=['probability', 'confidence']), truth)
    assert plain.tiers is None and plain.ece is None


def test_model_file_carries_the_calibration(tmp_path: Path) -> None:
    import torch

    from rtsgeo.models import (
        build_model_from_preset,
        get_preset,
        load_trained_model,
        save_trained_model,
        write_calibration,
    )

    name = 'nano_mask_rcnn_rgb'
    torch.manual_seed(0)
    stats = {'rgb': {'mean': [0.0] * 3, 'std': [1.0] * 3}}
    path = save_trained_model(
        tmp_path / 'm.pt', build_model_from_preset(name), get_preset(name), stats
    )
    assert load_trained_model(path)[1].calibration is None
    scores, real = _sample(lambda s: s**2, n=300)
    fitted = fit_calibration(scores, real)
    copy = write_calibration(path, fitted, tmp_path / 'calibrated.pt')
    _, info = load_trained_model(copy)
    assert info.calibration == fitted
    assert load_trained_model(path)[1].calibration is None  # left as it was
    write_calibration(path, fitted)  # in place
    assert load_trained_model(path)[1].calibration == fitted
    raw = torch.load(copy, weights_only=True)
    raw['rtsgeo']['calibration']['method'] = 'spline'
    torch.save(raw, tmp_path / 'bad.pt')
    with pytest.raises(CheckpointError, match=r'bad\.pt: calibration record'):
        load_trained_model(tmp_path / 'bad.pt')
