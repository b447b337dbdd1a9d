"""Calibrated scores: from a detection score to the probability of a real slump.

A detector's score ranks its objects but says nothing about how often an
object at that score is a slump. A :class:`ScoreCalibration` is a monotone
mapping, fitted on a map of land the model did not train on (a validation
fold of :func:`~rtsgeo.evaluation.site_folds`), from the raw score to the
share of objects at that score that are real, under one of two targets:

* ``iou50``: the polygon matches a reference slump at IoU >= 0.5 (COCO
  greedy matching, as :func:`~rtsgeo.evaluation.evaluate_polygons` counts a
  true positive);
* ``touch``: the polygon touches a reference slump at all (a slump was found,
  whatever the outline).

Three methods fit the mapping:

* ``isotonic`` (default): pool-adjacent-violators regression of the outcome
  on the score, read between the fitted block centres by linear
  interpolation (flat beyond the first and last);
* ``platt``: ``p = sigmoid(a * logit(score) + b)``, by maximum likelihood;
* ``temperature``: the same with ``b = 0`` (``a = 1 / T``).

Confidence tiers come with the fit: ``high`` for the polygons whose
probability reaches the smallest threshold at which the fitting map's
polygons above it reach the first target precision (0.8 by default),
``medium`` likewise for the second (0.5), ``low`` for the rest. A tier whose
precision no threshold reaches on the fitting map is left empty.

The expected calibration error (ECE) is the mean absolute gap between the
mean probability and the share of real slumps in ten equal-width probability
bins, weighted by the bins' counts.
"""

from __future__ import annotations

import dataclasses
import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = [
    'CALIBRATION_METHODS',
    'CALIBRATION_TARGETS',
    'CONFIDENCE_TIERS',
    'ScoreCalibration',
    'calibrate_files',
    'expected_calibration_error',
    'fit_calibration',
    'plot_reliability',
    'reliability_bins',
    'tier_thresholds',
]

#: Method name -> what it fits.
CALIBRATION_METHODS: dict[str, str] = {
    'isotonic': 'monotone step fit (pool adjacent violators), interpolated',
    'platt': 'sigmoid(a * logit(score) + b)',
    'temperature': 'sigmoid(logit(score) / T)',
}

#: Target name -> when a polygon counts as a real slump.
CALIBRATION_TARGETS: dict[str, str] = {
    'iou50': 'it matches a reference slump at IoU >= 0.5',
    'touch': 'it touches a reference slump',
}

#: Confidence tiers, most confident first.
CONFIDENCE_TIERS: tuple[str, str, str] = ('high', 'medium', 'low')

#: Target precisions of the ``high`` and ``medium`` tiers.
DEFAULT_TIER_PRECISIONS: tuple[float, float] = (0.8, 0.5)

_EPS = 1e-6
_BINS = 10


@dataclass(frozen=True)
class ScoreCalibration:
    """A fitted mapping from raw score to probability, and confidence tiers.

    Attributes:
        method: a :data:`CALIBRATION_METHODS` name.
        target: a :data:`CALIBRATION_TARGETS` name.
        knots: isotonic only: ``(score, probability)`` pairs, by increasing
            score, between which the mapping is linear.
        slope: platt and temperature: ``a`` of ``sigmoid(a * logit(s) + b)``.
        intercept: platt: ``b`` (0 for temperature).
        tier_thresholds: the probability at which the ``high`` and
            ``medium`` tiers begin; None: the tier is empty.
        tier_precisions: the target precisions the thresholds were chosen for.
        n: polygons the mapping was fitted on.
        positives: of those, real slumps under :attr:`target`.
        ece_raw: expected calibration error of the raw score on the fitting
            map.
        ece: the same for the fitted probability.
        fitted_on: the prediction and truth files it was fitted on.
        model_sha256: SHA-256 of the model file that made the fitting map
            (before any calibration was written into it): maps made with
            the file before and after calibrating are maps of one model.
    """

    method: str
    target: str
    knots: tuple[tuple[float, float], ...] = ()
    slope: float = 1.0
    intercept: float = 0.0
    tier_thresholds: tuple[float | None, float | None] = (None, None)
    tier_precisions: tuple[float, float] = DEFAULT_TIER_PRECISIONS
    n: int = 0
    positives: int = 0
    ece_raw: float | None = None
    ece: float | None = None
    fitted_on: str = ''
    model_sha256: str = ''

    def __post_init__(self) -> None:
        """Check the method, target, knots and thresholds.

        Raises:
            ConfigError: If a field is out of its range.
        """
        _check_choice('method', self.method, CALIBRATION_METHODS)
        _check_choice('target', self.target, CALIBRATION_TARGETS)
        if self.method == 'isotonic':
            xs = [x for x, _ in self.knots]
            ys = [y for _, y in self.knots]
            if not xs or np.any(np.diff(xs) <= 0) or np.any(np.diff(ys) < 0):
                msg = 'isotonic calibration needs knots of increasing score'
                raise ConfigError(msg)
            if not all(0 <= v <= 1 for v in (*xs, *ys)):
                raise ConfigError('isotonic calibration knots must lie in [0, 1]')
        elif not (math.isfinite(self.slope) and math.isfinite(self.intercept)):
            raise ConfigError(f'{self.method} calibration has a non-finite parameter')
        for value in (*self.tier_thresholds, *self.tier_precisions):
            if value is not None and not 0 <= value <= 1:
                msg = f'tier threshold or precision {value} is not in [0, 1]'
                raise ConfigError(msg)

    def probability(self, scores: Sequence[float] | np.ndarray) -> np.ndarray:
        """The probability that an object of each score is a real slump.

        Args:
            scores: raw detection scores in ``[0, 1]``.

        Returns:
            Probabilities, same shape, float64.
        """
        s = np.asarray(scores, dtype=float)
        if self.method == 'isotonic':
            xs, ys = np.array(self.knots, dtype=float).T
            return np.interp(s, xs, ys)
        return _sigmoid(self.slope * _logit(s) + self.intercept)

    def tiers(self, probabilities: Sequence[float] | np.ndarray) -> np.ndarray:
        """The confidence tier of each probability (``high``/``medium``/``low``).

        Args:
            probabilities: output of :meth:`probability`.

        Returns:
            An object array of tier names.
        """
        p = np.asarray(probabilities, dtype=float)
        out = np.full(p.shape, CONFIDENCE_TIERS[2], dtype=object)
        high, medium = self.tier_thresholds
        if medium is not None:
            out[p >= medium] = CONFIDENCE_TIERS[1]
        if high is not None:
            out[p >= high] = CONFIDENCE_TIERS[0]
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain values (lists, floats, str) for a trained-model file or JSON."""
        row: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        row['knots'] = [list(k) for k in self.knots]
        row['tier_thresholds'] = list(self.tier_thresholds)
        row['tier_precisions'] = list(self.tier_precisions)
        return row

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ScoreCalibration:
        """The calibration :meth:`to_dict` wrote.

        Raises:
            ConfigError: If a key is unknown or a value out of range.
        """
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            msg = (
                f'calibration has unknown field(s) {sorted(unknown)}: '
                'was it written by a newer rtsgeo?'
            )
            raise ConfigError(msg)
        plain = dict(values)
        plain['knots'] = tuple((float(x), float(y)) for x, y in plain.get('knots', ()))
        high, medium = plain.get('tier_thresholds', (None, None))
        plain['tier_thresholds'] = (high, medium)
        plain['tier_precisions'] = tuple(
            plain.get('tier_precisions', DEFAULT_TIER_PRECISIONS)
        )
        return cls(**plain)

    def summary(self) -> str:
        """One line: method, target, counts, ECE and tier thresholds."""
        high, medium = self.tier_thresholds

        def at(value: float | None) -> str:
            return 'empty' if value is None else f'p >= {value:.3f}'

        ece = (
            ''
            if self.ece_raw is None or self.ece is None
            else f'; ECE on the fitting map {self.ece_raw:.3f} -> {self.ece:.3f}'
        )
        return (
            f'{self.method} calibration, target {self.target} '
            f'({self.positives} of {self.n} polygons real){ece}; tiers: high '
            f'{at(high)} (precision {self.tier_precisions[0]:g}), medium '
            f'{at(medium)} (precision {self.tier_precisions[1]:g})'
        )


def fit_calibration(
    scores: Sequence[float] | np.ndarray,
    outcomes: Sequence[bool] | np.ndarray,
    *,
    method: str = 'isotonic',
    target: str = 'iou50',
    tier_precisions: tuple[float, float] = DEFAULT_TIER_PRECISIONS,
    fitted_on: str = '',
    model_sha256: str = '',
) -> ScoreCalibration:
    """Fit a score-to-probability mapping on polygons of known outcome.

    Args:
        scores: raw scores of the polygons of a validation map.
        outcomes: whether each polygon is a real slump under *target*.
        method: a :data:`CALIBRATION_METHODS` name.
        target: the :data:`CALIBRATION_TARGETS` name *outcomes* follow.
        tier_precisions: target precisions of the high and medium tiers.
        fitted_on: where the polygons came from, recorded with the fit.
        model_sha256: the model file that mapped them, recorded with the fit.

    Returns:
        The fitted calibration, with its tiers and ECEs on the fitting data.

    Raises:
        ConfigError: If the inputs differ in length, a score is outside
            ``[0, 1]``, there are no polygons, or the method is unknown.
    """
    s = np.asarray(scores, dtype=float)
    y = np.asarray(outcomes, dtype=bool)
    if s.shape != y.shape or s.ndim != 1:
        msg = f'{len(s)} scores and {len(y)} outcomes: give one outcome per score'
        raise ConfigError(msg)
    if len(s) == 0:
        msg = 'no polygon to calibrate on: map validation scenes with slumps first'
        raise ConfigError(msg)
    if not np.all(np.isfinite(s) & (s >= 0) & (s <= 1)):
        raise ConfigError('scores must be finite numbers in [0, 1]')
    _check_choice('method', method, CALIBRATION_METHODS)  # before fitting
    if method == 'isotonic':
        knots = _isotonic_knots(s, y)
        fitted = ScoreCalibration(method, target, knots=knots)
    else:
        slope, intercept = _fit_sigmoid(s, y, with_intercept=method == 'platt')
        fitted = ScoreCalibration(method, target, slope=slope, intercept=intercept)
    probabilities = fitted.probability(s)
    return dataclasses.replace(
        fitted,
        tier_thresholds=tier_thresholds(probabilities, y, tier_precisions),
        tier_precisions=tier_precisions,
        n=len(s),
        positives=int(y.sum()),
        ece_raw=expected_calibration_error(s, y),
        ece=expected_calibration_error(probabilities, y),
        fitted_on=fitted_on,
        model_sha256=model_sha256,
    )


def _check_choice(kind: str, value: str, choices: Mapping[str, str]) -> None:
    """Refuse a calibration *kind* (method, target) that is not one of *choices*.

    Raises:
        ConfigError: If *value* is not a key of *choices*.
    """
    if value not in choices:
        msg = f'calibration {kind} {value!r}: use one of {sorted(choices)}'
        raise ConfigError(msg)


def tier_thresholds(
    probabilities: np.ndarray, outcomes: np.ndarray, precisions: Sequence[float]
) -> tuple[float | None, float | None]:
    """Per target precision, the lowest probability whose polygons above reach it.

    Args:
        probabilities: calibrated probabilities of the fitting polygons.
        outcomes: whether each is a real slump.
        precisions: the high and medium target precisions.

    Returns:
        The thresholds (None where no threshold reaches the precision).
    """
    order = np.argsort(-probabilities, kind='mergesort')
    p, y = probabilities[order], outcomes[order].astype(float)
    cumulative = np.cumsum(y) / np.arange(1, len(y) + 1)
    # A threshold keeps every polygon at or above it: only the last of a run
    # of equal probabilities is a possible cut.
    last = np.r_[p[1:] != p[:-1], True]
    out: list[float | None] = []
    for target in precisions:
        ok = np.flatnonzero(last & (cumulative >= target))
        out.append(float(p[ok[-1]]) if len(ok) else None)
    return out[0], out[1]


def reliability_bins(
    probabilities: Sequence[float] | np.ndarray,
    outcomes: Sequence[bool] | np.ndarray,
    bins: int = _BINS,
) -> list[tuple[float, float, int]]:
    """Per equal-width bin of ``[0, 1]``: mean probability, share real, count.

    Args:
        probabilities: predicted probabilities (or raw scores).
        outcomes: whether each polygon is a real slump.
        bins: number of bins.

    Returns:
        ``(mean probability, share real, count)`` of each non-empty bin.
    """
    p = np.asarray(probabilities, dtype=float)
    y = np.asarray(outcomes, dtype=float)
    index = np.clip((p * bins).astype(int), 0, bins - 1)
    rows = []
    for b in range(bins):
        inside = index == b
        count = int(inside.sum())
        if count:
            rows.append((float(p[inside].mean()), float(y[inside].mean()), count))
    return rows


def expected_calibration_error(
    probabilities: Sequence[float] | np.ndarray,
    outcomes: Sequence[bool] | np.ndarray,
    bins: int = _BINS,
) -> float | None:
    """Count-weighted mean gap between probability and share real, over bins.

    Returns:
        The ECE in ``[0, 1]``; None without polygons.
    """
    rows = reliability_bins(probabilities, outcomes, bins)
    total = sum(count for _, _, count in rows)
    if total == 0:
        return None
    return float(sum(abs(p - y) * count for p, y, count in rows) / total)


def plot_reliability(
    path: str | Path,
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    title: str,
) -> Path:
    """Write a reliability diagram (PNG) of one or more score columns.

    Args:
        path: the PNG to write.
        curves: label -> ``(probabilities, outcomes)``.
        title: the figure title.

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=120)
    ax.plot([0, 1], [0, 1], color='0.6', lw=1, ls='--', label='perfectly calibrated')
    for label, (p, y) in curves.items():
        rows = reliability_bins(p, y)
        ece = expected_calibration_error(p, y)
        ax.plot(
            [r[0] for r in rows],
            [r[1] for r in rows],
            marker='o',
            label=f'{label} (ECE {ece:.3f})' if ece is not None else label,
        )
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel='predicted probability (bin mean)',
        ylabel='share of real slumps',
    )
    ax.set_title(textwrap.fill(title, 48), fontsize=9)
    ax.legend(loc='upper left', fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _isotonic_knots(s: np.ndarray, y: np.ndarray) -> tuple[tuple[float, float], ...]:
    """Pool adjacent violators; the blocks' mean scores and values."""
    order = np.argsort(s, kind='mergesort')
    xs, ys = s[order], y[order].astype(float)
    # Equal scores form one block from the start.
    starts = np.r_[0, np.flatnonzero(np.diff(xs)) + 1]
    weights = list(np.diff(np.r_[starts, len(xs)]).astype(float))
    sums_x = list(np.add.reduceat(xs, starts))
    sums_y = list(np.add.reduceat(ys, starts))
    w: list[float] = []
    sx: list[float] = []
    sy: list[float] = []
    for wi, xi, yi in zip(weights, sums_x, sums_y, strict=True):
        w.append(wi)
        sx.append(xi)
        sy.append(yi)
        while len(w) > 1 and sy[-2] / w[-2] >= sy[-1] / w[-1]:
            # merge the last two blocks (ties too: fewer, wider knots)
            wl, xl, yl = w.pop(), sx.pop(), sy.pop()
            w[-1] += wl
            sx[-1] += xl
            sy[-1] += yl
    return tuple(
        (float(x / n), float(v / n)) for n, x, v in zip(w, sx, sy, strict=True)
    )


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, _EPS, 1 - _EPS)
    return np.log(q) - np.log1p(-q)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * z))


def _fit_sigmoid(
    s: np.ndarray, y: np.ndarray, with_intercept: bool
) -> tuple[float, float]:
    """Maximum-likelihood ``a`` (and ``b``) of ``sigmoid(a * logit(s) + b)``.

    Newton's method on the logistic log-likelihood, with a small ridge so
    that a separable or one-class sample still gives finite parameters.
    """
    x = _logit(s)
    design = np.stack([x, np.ones_like(x)], 1) if with_intercept else x[:, None]
    theta = np.zeros(design.shape[1])
    theta[0] = 1.0
    ridge = 1e-3 * len(x)
    for _ in range(100):
        p = _sigmoid(design @ theta)
        grad = design.T @ (p - y) + ridge * (theta - np.eye(len(theta))[0])
        hess = (design * (p * (1 - p))[:, None]).T @ design + ridge * np.eye(len(theta))
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(theta[0]), float(theta[1]) if with_intercept else 0.0


def calibrate_files(
    pred: str | Path,
    truth: str | Path,
    checkpoint: str | Path,
    *,
    out: str | Path | None = None,
    method: str = 'isotonic',
    target: str = 'iou50',
    tier_precisions: tuple[float, float] = DEFAULT_TIER_PRECISIONS,
    layer: str | None = None,
    truth_layer: str | None = None,
    where: str | None = None,
    plot: str | Path | None = None,
) -> tuple[ScoreCalibration, Path]:
    """Fit a calibration on a validation map and store it in the model file.

    Args:
        pred: the map of validation scenes (``rtsgeo map`` output, or any
            vector file of polygons with a ``score`` column), made with
            *checkpoint* on land it did not train on.
        truth: the reference slumps of those scenes (any CRS).
        checkpoint: the trained-model file that made *pred*.
        out: where to write the calibrated model file; None: *checkpoint*.
        method: a :data:`CALIBRATION_METHODS` name.
        target: a :data:`CALIBRATION_TARGETS` name.
        tier_precisions: target precisions of the high and medium tiers.
        layer: layer of *pred* (default ``slumps`` or its only layer).
        truth_layer: layer of *truth*.
        where: SQL clause keeping rows of *pred*.
        plot: a reliability diagram (PNG) to write; None: none.

    Returns:
        The calibration and the model file written.

    Raises:
        ConfigError: If *pred* records another model than *checkpoint*, or
            an option is out of range.
        RTSGeoError: The errors of the readers and of the model file.
    """
    from ..models import file_sha256, read_calibration, write_calibration
    from .polygons import polygon_outcomes
    from .readers import read_polygons

    _check_choice('target', target, CALIBRATION_TARGETS)
    if not all(0 < p <= 1 for p in tier_precisions):
        msg = f'tier precisions {tier_precisions}: give two numbers in (0, 1]'
        raise ConfigError(msg)
    frame = read_polygons(pred, layer=layer, where=where, score_column='score')
    sha256, earlier = file_sha256(checkpoint), read_calibration(checkpoint)
    # The file's SHA-256 before any calibration was written into it.
    base = sha256 if earlier is None else earlier.model_sha256
    _check_same_model(frame, pred, checkpoint, {sha256, base})
    reference = read_polygons(truth, layer=truth_layer)
    outcomes = polygon_outcomes(frame, reference)
    scores = outcomes['score'].to_numpy(dtype=float)
    real = outcomes['matched' if target == 'iou50' else 'touches'].to_numpy(bool)
    calibration = fit_calibration(
        scores,
        real,
        method=method,
        target=target,
        tier_precisions=tier_precisions,
        fitted_on=f'{Path(pred).name} against {Path(truth).name}',
        model_sha256=base,
    )
    written = write_calibration(checkpoint, calibration, out)
    if plot is not None:
        curves = {'raw score': (scores, real)}
        curves[f'probability ({method})'] = (calibration.probability(scores), real)
        title = f'{Path(pred).name}: {len(scores)} polygons, target {target}'
        plot_reliability(plot, curves, title)
    return calibration, written


def _check_same_model(
    frame: Any, pred: str | Path, checkpoint: str | Path, model: set[str]
) -> None:
    """Refuse a map that records another model than *checkpoint*.

    Args:
        frame: the map's polygons.
        pred: its file, for the message.
        checkpoint: the model file, for the message.
        model: SHA-256s of the model file, as it is and before calibration.

    Raises:
        ConfigError: If the map's ``checkpoint_sha256`` names another file.
    """
    if 'checkpoint_sha256' not in frame.columns:
        return  # not an rtsgeo map: the user vouches for it
    others = set(frame['checkpoint_sha256'].dropna().astype(str)) - model
    if others:
        msg = (
            f'{pred} was mapped with another model file (sha256 '
            f'{sorted(others)[0][:12]}...) than {checkpoint}: map the validation '
            f'scenes with {checkpoint} first'
        )
        raise ConfigError(msg)
