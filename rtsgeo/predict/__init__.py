"""The scene predictor: tiles, batched inference, cross-tile merge, polygons.

Each stage is a separate function or class, tested on its own::

    tile_windows -> SceneReader.read -> forward_tiles -> tile_instances
    -> merge_tile_instances / InstanceMerger -> vectorize_masks

and :class:`ScenePredictor` runs them over one scene, streaming the tiles row
by row so that memory does not grow with the scene::

    from rtsgeo.predict import ScenePredictor

    predictor = ScenePredictor.from_checkpoint('model.pt')
    prediction = predictor.predict_scene('scene.tif')
    prediction.polygons.to_file('slumps.gpkg')
"""

from .coverage import CoverageAccumulator
from .inference import (
    Detections,
    forward_tiles,
    mask_iou,
    merge_tta_detections,
    tile_instances,
)
from .merge import (
    InstanceMerger,
    MergedInstance,
    TileInstance,
    compose_group,
    match_scores,
    merge_tile_instances,
)
from .reader import SceneReader, acquisition_date
from .scene import ScenePrediction, ScenePredictor
from .tiling import Tile, default_overlap, tile_rows, tile_windows
from .vectorize import polygonal, vectorize_mask, vectorize_masks

__all__ = [
    'CoverageAccumulator',
    'Detections',
    'InstanceMerger',
    'MergedInstance',
    'ScenePrediction',
    'ScenePredictor',
    'SceneReader',
    'Tile',
    'TileInstance',
    'acquisition_date',
    'compose_group',
    'default_overlap',
    'forward_tiles',
    'mask_iou',
    'match_scores',
    'merge_tile_instances',
    'merge_tta_detections',
    'polygonal',
    'tile_instances',
    'tile_rows',
    'tile_windows',
    'vectorize_mask',
    'vectorize_masks',
]
