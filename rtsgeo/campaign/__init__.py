"""Mapping campaigns: many scenes in, one resumable GeoPackage out.

A campaign resolves a scene list (:mod:`~rtsgeo.campaign.scenes`, or STAC
items with :func:`stac_scenes`), maps each
scene with a scene predictor (anything that satisfies
:class:`rtsgeo.predict.protocol.ScenePredictorLike`, usually
:class:`rtsgeo.predict.ScenePredictor`), turns its result into rows
(:mod:`~rtsgeo.campaign.records`, :mod:`~rtsgeo.campaign.schema`) and commits
them scene by scene to a :class:`CampaignStore`, so that an interrupted run
resumes where it stopped. Shards and DDP ranks write their own stores and
:func:`merge_campaigns` joins them; :func:`write_report` draws the result on
one HTML page::

    from rtsgeo.campaign import run_campaign
    from rtsgeo.predict import ScenePredictor

    predictor = ScenePredictor.from_checkpoint('model.pt')
    summary = run_campaign(['scenes/*.tif'], predictor, 'campaign.gpkg')
"""

from .export import FORMATS, export_parquet
from .merge import MergeSummary, merge_campaigns
from .report import ReportSummary, write_report
from .run import CampaignProgress, CampaignSummary, run_campaign
from .scenes import Scene, parse_shard, resolve_scenes, shard_scenes
from .schema import FINAL, LAYERS, STATUSES
from .stac import parse_asset_mapping, stac_scenes
from .store import CampaignStore

__all__ = [
    'FINAL',
    'FORMATS',
    'LAYERS',
    'STATUSES',
    'CampaignProgress',
    'CampaignStore',
    'CampaignSummary',
    'MergeSummary',
    'ReportSummary',
    'Scene',
    'export_parquet',
    'merge_campaigns',
    'parse_asset_mapping',
    'parse_shard',
    'resolve_scenes',
    'run_campaign',
    'shard_scenes',
    'stac_scenes',
    'write_report',
]
