"""Scene-level evaluation on the real RTS inventories (RTSGEO_DATA_DIR)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
import shapely.affinity

from rtsgeo.evaluation import evaluate_files

pytestmark = pytest.mark.data


def with_scores(
    src: Path, dst: Path, score: float | np.ndarray = 1.0
) -> gpd.GeoDataFrame:
    frame = gpd.read_file(src)
    frame['score'] = score
    frame.to_file(dst, layer='slumps')
    return frame


@pytest.mark.parametrize('name', ['nitze2021', 'huang2022', 'segal2015'])
def test_an_inventory_against_itself(data_dir: Path, tmp_path: Path, name: str) -> None:
    truth = data_dir / 'rts-inventories' / f'{name}.gpkg'
    frame = with_scores(truth, tmp_path / 'pred.gpkg')
    result = evaluate_files(tmp_path / 'pred.gpkg', truth)
    assert result.n_pred == result.n_truth == len(frame)
    assert (result.ap50, result.precision, result.recall, result.f1) == (1, 1, 1, 1)
    assert result.ap == pytest.approx(1.0)


def test_geographic_truth_against_a_polar_copy(data_dir: Path, tmp_path: Path) -> None:
    truth = data_dir / 'rts-inventories' / 'nitze2021.gpkg'
    frame = gpd.read_file(truth).to_crs('EPSG:3413')
    frame['score'] = 1.0
    frame.to_file(tmp_path / 'pred.gpkg', layer='slumps')
    result = evaluate_files(tmp_path / 'pred.gpkg', truth)
    assert result.crs == 'EPSG:3413'
    assert (result.ap50, result.precision, result.recall) == (1, 1, 1)


def test_an_inventory_against_a_jittered_copy(data_dir: Path, tmp_path: Path) -> None:
    """Shift every slump by a random fraction of its size; recall follows IoU."""
    truth_path = data_dir / 'rts-inventories' / 'witharana2022.gpkg'
    truth = gpd.read_file(truth_path)
    truth = truth[truth.is_valid].reset_index(drop=True)
    truth.to_file(tmp_path / 'truth.gpkg')
    rng = np.random.default_rng(0)
    geoms = np.asarray(truth.geometry.array, dtype=object)
    size = np.sqrt(shapely.area(geoms))
    shift = rng.uniform(0, 0.6, (len(geoms), 1)) * size[:, None]
    angle = rng.uniform(0, 2 * np.pi, len(geoms))
    offsets = shift * np.c_[np.cos(angle), np.sin(angle)]
    moved = np.array(
        [shapely.affinity.translate(g, *d) for g, d in zip(geoms, offsets, strict=True)]
    )
    own = shapely.area(shapely.intersection(moved, geoms)) / shapely.area(
        shapely.union(moved, geoms)
    )
    pred = gpd.GeoDataFrame({'score': own}, geometry=moved, crs=truth.crs)
    pred.to_file(tmp_path / 'pred.gpkg', layer='slumps')
    result = evaluate_files(
        tmp_path / 'pred.gpkg', tmp_path / 'truth.gpkg', score_threshold=0.0
    )
    expected = np.mean(own >= 0.5)
    assert 0.3 < expected < 0.9
    # Neighbouring slumps can take a few matches the own copy would have made.
    assert result.recall == pytest.approx(expected, abs=0.03)
    assert result.precision == result.recall  # one prediction per slump
    # Scores are the own IoUs, so the ranking is perfect: every TP comes first.
    assert result.ap50 == pytest.approx(
        np.ceil(result.recall * 100 + 1e-9) / 101, abs=0.02
    )
    assert result.ap < result.ap50  # type: ignore[operator]
