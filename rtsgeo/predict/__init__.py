"""Scene prediction: one scene in, its slump instances and polygons out.

The per-scene predictor runs separate, separately tested stages::

    tile_windows -> SceneReader.read -> forward_tiles -> tile_instances
    -> merge_tile_instances / InstanceMerger -> vectorize_masks

:class:`ScenePredictor` runs them over one scene, streaming the tiles row by
row so that memory does not grow with the scene. Mapping many scenes into one
resumable GeoPackage is :mod:`rtsgeo.campaign`, which uses this package only
through :mod:`rtsgeo.predict.protocol`::

    from rtsgeo.predict import ScenePredictor

    predictor = ScenePredictor.from_checkpoint('model.pt')
    prediction = predictor.predict_scene('scene.tif')
"""

from .coverage import CoverageAccumulator
from .inference import (
    Detections,
    forward_tiles,
    fuse_detections,
    mask_iou,
    tile_instances,
)
from .merge import (
    InstanceMerger,
    MergedInstance,
    TileInstance,
    compose_group,
    merge_tile_instances,
    resolve_overlaps,
    touch_or_overlap,
)
from .reader import SceneReader, acquisition_date
from .scene import PredictorOptions, ScenePrediction, ScenePredictor
from .tiling import Tile, default_overlap, tile_rows, tile_windows
from .vectorize import vectorize_mask, vectorize_masks

__all__ = [
    'CoverageAccumulator',
    'Detections',
    'InstanceMerger',
    'MergedInstance',
    'PredictorOptions',
    'ScenePrediction',
    'ScenePredictor',
    'SceneReader',
    'Tile',
    'TileInstance',
    'acquisition_date',
    'compose_group',
    'default_overlap',
    'forward_tiles',
    'fuse_detections',
    'mask_iou',
    'merge_tile_instances',
    'resolve_overlaps',
    'tile_instances',
    'tile_rows',
    'tile_windows',
    'touch_or_overlap',
    'vectorize_mask',
    'vectorize_masks',
]
