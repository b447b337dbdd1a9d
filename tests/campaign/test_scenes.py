from __future__ import annotations

from pathlib import Path

import pytest

from rtsgeo.campaign.scenes import parse_shard, resolve_scenes, shard_scenes
from rtsgeo.errors import ConfigError, DataNotFoundError


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'')
    return path


def test_paths_globs_folders_and_lists(tmp_path: Path) -> None:
    a = _touch(tmp_path / 'one' / 'b_scene.tif')
    b = _touch(tmp_path / 'one' / 'a_scene.tiff')
    _touch(tmp_path / 'one' / 'notes.md')
    c = _touch(tmp_path / 'two' / 'deep' / 'c_scene.tif')
    listing = tmp_path / 'scenes.txt'
    listing.write_text('# campaign\n\ntwo/deep/c_scene.tif\n')
    from_folder = resolve_scenes([tmp_path / 'one'])
    assert [s.scene_id for s in from_folder] == ['a_scene', 'b_scene']
    from_glob = resolve_scenes([str(tmp_path / '**' / '*.tif')])
    assert [s.path for s in from_glob] == [str(a), str(c)]
    from_list = resolve_scenes([listing])
    assert [s.path for s in from_list] == [str(c)]
    everything = resolve_scenes([listing, tmp_path / 'one', a])
    assert [s.path for s in everything] == [str(b), str(a), str(c)]


def test_nothing_matches_names_the_input(tmp_path: Path) -> None:
    (tmp_path / 'empty').mkdir()
    with pytest.raises(DataNotFoundError, match='empty'):
        resolve_scenes([tmp_path / 'empty'])
    with pytest.raises(DataNotFoundError, match=r'nothing\*\.tif'):
        resolve_scenes([str(tmp_path / 'nothing*.tif')])
    with pytest.raises(DataNotFoundError, match=r'list\.txt'):
        resolve_scenes([tmp_path / 'list.txt'])
    blank = tmp_path / 'blank.txt'
    blank.write_text('# nothing here\n')
    with pytest.raises(DataNotFoundError, match=r'blank\.txt names no scene'):
        resolve_scenes([blank])
    with pytest.raises(DataNotFoundError, match='no scene given'):
        resolve_scenes([])


def test_missing_file_is_kept_to_fail_later(tmp_path: Path) -> None:
    scenes = resolve_scenes([tmp_path / 'gone.tif'])
    assert [s.scene_id for s in scenes] == ['gone']


def test_duplicate_stems_refused(tmp_path: Path) -> None:
    a = _touch(tmp_path / 'x' / 'scene.tif')
    b = _touch(tmp_path / 'y' / 'scene.tif')
    with pytest.raises(ConfigError, match="share the id 'scene'"):
        resolve_scenes([a, b])
    assert len(resolve_scenes([a, a])) == 1


def test_shards_partition_the_sorted_list(tmp_path: Path) -> None:
    paths = [_touch(tmp_path / f's{i:02d}.tif') for i in (3, 0, 7, 1, 5, 2, 4)]
    scenes = resolve_scenes(paths)
    shards = [shard_scenes(scenes, i, 3) for i in range(3)]
    ids = sorted(s.scene_id for shard in shards for s in shard)
    assert ids == sorted(s.scene_id for s in scenes)
    assert [s.scene_id for s in shards[0]] == ['s00', 's03', 's07']
    assert shard_scenes(list(reversed(scenes)), 1, 3) == shards[1]


@pytest.mark.parametrize('text', ['3/3', '1', 'a/b', '-1/2', '0/0'])
def test_bad_shard(text: str) -> None:
    with pytest.raises(ConfigError, match='i/N'):
        parse_shard(text)


def test_parse_shard() -> None:
    assert parse_shard('2/5') == (2, 5)
