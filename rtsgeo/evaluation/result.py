"""The figures of one evaluation, as a table or a JSON-ready dict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ['EvaluationResult', 'detection_counts']


@dataclass(frozen=True)
class EvaluationResult:
    """AP and precision / recall / F1 of predictions against reference objects.

    Undefined figures are None: AP and recall when there is no truth object,
    precision when no prediction reaches the score threshold, F1 when there
    is neither a prediction above the threshold nor a truth object.

    Attributes:
        ap50: COCO AP at IoU 0.5.
        ap75: COCO AP at IoU 0.75.
        ap: COCO AP averaged over IoU 0.5, 0.55, ..., 0.95.
        precision: ``tp / (tp + fp)`` at :attr:`iou_threshold` and
            :attr:`score_threshold`.
        recall: ``tp / n_truth`` at the same thresholds.
        f1: ``2 tp / (2 tp + fp + fn)``.
        tp: predictions (score >= threshold) matched to a truth object.
        fp: predictions (score >= threshold) left unmatched.
        fn: truth objects left unmatched.
        n_pred: all predictions, whatever their score.
        n_truth: all truth objects.
        n_isolated: predictions (score >= threshold) that touch no truth
            polygon at all: false objects on ground without any slump, the
            kind that accumulates over a large mapped area.
        area_km2: the mapped area the figures cover (km², equal-area), when
            known.
        fp_per_100km2: :attr:`n_isolated` per 100 km² of :attr:`area_km2`;
            None without an area.
        iou_threshold: IoU of a match for precision / recall / F1.
        score_threshold: smallest score of a prediction counted in
            precision / recall / F1 (AP uses every prediction).
        mode: ``'polygons'`` (exact polygon IoU) or ``'coco'`` (pycocotools
            masks).
        crs: the CRS the polygon IoUs were computed in (polygon mode).
        pred: the prediction file, when read from one.
        truth: the truth file, when read from one.
        notes: remarks on how the inputs were read (CRS assumed or chosen,
            geometries dropped or repaired).
        tiers: with a ``confidence`` column (a calibrated map): per tier
            (``high``, ``medium``, ``low``) its predictions ``n``, those
            matched ``tp`` and ``precision`` (None when empty).
        ece: with a ``probability`` column: its expected calibration error
            against a match at :attr:`iou_threshold`.
    """

    ap50: float | None
    ap75: float | None
    ap: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    tp: int
    fp: int
    fn: int
    n_pred: int
    n_truth: int
    iou_threshold: float
    score_threshold: float
    n_isolated: int | None = None
    area_km2: float | None = None
    fp_per_100km2: float | None = None
    mode: str = 'polygons'
    crs: str | None = None
    pred: str | None = None
    truth: str | None = None
    notes: tuple[str, ...] = field(default=())
    tiers: dict[str, dict[str, Any]] | None = None
    ece: float | None = None

    def _fp_rate(self) -> str:
        """The false-positive rate cell of :meth:`to_table`."""
        return (
            f'{self.fp_per_100km2:.2f} ({self.n_isolated} at score >= '
            f'{self.score_threshold:g} touching no reference polygon; '
            f'{self.area_km2:.4g} km² mapped)'
        )

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict (None stays None: JSON ``null``)."""
        row = asdict(self)
        row['notes'] = list(self.notes)
        return row

    def to_table(self) -> str:
        """A readable summary, one figure per line."""

        def fmt(value: float | None, why: str) -> str:
            return f'{value:.4f}' if value is not None else f'n/a ({why})'

        at = f'IoU >= {self.iou_threshold:g}, score >= {self.score_threshold:g}'
        rows = [
            ('AP50', fmt(self.ap50, 'no truth')),
            ('AP75', fmt(self.ap75, 'no truth')),
            ('AP (0.5:0.95)', fmt(self.ap, 'no truth')),
            ('precision', fmt(self.precision, 'no prediction kept')),
            ('recall', fmt(self.recall, 'no truth')),
            ('F1', fmt(self.f1, 'nothing to match')),
            ('TP / FP / FN', f'{self.tp} / {self.fp} / {self.fn}'),
            ('n_pred', str(self.n_pred)),
            ('n_truth', str(self.n_truth)),
        ]
        if self.fp_per_100km2 is not None:  # only where the mapped area is known
            rows.append(('FP / 100 km²', self._fp_rate()))
        if self.ece is not None:
            rows.append(('ECE (probability)', f'{self.ece:.4f}'))
        for tier, row in (self.tiers or {}).items():
            cell = fmt(row['precision'], 'empty')
            rows.append((f'precision {tier}', f'{cell} ({row["tp"]} of {row["n"]})'))
        how = 'exact polygon IoU' if self.mode == 'polygons' else 'COCO mask IoU'
        where = f' in {self.crs}' if self.crs else ''
        lines = [f'{how}{where}; P/R/F1 at {at}']
        width = max(len(name) for name, _ in rows)
        lines += [f'  {name:<{width}}  {value}' for name, value in rows]
        lines += [f'  note: {note}' for note in self.notes]
        return '\n'.join(lines)


def detection_counts(
    tp: int, n_kept: int, n_truth: int
) -> tuple[float | None, float | None, float | None]:
    """Precision, recall and F1 from counts (None where undefined).

    Args:
        tp: matched predictions.
        n_kept: predictions above the score threshold.
        n_truth: truth objects.

    Returns:
        ``(precision, recall, f1)``.
    """
    fp, fn = n_kept - tp, n_truth - tp
    precision = tp / n_kept if n_kept else None
    recall = tp / n_truth if n_truth else None
    f1 = 2 * tp / (2 * tp + fp + fn) if (n_kept or n_truth) else None
    return precision, recall, f1
