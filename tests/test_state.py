"""The active-learning state file: atomic, validated, tied to one experiment config."""
import json
import os

import pytest

from mmlearnloss.active.state import (ALState, ALStateError, canonical_config, config_differences,
                                      config_hash)
from mmlearnloss.utils import files as files_module


def make_state(**overrides):
    values = dict(
        config_hash='a' * 64,
        seed=3,
        stage=1,
        labeled=['VOC2007/000005', 'VOC2012/2008_000002'],
        stages=[
            dict(stage=0, num_labeled=1, metrics={'pascal_voc/mAP': 0.25},
                 selected=['VOC2012/2008_000002'], scores=[1.5],
                 checkpoint='work_dirs/x/stage_0/epoch_3.pth', status='selected'),
            dict(stage=1, num_labeled=2, status='split_written'),
        ])
    values.update(overrides)
    return ALState(**values)


def test_save_then_load_returns_an_equal_state(tmp_path):
    path = tmp_path / 'al_state.json'
    state = make_state()
    state.save(str(path))
    assert ALState.load(str(path)) == state
    assert ALState.load(str(path), expected_config_hash='a' * 64) == state


def test_save_leaves_the_old_file_intact_when_serialization_fails(tmp_path):
    path = tmp_path / 'al_state.json'
    make_state().save(str(path))
    before = path.read_bytes()
    broken = make_state()
    broken.stages[0]['metrics'] = {'not_json': object()}
    with pytest.raises(TypeError):
        broken.save(str(path))
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ['al_state.json']  # no temporary file left


def test_save_leaves_the_old_file_intact_when_the_write_fails_midway(tmp_path, monkeypatch):
    path = tmp_path / 'al_state.json'
    make_state().save(str(path))
    before = path.read_bytes()

    def failing_fsync(fd):
        raise OSError('disk full')

    monkeypatch.setattr(files_module.os, 'fsync', failing_fsync)
    with pytest.raises(OSError, match='disk full'):
        make_state(stage=2).save(str(path))
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ['al_state.json']


def test_save_refuses_scores_not_aligned_with_selected(tmp_path):
    state = make_state()
    state.stages[0]['scores'] = [1.0, 2.0]
    with pytest.raises(ALStateError, match='1 selected ids but 2 scores'):
        state.save(str(tmp_path / 'al_state.json'))
    assert not (tmp_path / 'al_state.json').exists()


def test_load_of_corrupt_json_names_the_file_and_what_to_do(tmp_path):
    path = tmp_path / 'al_state.json'
    path.write_text('{"config_hash": "abc", "seed"')
    with pytest.raises(ALStateError) as info:
        ALState.load(str(path))
    message = str(info.value)
    assert str(path) in message and 'not valid JSON' in message
    assert 'delete it' in message and '--work-dir' in message


def test_load_with_missing_keys_lists_them(tmp_path):
    path = tmp_path / 'al_state.json'
    payload = json.loads(json.dumps(make_state().__dict__))
    payload['format_version'] = 1
    del payload['labeled'], payload['seed']
    path.write_text(json.dumps(payload))
    with pytest.raises(ALStateError, match=r"missing key 'seed'.*missing key 'labeled'"):
        ALState.load(str(path))


def test_load_of_a_state_from_another_config_names_both_hashes(tmp_path):
    path = tmp_path / 'al_state.json'
    make_state().save(str(path))
    with pytest.raises(ALStateError) as info:
        ALState.load(str(path), expected_config_hash='b' * 64)
    assert 'a' * 64 in str(info.value) and 'b' * 64 in str(info.value)


def test_load_never_modifies_the_file(tmp_path):
    path = tmp_path / 'al_state.json'
    make_state().save(str(path))
    stat_before, bytes_before = os.stat(path), path.read_bytes()
    ALState.load(str(path))
    with pytest.raises(ALStateError):
        ALState.load(str(path), expected_config_hash='b' * 64)
    stat_after = os.stat(path)
    assert path.read_bytes() == bytes_before
    assert (stat_after.st_mtime_ns, stat_after.st_ino) == (stat_before.st_mtime_ns,
                                                           stat_before.st_ino)


def test_load_of_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match='al_state.json'):
        ALState.load(str(tmp_path / 'al_state.json'))


def test_config_hash_ignores_the_listed_keys():
    cfg = dict(model=dict(type='LearningLoss'), work_dir='a', launcher='none', resume=False)
    moved = dict(model=dict(type='LearningLoss'), work_dir='b', launcher='pytorch', resume=True)
    assert config_hash(cfg) == config_hash(moved)
    assert config_hash(cfg, ignore=()) != config_hash(moved, ignore=())


def test_config_hash_ignores_dotted_nested_keys():
    a = dict(train_dataloader=dict(batch_size=8, num_workers=2))
    b = dict(train_dataloader=dict(batch_size=8, num_workers=16))
    assert config_hash(a, ignore=['train_dataloader.num_workers']) == \
        config_hash(b, ignore=['train_dataloader.num_workers'])
    assert config_hash(a) != config_hash(b)


def test_config_hash_depends_on_the_experiment_not_on_key_order_or_tuples():
    a = dict(model=dict(depth=18, strides=(1, 2)), seed=0)
    b = dict(seed=0, model=dict(strides=[1, 2], depth=18))
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash(dict(a, seed=1))
    assert len(config_hash(a)) == 64


def test_config_hash_accepts_an_mmengine_config():
    from mmengine.config import Config
    cfg = Config(dict(model=dict(type='LearningLoss'), work_dir='x'))
    assert config_hash(cfg) == config_hash(dict(model=dict(type='LearningLoss')))


def test_a_star_key_is_ignored_at_any_depth_and_inside_lists():
    def cfg(root, workers, batch=8):
        return dict(data_root=root, train_dataloader=dict(
            batch_size=batch, num_workers=workers, dataset=dict(datasets=[
                dict(type='VOCDataset', data_root=root, ann_file='VOC2007/trainval.txt')])))
    ignore = ['*.data_root', '*.num_workers']
    moved = config_hash(cfg('/old/VOCdevkit', 2), ignore), config_hash(cfg('/new', 8), ignore)
    assert moved[0] == moved[1]
    assert config_hash(cfg('/old', 2, batch=16), ignore) != moved[0]
    assert canonical_config(cfg('/old', 2), ignore) == dict(train_dataloader=dict(
        batch_size=8, dataset=dict(datasets=[dict(type='VOCDataset',
                                                  ann_file='VOC2007/trainval.txt')])))


def test_a_canonical_config_hashes_as_the_config_it_came_from():
    cfg = dict(model=dict(depth=18, strides=(1, 2)), work_dir='w', seed=0)
    assert config_hash(canonical_config(cfg)) == config_hash(cfg)


def test_config_differences_name_each_changed_leaf_with_both_values():
    old = canonical_config(dict(train_cfg=dict(query_size=100, strategy='learning_loss'),
                                model=dict(necks=[dict(out=64)]), seed=0))
    new = canonical_config(dict(train_cfg=dict(query_size=200, strategy='learning_loss'),
                                model=dict(necks=[dict(out=32)]), lr=0.1))
    assert config_differences(old, new) == [
        'lr: (not set) -> 0.1', 'model.necks[0].out: 64 -> 32', 'seed: 0 -> (not set)',
        'train_cfg.query_size: 100 -> 200']
    many = config_differences({f'k{i}': i for i in range(20)}, {}, limit=3)
    assert many[-1] == 'and 17 more' and len(many) == 4


def test_a_state_of_another_config_is_refused_naming_the_keys_that_differ(tmp_path):
    path = tmp_path / 'al_state.json'
    started = canonical_config(dict(train_cfg=dict(query_size=100), seed=0))
    ALState(config_hash=config_hash(started), seed=0, stage=0, labeled=['a'], stages=[],
            config=started).save(str(path))
    now = canonical_config(dict(train_cfg=dict(query_size=200), seed=0))
    with pytest.raises(ALStateError, match=r'train_cfg\.query_size: 100 -> 200'):
        ALState.load(str(path), expected_config_hash=config_hash(now), config=now)
    assert ALState.load(str(path), expected_config_hash=['x' * 64, config_hash(started)],
                        config=now).config == started
