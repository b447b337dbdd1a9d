"""Trained-model files: save, load, refuse what is not one."""

from pathlib import Path

import pytest
import torch

from rtsgeo.errors import CheckpointError, ConfigError
from rtsgeo.models import (
    build_model_from_preset,
    get_preset,
    load_trained_model,
    save_trained_model,
)


def test_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = get_preset('nano_cascade_rgb')
    model = build_model_from_preset('nano_cascade_rgb').eval()
    stats = {'rgb': {'mean': [1.0, 2.0, 3.0], 'std': [0.5, 0.5, 0.5]}}
    path = save_trained_model(tmp_path / 'm.pt', model, config, stats, 'rgb', 'tiny')
    loaded, info = load_trained_model(path)
    assert info.config == config
    assert info.stats == stats
    assert (info.sensor, info.name, info.modalities) == ('rgb', 'tiny', ('rgb',))
    assert len(info.sha256) == 64
    assert info.gsd_m is None  # not given, not known
    assert not loaded.training
    x = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        a, b = model([x[0]]), loaded([x[0]])
    assert torch.equal(a[0]['boxes'], b[0]['boxes'])


def test_refuses_plain_state_dict(tmp_path: Path) -> None:
    path = tmp_path / 'plain.pt'
    torch.save({'state_dict': {'w': torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError, match='not an rtsgeo trained model'):
        load_trained_model(path)
    with pytest.raises(CheckpointError, match='does not exist'):
        load_trained_model(tmp_path / 'missing.pt')


def test_gsd_recorded_and_older_files_load(tmp_path: Path) -> None:
    config = get_preset('nano_cascade_rgb')
    model = build_model_from_preset('nano_cascade_rgb')
    stats = {'rgb': {'mean': [1.0, 2.0, 3.0], 'std': [0.5, 0.5, 0.5]}}
    path = save_trained_model(tmp_path / 'm.pt', model, config, stats, gsd_m=3)
    assert load_trained_model(path)[1].gsd_m == 3.0
    raw = torch.load(path, weights_only=True)
    del raw['rtsgeo']['gsd_m']  # as written before the GSD was recorded
    torch.save(raw, tmp_path / 'old.pt')
    assert load_trained_model(tmp_path / 'old.pt')[1].gsd_m is None
    with pytest.raises(ConfigError, match='gsd_m=0'):
        save_trained_model(tmp_path / 'bad.pt', model, config, stats, gsd_m=0)


def test_scene_norm_recorded_and_files_without_it_unchanged(tmp_path: Path) -> None:
    from rtsgeo.transforms import SceneStretch

    config = get_preset('nano_cascade_rgb')
    model = build_model_from_preset('nano_cascade_rgb')
    stats = {'rgb': {'mean': [1.0, 2.0, 3.0], 'std': [0.5, 0.5, 0.5]}}
    stretch = SceneStretch.from_ranges(
        {'red': (250, 1100), 'green': (200, 1000), 'blue': (150, 900)}, 1, 99
    )
    path = save_trained_model(
        tmp_path / 'm.pt', model, config, stats, scene_stretch=stretch
    )
    raw = torch.load(path, weights_only=True)
    # format 2: a reader that does not know the stretch refuses the file
    assert raw['rtsgeo']['format'] == 2
    assert load_trained_model(path)[1].scene_stretch == stretch
    plain = save_trained_model(tmp_path / 'plain.pt', model, config, stats)
    meta = torch.load(plain, weights_only=True)['rtsgeo']
    assert meta['format'] == 1 and 'scene_norm' not in meta
    assert load_trained_model(plain)[1].scene_stretch is None
    raw['rtsgeo']['scene_norm'] = {'method': 'percentile'}
    torch.save(raw, tmp_path / 'bad.pt')
    with pytest.raises(CheckpointError, match='not a scene normalisation record'):
        load_trained_model(tmp_path / 'bad.pt')


def test_files_from_before_aligned_rois_keep_the_legacy_sampling() -> None:
    from rtsgeo.models.trained import config_from_dict, config_to_dict

    config = get_preset('nano_cascade_rgb')
    assert not config.aligned_rois  # torchvision's sampling unless asked
    values = config_to_dict(config)
    assert config_from_dict(values) == config
    del values['aligned_rois']  # as written before the field existed
    assert config_from_dict(values).aligned_rois is False


def test_files_from_before_the_detail_path_build_none() -> None:
    from rtsgeo.models.trained import config_from_dict, config_to_dict

    values = config_to_dict(get_preset('nano_cascade_rgb', detail_channels=16))
    assert config_from_dict(values).detail_channels == 16
    del values['detail_channels']  # as written before the field existed
    assert config_from_dict(values).detail_channels == 0
