"""What the campaign layer needs from a scene predictor (duck-typed).

:class:`rtsgeo.predict.scene.ScenePredictor` satisfies these protocols; tests
and alternative predictors (an oracle reading ground-truth masks, a remote
service) can stand in for it by providing the same attributes and methods.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import geopandas as gpd
    from affine import Affine
    from rasterio.crs import CRS

    from ..models.trained import TrainedModelInfo

__all__ = ['ScenePredictionLike', 'ScenePredictorLike', 'TileProgress']

#: ``progress(tiles_done, tiles_total)``, called as tiles are processed.
TileProgress = Callable[[int, int], None]


class ScenePredictionLike(Protocol):
    """One scene's prediction, in the scene's native CRS.

    Attributes:
        path: the scene file.
        scene_id: the file stem.
        crs: the scene's native CRS.
        transform: the affine transform of the grid mapped (the scene's own,
            or its grid resampled to the model's GSD).
        polygons: columns ``geometry`` (valid polygons) and ``score``, and
            optionally ``unobserved_fraction`` (NULL in the output without it).
        coverage: footprint of the scene's valid (not nodata) and observed
            pixels.
        acquired: ISO acquisition date, if known.
        tiles: tiles in the scene's grid.
        tiles_skipped: tiles skipped because they held only nodata.
        valid_area_m2: area of the valid pixels.
        scene_gsd_m: the scene's ground sampling distance (metres), if known.

    A prediction may also have ``unobserved_area_m2`` (the area a quality mask
    hid; absent or None: mapped without one).
    """

    path: str
    scene_id: str
    crs: CRS
    transform: Affine
    polygons: gpd.GeoDataFrame
    coverage: Any
    acquired: str | None
    tiles: int
    tiles_skipped: int
    valid_area_m2: float
    scene_gsd_m: float | None


@runtime_checkable
class ScenePredictorLike(Protocol):
    """Maps one scene at a time.

    Attributes:
        info: what the trained-model file says (name, sha256, modalities, ...).
    """

    info: TrainedModelInfo

    def check_scene(self, path: str) -> None:
        """Raise an :mod:`rtsgeo.errors` error if *path* cannot be mapped."""

    def predict_scene(
        self, path: str, progress: TileProgress | None = None
    ) -> ScenePredictionLike:
        """Map one scene."""
        ...
