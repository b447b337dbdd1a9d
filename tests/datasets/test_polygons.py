from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import rasterio.features
import shapely
import torch
from pyproj import CRS
from torchgeo.datasets import IntersectionDataset, RasterDataset

from rtsgeo.datasets import join_samples
from rtsgeo.datasets.polygons import InstancePolygonDataset
from rtsgeo.datasets.synthetic import make_synthetic_dataset, make_synthetic_scene
from rtsgeo.errors import (
    ConfigError,
    CorruptLabelsError,
    DataNotFoundError,
    EmptyLabelsError,
    InvalidPolygonsError,
)

UTM = 'EPSG:32608'
X0, Y1, RES = 500000.0, 7600000.0, 10.0


def pixel_box(col0: int, row0: int, col1: int, row1: int) -> shapely.Polygon:
    """Polygon on pixel edges of the 10 m UTM test grid (col1, row1 exclusive)."""
    return shapely.box(
        X0 + col0 * RES, Y1 - row1 * RES, X0 + col1 * RES, Y1 - row0 * RES
    )


def query(ds: InstancePolygonDataset, cols: int = 32, rows: int = 32) -> dict:
    return ds[X0 : X0 + cols * RES : RES, Y1 - rows * RES : Y1 : RES]


def assert_boxes_enclose_masks(sample: dict) -> None:
    for mask, box in zip(sample['mask'].bool(), sample['bbox_xyxy'], strict=True):
        rows, cols = torch.nonzero(mask, as_tuple=True)
        assert box.tolist() == [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]


@pytest.fixture
def labels(tmp_path: Path) -> gpd.GeoDataFrame:
    """Square, MultiPolygon, overlapping pair, sub-pixel sliver, edge-cut square."""
    geoms = [
        pixel_box(2, 3, 6, 7),
        shapely.MultiPolygon([pixel_box(10, 1, 12, 3), pixel_box(14, 1, 16, 3)]),
        pixel_box(20, 20, 25, 25),
        pixel_box(23, 23, 28, 28),
        shapely.box(X0 + 101, Y1 - 104, X0 + 103, Y1 - 101),
        pixel_box(28, 5, 40, 9),
    ]
    dates = ['2019-07-01', '2019-07-01', '2019-07-01', '2019-08-01', '2019-07-01']
    return gpd.GeoDataFrame({'date': [*dates, '2019-07-01']}, geometry=geoms, crs=UTM)


def test_geojson_in_4326_over_utm_grid(
    tmp_path: Path, labels: gpd.GeoDataFrame
) -> None:
    path = tmp_path / 'labels.geojson'
    labels.to_crs('EPSG:4326').to_file(path, driver='GeoJSON')
    ds = InstancePolygonDataset(path, UTM, RES)
    assert ds.crs == CRS.from_user_input(UTM)
    assert len(ds.geometries) == 6
    sample = query(ds)
    assert sample['crs'] == CRS.from_user_input(UTM)
    # The sliver covers no pixel centre: five instances, in file order.
    assert sample['mask'].shape == (5, 32, 32)
    assert sample['bbox_xyxy'].tolist() == [
        [2, 3, 6, 7],
        [10, 1, 16, 3],
        [20, 20, 25, 25],
        [23, 23, 28, 28],
        [28, 5, 32, 9],
    ]
    assert sample['label'].tolist() == [1] * 5
    assert sample['mask'][0].sum() == 16
    assert sample['mask'][1].sum() == 8  # the two parts of the MultiPolygon
    assert sample['mask'][4].sum() == 16  # cut by the window's right edge
    assert_boxes_enclose_masks(sample)


def test_shapefile_utm_where_dissolve_min_area(
    tmp_path: Path, labels: gpd.GeoDataFrame
) -> None:
    path = tmp_path / 'labels.shp'
    labels.to_crs('EPSG:32607').to_file(path)
    dissolved = InstancePolygonDataset(path, UTM, RES, dissolve=True)
    boxes = query(dissolved)['bbox_xyxy'].tolist()
    assert [20, 20, 28, 28] in boxes
    assert len(boxes) == 4
    july = InstancePolygonDataset(path, UTM, RES, where="date == '2019-07-01'")
    assert len(july.geometries) == 5
    assert [23, 23, 28, 28] not in query(july)['bbox_xyxy'].tolist()
    big = InstancePolygonDataset(path, UTM, RES, min_area=17)
    assert query(big)['bbox_xyxy'].tolist() == [[20, 20, 25, 25], [23, 23, 28, 28]]


def test_partial_window_and_folder(tmp_path: Path, labels: gpd.GeoDataFrame) -> None:
    labels.to_file(tmp_path / 'a.gpkg', layer='rts')
    (tmp_path / 'notes.txt').write_text('not labels')
    ds = InstancePolygonDataset(tmp_path, None, RES, layer='rts')
    assert ds.crs == CRS.from_user_input(UTM)
    # Window of columns 4-11, rows 2-5 at 10 m: two instances, clipped.
    sample = ds[X0 + 40 : X0 + 120 : RES, Y1 - 60 : Y1 - 20 : RES]
    assert sample['mask'].shape == (2, 4, 8)
    assert sample['bbox_xyxy'].tolist() == [[0, 1, 2, 4], [6, 0, 8, 1]]
    # Half the resolution: the window grid follows the query's step.
    fine = ds[X0 + 40 : X0 + 120 : 5.0, Y1 - 60 : Y1 - 20 : 5.0]
    assert fine['mask'].shape == (2, 8, 16)
    with pytest.raises(IndexError, match='not found in index'):
        ds[X0 + 1e6 : X0 + 1e6 + 320 : RES, Y1 - 320 : Y1 : RES]


def test_extent_labels_windows_without_polygons(
    tmp_path: Path, labels: gpd.GeoDataFrame
) -> None:
    labels.to_file(tmp_path / 'a.gpkg')
    far = (slice(X0 + 5000, X0 + 5320, RES), slice(Y1 - 320, Y1, RES))
    with pytest.raises(IndexError, match='not found in index'):
        InstancePolygonDataset(tmp_path / 'a.gpkg', UTM, RES)[far]
    extent = shapely.box(X0, Y1 - 1000, X0 + 6000, Y1)
    ds = InstancePolygonDataset(tmp_path / 'a.gpkg', UTM, RES, extent=extent)
    assert ds.index.geometry.iloc[0].equals(extent)
    assert ds[far]['mask'].shape == (0, 32, 32)  # no slump there
    ds.crs = CRS.from_user_input('EPSG:3413')
    assert ds.index.geometry.iloc[0].area == pytest.approx(extent.area, rel=0.05)


def test_crs_setter_reprojects_cache(tmp_path: Path, labels: gpd.GeoDataFrame) -> None:
    labels.to_file(tmp_path / 'a.gpkg')
    ds = InstancePolygonDataset(tmp_path / 'a.gpkg', 'EPSG:4326', RES)
    ds.crs = CRS.from_user_input(UTM)
    assert ds.geometries.crs == CRS.from_user_input(UTM)
    assert query(ds)['bbox_xyxy'][0].tolist() == [2, 3, 6, 7]


def test_intersection_with_synthetic_scene(tmp_path: Path) -> None:
    scene = make_synthetic_scene(tmp_path / 'scene', seed=1, size=256)
    geojson = tmp_path / 'slumps.geojson'
    gpd.read_file(scene.labels_path).to_crs('EPSG:4326').to_file(geojson)

    class Image(RasterDataset):
        filename_glob = '*.tif'

    image = Image(scene.image_path.parent)
    # rtsgeo's samples carry metadata and ragged targets that TorchGeo's
    # default collate_fn (concatenate everything) cannot join.
    ds = IntersectionDataset(
        image,
        InstancePolygonDataset(geojson, image.crs, image.res),
        collate_fn=join_samples,
    )
    left, bottom, right, top = scene.bounds
    sample = ds[left:right:5.0, bottom:top:5.0]
    with rasterio.open(scene.mask_path) as src:
        ids = src.read(1)
    assert sample['image'].shape == (4, 256, 256)
    assert sample['mask'].shape == (scene.n_slumps, 256, 256)
    # Labels went to degrees and back: the masks still match pixel for pixel.
    for i, mask in enumerate(sample['mask'].numpy(), start=1):
        assert np.array_equal(mask, ids == i)


def write_grid(
    path: Path, crs: CRS, bounds: tuple[float, float, float, float], res: float
) -> None:
    left, bottom, right, top = bounds
    width, height = round((right - left) / res), round((top - bottom) / res)
    transform = rasterio.transform.from_bounds(*bounds, width, height)
    with rasterio.open(
        path,
        'w',
        driver='GTiff',
        width=width,
        height=height,
        count=1,
        dtype='uint8',
        crs=crs,
        transform=transform,
    ) as dst:
        dst.write(np.zeros((1, height, width), dtype=np.uint8))


@pytest.mark.data
@pytest.mark.parametrize(
    ('name', 'res', 'size', 'min_area'),
    [
        ('witharana2022', 10.0, 256, 1),
        ('witharana2022', 10.0, 256, 30),
        ('nitze2021', 3.0, 384, 1),
    ],
)
def test_real_inventory_over_utm_grid(
    data_dir: Path, tmp_path: Path, name: str, res: float, size: int, min_area: int
) -> None:
    path = data_dir / 'rts-inventories' / f'{name}.gpkg'
    source = gpd.read_file(path)
    utm = source.geometry.iloc[:1].to_crs(4326).estimate_utm_crs()
    assert source.crs != utm  # the labels must be reprojected
    polygons = source.to_crs(utm)
    # The grid: a GeoTIFF around the densest cluster of polygons.
    centres = polygons.geometry.centroid
    extent = size * res
    crowd = [int((centres.distance(c) < extent / 2).sum()) for c in centres]
    centre = centres.iloc[int(np.argmax(crowd))]
    left = np.floor((centre.x - extent / 2) / res) * res
    top = np.floor((centre.y + extent / 2) / res) * res
    write_grid(
        tmp_path / 'grid.tif', utm, (left, top - extent, left + extent, top), res
    )
    with rasterio.open(tmp_path / 'grid.tif') as grid:
        crs, transform, bounds = grid.crs, grid.transform, grid.bounds

    ds = InstancePolygonDataset(path, crs, grid.res, min_area=min_area)
    sample = ds[bounds.left : bounds.right : res, bounds.bottom : bounds.top : res]

    window = shapely.box(*bounds)
    inside = polygons[polygons.intersects(window)]
    expected = [
        rasterio.features.rasterize([geom], out_shape=(size, size), transform=transform)
        for geom in inside.geometry
    ]
    expected = [mask for mask in expected if mask.sum() >= min_area]
    assert len(expected) >= 20  # a real cluster, not a lone polygon
    assert len(sample['label']) == len(expected)
    # Exact equality, instance by instance (IoU 1.0), not just close.
    assert np.array_equal(sample['mask'].numpy(), np.stack(expected))
    union, got = np.any(expected, axis=0), sample['mask'].numpy().any(axis=0)
    assert (union & got).sum() / (union | got).sum() == 1.0
    assert_boxes_enclose_masks(sample)


def test_errors(tmp_path: Path, labels: gpd.GeoDataFrame) -> None:
    with pytest.raises(DataNotFoundError, match=r'missing\.gpkg does not exist'):
        InstancePolygonDataset(tmp_path / 'missing.gpkg', UTM, RES)
    (tmp_path / 'empty_dir').mkdir()
    with pytest.raises(DataNotFoundError, match='no label file'):
        InstancePolygonDataset(tmp_path / 'empty_dir', UTM, RES)
    empty = tmp_path / 'empty.gpkg'
    labels.iloc[:0].to_file(empty)
    with pytest.raises(EmptyLabelsError, match=r'empty\.gpkg has no features'):
        InstancePolygonDataset(empty, UTM, RES)
    hollow = tmp_path / 'hollow.gpkg'
    gpd.GeoDataFrame({'a': [1]}, geometry=[shapely.Polygon()], crs=UTM).to_file(hollow)
    with pytest.raises(
        EmptyLabelsError, match=r'hollow\.gpkg has only empty geometries'
    ):
        InstancePolygonDataset(hollow, UTM, RES)
    full = tmp_path / 'full.gpkg'
    labels.to_file(full)
    with pytest.raises(
        EmptyLabelsError, match=r"full\.gpkg is left after where=\"date == '1999'\""
    ):
        InstancePolygonDataset(full, UTM, RES, where="date == '1999'")
    with pytest.raises(
        ConfigError, match=r"where='year > 3' fails on .*full\.gpkg.*\['date'\]"
    ):
        InstancePolygonDataset(full, UTM, RES, where='year > 3')
    with pytest.raises(ConfigError, match=r"layer 'nope' is not in .*full\.gpkg"):
        InstancePolygonDataset(full, UTM, RES, layer='nope')
    broken = tmp_path / 'broken.gpkg'
    broken.write_bytes(b'this is not a geopackage')
    with pytest.raises(
        CorruptLabelsError, match=r'cannot read label file .*broken\.gpkg'
    ):
        InstancePolygonDataset(broken, UTM, RES)
    no_crs = tmp_path / 'no_crs.shp'
    with warnings.catch_warnings():  # pyogrio warns that the file gets no CRS
        warnings.simplefilter('ignore', UserWarning)
        labels.set_crs(None, allow_override=True).to_file(no_crs)
    with pytest.raises(InvalidPolygonsError, match=r'no_crs\.shp has no CRS: set one'):
        InstancePolygonDataset(no_crs, UTM, RES)
    points = tmp_path / 'points.gpkg'
    gpd.GeoDataFrame(geometry=[shapely.Point(X0, Y1)], crs=UTM).to_file(points)
    with pytest.raises(InvalidPolygonsError, match=r"\['Point'\] geometries"):
        InstancePolygonDataset(points, UTM, RES)


@pytest.mark.parametrize(
    ('crs', 'geometry', 'message', 'fresh'),
    [
        (None, shapely.box(0, 0, 1, 1), 'has no CRS: set one', True),
        (UTM, shapely.LineString([(X0, Y1), (X0 + 90, Y1)]), "['LineString']", False),
    ],
)
def test_bad_label_file_is_one_line_at_the_cli(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    crs: str | None,
    geometry: shapely.Geometry,
    message: str,
    fresh: bool,
) -> None:
    root = tmp_path / 'data'
    for split in ('train', 'val', 'test'):
        make_synthetic_dataset(root / split, n_scenes=1, size=64, n_slumps=2)
    bad = root / 'train' / 'labels.gpkg'
    gpd.GeoDataFrame(geometry=[geometry], crs=crs).to_file(bad)
    repo = Path(__file__).parents[2]
    config = repo / 'rtsgeo' / 'configs' / 'tiny' / 'rgb.yaml'
    argv = ['fit', '--config', str(config), '--data.init_args.root', str(root),
            '--trainer.default_root_dir', str(tmp_path / 'runs'),
            '--trainer.fast_dev_run', 'true',
            '--trainer.enable_progress_bar', 'false']  # fmt: skip
    if fresh:
        # A fresh process, as a user runs it: its whole stderr is what they see.
        run = subprocess.run(
            [sys.executable, '-m', 'rtsgeo.cli.main', *argv],
            capture_output=True, text=True, cwd=repo, timeout=300,
            env={**os.environ, 'PYTHONPATH': str(repo)},
        )  # fmt: skip
        status, stderr = run.returncode, run.stderr
    else:  # the other message through the same command, in this process
        from rtsgeo.cli.main import main

        status, stderr = main(argv), capsys.readouterr().err
    assert status == 2
    assert 'Traceback' not in stderr
    (line,) = [x for x in stderr.splitlines() if x.startswith('rtsgeo')]
    assert line.startswith(f'rtsgeo fit: error: label file {bad} ')
    assert message in line


@pytest.mark.data
def test_real_tuktoyaktuk_dissolve_and_where(data_dir: Path) -> None:
    path = data_dir / 's2-mosaic-tuktoyaktuk' / 'nitze2021_rts.gpkg'
    with rasterio.open(data_dir / 's2-mosaic-tuktoyaktuk' / 'scene.tif') as scene:
        crs, bounds = scene.crs, scene.bounds
    # A 400 x 400 px window of the 10 m scene (the whole one would be 390 masks).
    left, top = bounds.left + 2000, bounds.top - 2000
    window = (slice(left, left + 4000, 10.0), slice(top - 4000, top, 10.0))
    raw = InstancePolygonDataset(path, crs, 10.0)[window]['mask'].numpy()
    merged = InstancePolygonDataset(path, crs, 10.0, dissolve=True)[window]['mask']
    merged = merged.numpy()
    # Several image dates map the same slumps: raw instances overlap, the
    # dissolved ones do not, and both cover the same pixels.
    assert raw.sum(axis=0).max() > 1
    assert merged.sum(axis=0).max() == 1
    assert np.array_equal(raw.any(axis=0), merged.any(axis=0))
    assert 0 < len(merged) < len(raw)
    one_date = InstancePolygonDataset(
        path, crs, 10.0, where="image_date == '2019-07-13'"
    )
    assert len(one_date.geometries) == 54
    assert len(one_date[window]['label']) < len(raw)
