"""A deterministic stand-in for ScenePredictor: an oracle on synthetic scenes.

It reads the instance mask written beside a synthetic scene
(``<root>/mask/<name>.tif``) and vectorises it, so its output is fixed and
known; it raises the errors the real predictor's ``check_scene`` raises.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
import rasterio.features
import shapely
from shapely.geometry import shape

from rtsgeo.campaign import run_campaign
from rtsgeo.campaign.scenes import resolve_scenes, shard_scenes
from rtsgeo.errors import BandNotFoundError, CorruptRasterError, InvalidImageryError
from rtsgeo.modalities import required_bands, resolve_band_names
from rtsgeo.predict import ScenePrediction


@dataclass(frozen=True)
class FakeInfo:
    name: str = 'fake-oracle'
    sha256: str = 'f' * 64
    modalities: tuple[str, ...] = ('rgb', 'ndvi', 'nir')
    sensor: str | None = 'sentinel2'
    path: str = 'fake.pt'
    gsd_m: float | None = None


@dataclass
class FakePredictor:
    info: FakeInfo = field(default_factory=FakeInfo)
    delay: float = 0.0
    fail_on: tuple[str, ...] = ()
    interrupt_on: tuple[str, ...] = ()
    calls: list[str] = field(default_factory=list)

    def check_scene(self, path: str) -> None:
        try:
            with rasterio.open(path) as src:
                crs, descriptions = src.crs, src.descriptions
        except rasterio.errors.RasterioIOError as error:
            raise CorruptRasterError(f'cannot read scene {path}: {error}') from error
        if crs is None or crs.is_geographic:
            raise InvalidImageryError(f'scene {path} has a CRS in degrees ({crs})')
        bands = resolve_band_names(descriptions, path, sensor=self.info.sensor)
        needed = required_bands(self.info.modalities, bands)
        missing = [b for b in needed if b not in bands]
        if missing:
            raise BandNotFoundError(f'scene {path} lacks band(s) {missing}')

    def predict_scene(self, path: str, progress: Any = None) -> ScenePrediction:
        self.calls.append(Path(path).stem)
        if Path(path).stem in self.fail_on:
            raise RuntimeError(f'model failed on {path}')
        if Path(path).stem in self.interrupt_on:
            raise KeyboardInterrupt
        for i in range(4):
            time.sleep(self.delay / 4)
            if progress:
                progress(i + 1, 4)
        with rasterio.open(path) as src:
            image, crs, transform = src.read(), src.crs, src.transform
        valid = (image != 0).any(axis=0)
        mask_path = Path(path).parent.parent / 'mask' / Path(path).name
        with rasterio.open(mask_path) as src:
            mask = src.read(1)
        mask = np.where(valid, mask, 0).astype(np.int32)
        geoms, scores = [], []
        for value in np.unique(mask[mask > 0]):
            parts = [
                shape(g)
                for g, v in rasterio.features.shapes(
                    (mask == value).astype(np.uint8), transform=transform
                )
                if v == 1
            ]
            geoms.append(shapely.union_all(parts))
            scores.append(0.5 + (int(value) % 50) / 100)
        polygons = gpd.GeoDataFrame({'score': scores}, geometry=geoms, crs=crs)
        footprint = [
            shape(g)
            for g, v in rasterio.features.shapes(
                valid.astype(np.uint8), transform=transform
            )
            if v == 1
        ]
        area = float(valid.sum()) * abs(transform.a * transform.e)
        return ScenePrediction(
            path=path,
            scene_id=Path(path).stem,
            crs=crs,
            transform=transform,
            polygons=polygons,
            coverage=shapely.union_all(footprint) if footprint else shapely.Polygon(),
            acquired='2021-07-15',
            tiles=4,
            tiles_skipped=0 if valid.any() else 4,
            valid_area_m2=area,
            scene_gsd_m=abs(transform.a),
        )


def write_shards(tmp_path: Path, scenes: list[Path], count: int = 2) -> list[Path]:
    """Map *scenes* as *count* shard campaigns ``shard{i}.gpkg`` of the fake."""
    resolved = resolve_scenes(scenes)
    shards = []
    for index in range(count):
        shard = tmp_path / f'shard{index}.gpkg'
        run_campaign(shard_scenes(resolved, index, count), FakePredictor(), shard)
        shards.append(shard)
    return shards
