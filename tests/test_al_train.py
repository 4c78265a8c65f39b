"""tools/al_train.py end to end on the mini datasets, for the three tasks, plus resume."""
import json
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import time

import pytest
from mmengine.registry import DATASETS, DefaultScope, init_default_scope

from conftest import ROOT, running_alongside
from mmlearnloss.testing.cifar import make_cifar10
from mmlearnloss.testing.mpii import make_mpii
from mmlearnloss.testing.voc import make_voc

AL_TRAIN = osp.join(ROOT, 'tools', 'al_train.py')


@pytest.fixture(scope='session')
def mini_root(tmp_path_factory):
    """A working directory with small mini datasets at the paths the mini configs use."""
    root = tmp_path_factory.mktemp('al')
    data = root / 'data' / 'mini'
    # The detection and pose runs take seconds an image on two cores: a few images each.
    make_voc(str(data), n07=4, n12=4, n_test=2, seed=0)
    make_cifar10(str(data), n_train=100, n_test=20, seed=0)
    make_mpii(str(data), n_train=10, n_val=4, seed=0)
    return root


def al_train_command(config, work_dir, *options, resume=False):
    """The command line of ``tools/al_train.py`` on the mini ``config``."""
    cmd = [sys.executable, AL_TRAIN, osp.join(ROOT, 'configs', 'mini', config),
           '--work-dir', str(work_dir)]
    if resume:
        cmd.append('--resume')
    if options:
        cmd += ['--cfg-options', *options]
    return cmd


def al_train(cwd, config, work_dir, *options, resume=False, wait=True):
    cmd = al_train_command(config, work_dir, *options, resume=resume)
    env = dict(os.environ, PYTHONPATH=ROOT)
    if not wait:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def load_state(work_dir):
    with open(osp.join(work_dir, 'al_state.json')) as f:
        return json.load(f)


def assert_two_stages(state, initial, k, pool_ids):
    first, second = state['stages']
    assert first['num_labeled'] == initial and second['num_labeled'] == initial + k
    assert len(first['selected']) == k and second['selected'] == []
    assert len(state['labeled']) == initial + k
    assert len(set(state['labeled'])) == initial + k  # no duplicates
    assert set(state['labeled']) <= set(pool_ids)  # nothing from validation/test
    assert state['labeled'][initial:] == first['selected']
    assert first['status'] == second['status'] == 'selected'


def build_dataset(cfg, scope):
    init_default_scope(scope)
    with DefaultScope.overwrite_default_scope(scope):
        return DATASETS.build(cfg)


def voc_split_ids(splits_dir, name, root):
    """The ids ('VOC2007/000001') mmdet's VOCDataset loads from the split files ``name_<year>.txt``
    written in ``splits_dir``, for the mini VOC set under ``root``."""
    import mmdet.datasets  # noqa: F401
    loaded = []
    for year in ('VOC2007', 'VOC2012'):
        path = splits_dir / f'{name}_{year}.txt'
        if not path.exists():
            continue
        dataset = build_dataset(
            dict(type='VOCDataset', data_root=str(root / 'data/mini/VOCdevkit'),
                 ann_file=str(path), data_prefix=dict(sub_data_root=f'{year}/'), pipeline=[],
                 test_mode=True), 'mmdet')
        loaded += [f'{year}/{d["img_id"]}' for d in dataset]
    return loaded


CLS_OPTIONS = ('train_cfg.num_stages=2', 'train_cfg.initial_size=20', 'train_cfg.query_size=10',
               'train_cfg.subset_size=40', 'train_cfg.max_epochs=1',
               'train_dataloader.batch_size=10', 'val_dataloader.batch_size=10',
               'default_hooks.logger.interval=1')


def test_classification_two_stages_label_exactly_k_new_training_images(mini_root, tmp_path):
    result = al_train(mini_root, 'resnet18_cifar10_learnloss_mini.py', tmp_path, *CLS_OPTIONS)
    assert result.returncode == 0, result.stderr[-3000:]
    state = load_state(tmp_path)
    assert_two_stages(state, 20, 10, [str(i) for i in range(100)])
    assert 'loss_pred' in result.stdout and 'learnloss/rank_acc' in result.stdout
    # every stage keeps its own checkpoint
    checkpoints = [s['checkpoint'] for s in state['stages']]
    assert [osp.basename(c) for c in checkpoints] == ['stage_0_epoch_1.pth', 'stage_1_epoch_1.pth']
    assert all(osp.exists(c) for c in checkpoints)
    # scores recorded with the selection are learning-loss predictions, highest first
    scores = state['stages'][0]['scores']
    assert len(scores) == 10 and scores == sorted(scores, reverse=True)
    # the written split is the dataset mmpretrain builds for stage 2
    import mmlearnloss.datasets  # noqa: F401  (registers MiniCIFAR10)
    with open(tmp_path / 'splits' / 'stage_1_labeled_MiniCIFAR10_indices.json') as f:
        indices = json.load(f)
    dataset = build_dataset(dict(type='MiniCIFAR10', data_root=str(mini_root / 'data/mini/cifar10'),
                                 split='train', indices=indices, pipeline=[]), 'mmpretrain')
    assert len(dataset) == 30
    assert sorted(map(str, indices)) == sorted(state['labeled'])
    results = json.loads((tmp_path / 'al_results.json').read_text())
    assert results['strategy'] == 'learning_loss' and results['seed'] == 0
    rows = results['stages']
    assert [r['num_labeled'] for r in rows] == [20, 30]
    assert all(0 <= r['accuracy/top1'] <= 100 for r in rows)
    # the log says what is stored: each validation's own ranking accuracy, not a running mean
    logged = [float(v) for v in re.findall(r'Epoch\(val\).*?learnloss/rank_acc: (\S+)',
                                           result.stdout)]
    assert logged == pytest.approx([r['learnloss/rank_acc'] for r in rows], abs=5e-5)


def test_detection_two_stages_write_voc_imagesets_that_mmdet_loads(mini_root, tmp_path):
    # 2 + 2 labels: each stage trains one batch; the whole pool (6 images) is scored.
    result = al_train(mini_root, 'ssd_voc_learnloss_mini.py', tmp_path,
                      'train_cfg.initial_size=2', 'train_cfg.query_size=2',
                      'train_cfg.num_stages=2', 'train_cfg.max_epochs=1',
                      'train_dataloader.batch_size=4', 'val_dataloader.batch_size=4',
                      'default_hooks.logger.interval=1')
    assert result.returncode == 0, result.stderr[-3000:]
    state = load_state(tmp_path)
    pool = [f'VOC2007/{i:06d}' for i in range(1, 5)] + \
        [f'VOC2012/2012_{i:06d}' for i in range(1, 5)]
    assert_two_stages(state, 2, 2, pool)
    assert 'loss_pred' in result.stdout and 'pascal_voc/mAP' in result.stdout
    loaded = voc_split_ids(tmp_path / 'splits', 'stage_1_labeled', mini_root)
    assert sorted(loaded) == sorted(state['labeled'])


def test_pose_two_stages_write_mpii_json_that_mmpose_loads(mini_root, tmp_path):
    # 2 + 2 labels: each stage trains one batch; 4 of the 8 pool samples are scored.
    result = al_train(mini_root, 'hourglass_mpii_learnloss_mini.py', tmp_path,
                      'train_cfg.initial_size=2', 'train_cfg.query_size=2',
                      'train_cfg.num_stages=2', 'train_cfg.max_epochs=1',
                      'train_cfg.subset_size=4', 'train_dataloader.batch_size=4',
                      'val_dataloader.batch_size=4', 'default_hooks.logger.interval=1')
    assert result.returncode == 0, result.stderr[-3000:]
    state = load_state(tmp_path)
    assert_two_stages(state, 2, 2, [str(i) for i in range(10)])
    assert 'loss_pred' in result.stdout and ' PCK: ' in result.stdout
    import mmpose.datasets  # noqa: F401
    path = next((tmp_path / 'splits').glob('stage_1_labeled*.json'))
    dataset = build_dataset(
        dict(type='MpiiDataset', data_root=str(mini_root / 'data/mini/mpii'), ann_file=str(path),
             data_prefix=dict(img='images/'), pipeline=[]), 'mmpose')
    assert len(dataset) == 4
    with open(mini_root / 'data/mini/mpii/annotations/mpii_train.json') as f:
        full = json.load(f)
    with open(path) as f:
        written = json.load(f)
    assert written == [full[int(i)] for i in state['labeled']] or \
        sorted(map(json.dumps, written)) == sorted(json.dumps(full[int(i)])
                                                   for i in state['labeled'])


#: The mini CIFAR config's ResNet-18 16 channels wide at the stem instead of 64, as in
#: tests/test_kill_resume.py: what is resumed is the loop, not the network.
NARROW = ('model.architecture.backbone.stem_channels=16',
          'model.architecture.backbone.base_channels=16',
          'model.architecture.head.in_channels=128',
          'model.loss_prediction_head.in_channels=[16,32,64,128]')


@pytest.mark.slow  # kill-and-resume: the slow tier (make test-slow)
def test_resume_after_a_kill_ends_like_an_uninterrupted_run(mini_root, tmp_path):
    options = (*CLS_OPTIONS[1:], 'train_cfg.num_stages=3', 'train_cfg.max_epochs=2',
               'default_hooks.checkpoint.interval=1', *NARROW)
    whole = tmp_path / 'whole'
    # The uninterrupted run goes alongside the killed one (a run does not depend on another).
    with running_alongside(al_train_command('resnet18_cifar10_learnloss_mini.py', whole,
                                            *options),
                           mini_root, tmp_path / 'whole.log') as reference_run:
        _killed_and_resumed(mini_root, tmp_path, options)
    assert reference_run.returncode == 0, (tmp_path / 'whole.log').read_text()[-3000:]
    resumed, reference = load_state(tmp_path / 'killed'), load_state(whole)
    assert resumed['labeled'] == reference['labeled']
    assert [s['selected'] for s in resumed['stages']] == \
        [s['selected'] for s in reference['stages']]
    for resumed_stage, reference_stage in zip(resumed['stages'], reference['stages']):
        assert resumed_stage['scores'] == pytest.approx(reference_stage['scores'])


def _killed_and_resumed(mini_root, tmp_path, options):
    killed = tmp_path / 'killed'
    proc = al_train(mini_root, 'resnet18_cifar10_learnloss_mini.py', killed, *options,
                    wait=False)
    deadline = time.time() + 600
    try:
        while time.time() < deadline and proc.poll() is None:
            state_file = killed / 'al_state.json'
            if state_file.exists() and load_state(killed)['stage'] >= 1:
                break
            time.sleep(0.2)
        assert proc.poll() is None, 'the run ended before it could be killed'
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    interrupted = load_state(killed)
    assert interrupted['stage'] == 1 and len(interrupted['labeled']) == 30
    result = al_train(mini_root, 'resnet18_cifar10_learnloss_mini.py', killed, *options,
                      resume=True)
    assert result.returncode == 0, result.stderr[-3000:]
    resumed = load_state(killed)
    assert resumed['labeled'][:30] == interrupted['labeled']  # nothing relabeled
