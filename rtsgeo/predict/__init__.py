"""Scene prediction and mapping campaigns: scenes in, one GeoPackage out.

The per-scene predictor runs separate, separately tested stages::

    tile_windows -> SceneReader.read -> forward_tiles -> tile_instances
    -> merge_tile_instances / InstanceMerger -> vectorize_masks

:class:`ScenePredictor` runs them over one scene, streaming the tiles row by
row so that memory does not grow with the scene; :func:`run_campaign` maps a
list of scenes into one resumable GeoPackage::

    from rtsgeo.predict import ScenePredictor, run_campaign

    predictor = ScenePredictor.from_checkpoint('model.pt')
    summary = run_campaign(['scenes/*.tif'], predictor, 'campaign.gpkg')
"""

from ..geometry import polygonal
from .campaign import CampaignSummary, run_campaign
from .coverage import CoverageAccumulator
from .export import export_parquet
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
    merge_tile_instances,
    resolve_overlaps,
    touch_or_overlap,
)
from .reader import SceneReader, acquisition_date
from .scene import PredictorOptions, ScenePrediction, ScenePredictor
from .scenes import Scene, parse_shard, resolve_scenes, shard_scenes
from .tiling import Tile, default_overlap, tile_rows, tile_windows
from .vectorize import vectorize_mask, vectorize_masks
from .writer import GeoPackageWriter

__all__ = [
    'CampaignSummary',
    'CoverageAccumulator',
    'Detections',
    'GeoPackageWriter',
    'InstanceMerger',
    'MergedInstance',
    'PredictorOptions',
    'Scene',
    'ScenePrediction',
    'ScenePredictor',
    'SceneReader',
    'Tile',
    'TileInstance',
    'acquisition_date',
    'compose_group',
    'default_overlap',
    'export_parquet',
    'forward_tiles',
    'mask_iou',
    'merge_tile_instances',
    'merge_tta_detections',
    'parse_shard',
    'polygonal',
    'resolve_overlaps',
    'resolve_scenes',
    'run_campaign',
    'shard_scenes',
    'tile_instances',
    'tile_rows',
    'tile_windows',
    'touch_or_overlap',
    'vectorize_mask',
    'vectorize_masks',
]
