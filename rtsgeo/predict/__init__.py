"""Scene prediction and mapping campaigns (scenes in, one GeoPackage out)."""

from .campaign import CampaignSummary, run_campaign
from .export import export_parquet
from .scenes import Scene, parse_shard, resolve_scenes, shard_scenes
from .writer import GeoPackageWriter

__all__ = [
    'CampaignSummary',
    'GeoPackageWriter',
    'Scene',
    'export_parquet',
    'parse_shard',
    'resolve_scenes',
    'run_campaign',
    'shard_scenes',
]
