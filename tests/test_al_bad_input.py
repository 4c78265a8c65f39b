"""Bad settings, data and state files end al_train.py with a clear message, files untouched."""
import os
import os.path as osp
import subprocess
import sys

import pytest

from conftest import ROOT, tree_digest
from mmlearnloss.active.state import ALState
from mmlearnloss.testing.cifar import make_cifar10
from mmlearnloss.testing.voc import make_voc

CONFIG = osp.join(ROOT, 'configs', 'mini', 'resnet18_cifar10_learnloss_mini.py')
TINY = ('train_cfg.max_epochs=1', 'train_dataloader.batch_size=10',
        'val_dataloader.batch_size=10')


@pytest.fixture(scope='module')
def cwd(tmp_path_factory):
    root = tmp_path_factory.mktemp('bad_input')
    make_cifar10(str(root / 'data' / 'mini'), n_train=100, n_test=20, seed=0)
    make_voc(str(root / 'data' / 'mini'), n07=4, n12=4, n_test=2, seed=0)
    return root


def run(cwd, work_dir, *options, config=CONFIG, resume=False):
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'al_train.py'), config, '--work-dir',
           str(work_dir), '--cfg-options', *TINY, *options]
    if resume:
        cmd.append('--resume')
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=ROOT))


def assert_untouched(directory, before):
    """Files that existed before are unchanged (the runner may add its own log files)."""
    after = tree_digest(directory)
    assert {path: after.get(path) for path in before} == before


def last_line(result):
    return result.stderr.strip().splitlines()[-1]


def test_query_size_larger_than_the_pool_fails_before_anything_is_written(cwd, tmp_path):
    result = run(cwd, tmp_path, 'train_cfg.initial_size=90', 'train_cfg.query_size=20',
                 'train_cfg.num_stages=2', 'train_cfg.subset_size=None')
    assert result.returncode != 0
    assert 'need 110 samples, but the pool has 100' in last_line(result)
    assert not (tmp_path / 'al_state.json').exists()
    assert 'Traceback' not in result.stderr


def test_initial_set_larger_than_the_dataset_fails(cwd, tmp_path):
    result = run(cwd, tmp_path, 'train_cfg.initial_size=150', 'train_cfg.num_stages=1')
    assert result.returncode != 0
    assert 'initial_size=150 is larger than the training pool (100 samples)' in last_line(result)
    assert not (tmp_path / 'al_state.json').exists()


def test_empty_pool_fails(cwd, tmp_path):
    result = run(cwd, tmp_path, 'train_dataloader.dataset.indices=0')
    assert result.returncode != 0
    assert 'The training pool is empty' in last_line(result)


def test_corrupt_state_file_is_reported_and_left_as_it_was(cwd, tmp_path):
    state = tmp_path / 'al_state.json'
    state.write_text('{"config_hash": "abc", "stage": ')
    before = tree_digest(tmp_path)
    result = run(cwd, tmp_path, resume=True)
    assert result.returncode != 0
    assert str(state) in last_line(result)
    assert_untouched(tmp_path, before)


def test_state_of_another_config_is_refused(cwd, tmp_path):
    ALState(config_hash='0' * 64, seed=0, stage=0, labeled=['1', '2'],
            stages=[]).save(str(tmp_path / 'al_state.json'))
    before = tree_digest(tmp_path)
    result = run(cwd, tmp_path, resume=True)
    assert result.returncode != 0
    assert '0' * 64 in last_line(result)
    assert_untouched(tmp_path, before)


def test_a_resume_after_the_data_moved_continues_and_a_changed_experiment_names_its_keys(
        cwd, tmp_path):
    import shutil
    two = ('train_cfg.num_stages=2', 'train_cfg.initial_size=20', 'train_cfg.query_size=10',
           'train_cfg.subset_size=None')
    first = run(cwd, tmp_path, *two, 'train_cfg.num_stages=1')
    assert first.returncode == 0, first.stderr[-3000:]
    shutil.copytree(cwd / 'data' / 'mini' / 'cifar10', tmp_path / 'moved' / 'cifar10')
    moved = str(tmp_path / 'moved' / 'cifar10')
    resumed = run(cwd, tmp_path, *two, 'train_cfg.num_stages=1', f'data_root={moved}',
                  f'train_dataloader.dataset.data_root={moved}',
                  f'val_dataloader.dataset.data_root={moved}',
                  f'test_dataloader.dataset.data_root={moved}',
                  'train_dataloader.num_workers=2', resume=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    before = tree_digest(tmp_path)
    changed = run(cwd, tmp_path, *two, 'train_cfg.num_stages=1', 'train_cfg.query_size=20',
                  resume=True)
    assert changed.returncode != 0
    assert 'train_cfg.query_size: 10 -> 20' in last_line(changed)
    # mmengine's Runner writes its config copy before the loop reads the state: all else stays.
    before.pop('resnet18_cifar10_learnloss_mini.py')
    assert_untouched(tmp_path, before)


def test_existing_run_is_not_overwritten_without_resume(cwd, tmp_path):
    (tmp_path / 'al_state.json').write_text('{}')
    before = tree_digest(tmp_path)
    result = run(cwd, tmp_path)
    assert result.returncode != 0
    assert 'Pass --resume' in last_line(result)
    assert_untouched(tmp_path, before)


def test_missing_annotation_file_names_the_path(cwd, tmp_path):
    config = osp.join(ROOT, 'configs', 'mini', 'ssd_voc_learnloss_mini.py')
    result = run(cwd, tmp_path,
                 'train_dataloader.dataset.dataset.datasets.1.ann_file=VOC2012/missing.txt',
                 config=config)
    assert result.returncode != 0
    assert 'VOC2012/missing.txt' in last_line(result)
    assert not (tmp_path / 'al_state.json').exists()


def test_ranking_metric_without_validation_ground_truth_fails_before_training(cwd, tmp_path):
    # A val pipeline that loads no annotations gives the ranking metric nothing to compare
    # with: the run must say so at its start, not after a stage of training.
    config = tmp_path / 'no_val_boxes.py'
    config.write_text(
        f"_base_ = {osp.join(ROOT, 'configs', 'mini', 'ssd_voc_learnloss_mini.py')!r}\n"
        "val_dataloader = dict(dataset=dict(pipeline=[\n"
        "    dict(type='LoadImageFromFile'),\n"
        "    dict(type='Resize', scale=(300, 300), keep_ratio=False),\n"
        "    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',\n"
        "                                          'img_shape', 'scale_factor'))]))\n")
    work_dir = tmp_path / 'work'
    result = run(cwd, work_dir, config=str(config))
    assert result.returncode != 0
    message = last_line(result)
    assert 'val_evaluator has LossRankingMetric' in message
    assert "no ground truth for the SingleStageDetector loss" in message
    assert "mmdet: LoadAnnotations" in message
    assert not (work_dir / 'al_state.json').exists()
    assert not list(work_dir.glob('*.pth'))
