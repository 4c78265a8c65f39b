"""tools/al_train.py takes the frameworks' train.py flags with their meaning (--amp,
--auto-scale-lr, --resume with --seeds), and keeps the traceback of errors it did not raise."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

import al_train  # noqa: E402  (tools/ is on the path: conftest)
from conftest import ROOT
from mmlearnloss.testing.cifar import make_cifar10

CONFIG = osp.join(ROOT, 'configs', 'mini', 'resnet18_cifar10_learnloss_mini.py')
TINY = ('train_cfg.max_epochs=1', 'train_cfg.num_stages=1', 'train_cfg.initial_size=20',
        'train_dataloader.batch_size=10', 'val_dataloader.batch_size=10')


@pytest.fixture(scope='module')
def cwd(tmp_path_factory):
    root = tmp_path_factory.mktemp('flags')
    make_cifar10(str(root / 'data' / 'mini'), n_train=60, n_test=10, seed=0)
    return root


def command(work_dir, *flags, options=()):
    """The command line of ``tools/al_train.py`` on the tiny mini CIFAR run."""
    return [sys.executable, osp.join(ROOT, 'tools', 'al_train.py'), CONFIG, '--work-dir',
            str(work_dir), *flags, '--cfg-options', *TINY, *options]


def run(cwd, work_dir, *flags, options=()):
    return subprocess.run(command(work_dir, *flags, options=options), cwd=cwd,
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=ROOT))


def test_amp_without_a_gpu_is_refused_before_anything_is_written(cwd, tmp_path):
    # AmpOptimWrapper runs on accelerators only; tests/gpu trains with --amp on CUDA.
    result = run(cwd, tmp_path, '--amp')
    assert result.returncode != 0
    assert "AmpOptimWrapper trains on a GPU" in result.stderr
    assert 'Traceback' not in result.stderr
    assert not (tmp_path / 'al_state.json').exists()


def test_amp_refuses_an_optim_wrapper_it_cannot_turn_into_amp(cwd, tmp_path):
    result = run(cwd, tmp_path, '--amp', options=('optim_wrapper.type=ApexOptimWrapper', ))
    assert result.returncode != 0
    assert 'the optim_wrapper of' in result.stderr and 'is a ApexOptimWrapper' in result.stderr
    assert not (tmp_path / 'al_state.json').exists()


def test_auto_scale_lr_enables_the_configs_auto_scale_lr():
    # What the loop then does with it: tests/test_auto_scale_lr.py.
    args = al_train.parse_args([CONFIG, '--auto-scale-lr', '--cfg-options',
                                'auto_scale_lr.base_batch_size=40'])
    cfg = al_train.build_config(args)
    assert cfg.auto_scale_lr == dict(base_batch_size=40, enable=True)
    assert al_train.build_config(al_train.parse_args([CONFIG])).auto_scale_lr.get(
        'enable', False) is False


def test_auto_scale_lr_needs_the_batch_size_the_lr_was_set_for(cwd, tmp_path):
    result = run(cwd, tmp_path, '--auto-scale-lr', options=('auto_scale_lr=None', ))
    assert result.returncode != 0
    assert 'has no auto_scale_lr.base_batch_size' in result.stderr
    assert 'Traceback' not in result.stderr


@pytest.mark.slow  # runs resumed end to end: the slow tier (make test-slow)
def test_resume_with_seeds_continues_the_started_seeds_and_starts_the_others(cwd, tmp_path):
    first = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'al_train.py'), CONFIG, '--work-dir',
         str(tmp_path), '--seeds', '0', '--cfg-options', *TINY], cwd=cwd, capture_output=True,
        text=True, timeout=600, env=dict(os.environ, PYTHONPATH=ROOT))
    assert first.returncode == 0, first.stderr[-3000:]
    with open(tmp_path / 'seed_0' / 'al_state.json') as f:
        seed0 = json.load(f)
    both = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'al_train.py'), CONFIG, '--work-dir',
         str(tmp_path), '--seeds', '0', '1', '--resume', '--cfg-options', *TINY], cwd=cwd,
        capture_output=True, text=True, timeout=600, env=dict(os.environ, PYTHONPATH=ROOT))
    assert both.returncode == 0, both.stderr[-3000:]
    with open(tmp_path / 'seed_0' / 'al_state.json') as f:
        assert json.load(f) == seed0  # finished: nothing trained again
    with open(tmp_path / 'seed_1' / 'al_state.json') as f:
        seed1 = json.load(f)
    assert seed1['seed'] == 1 and seed1['stages'][0]['status'] == 'selected'
    assert seed1['labeled'] != seed0['labeled']


def test_an_error_raised_inside_a_framework_keeps_its_traceback(cwd, tmp_path):
    result = run(cwd, tmp_path, options=('optim_wrapper.optimizer.lr=-1', ))
    assert result.returncode != 0
    assert 'Traceback' in result.stderr and 'Invalid learning rate: -1' in result.stderr
    assert 'al_train.py: error:' not in result.stderr


@pytest.mark.slow  # runs resumed end to end: the slow tier (make test-slow)
def test_resume_from_a_checkpoint_trains_the_stage_in_progress_on_from_it(cwd, tmp_path):
    options = ('train_cfg.max_epochs=2', 'train_cfg.keep_checkpoints=None',
               'default_hooks.checkpoint.interval=1', 'default_hooks.checkpoint.max_keep_ckpts=-1')
    first = run(cwd, tmp_path, options=options)
    assert first.returncode == 0, first.stderr[-3000:]
    finished = tmp_path / 'al_state.json'
    assert sorted(p.name for p in tmp_path.glob('stage_0_epoch_*.pth')) == [
        'stage_0_epoch_1.pth', 'stage_0_epoch_2.pth']
    checkpoint = str(tmp_path / 'stage_0_epoch_1.pth')
    done = run(cwd, tmp_path, '--resume', checkpoint, options=options)
    assert done.returncode != 0  # the run trains no stage: nothing to train on from
    assert 'is not training a stage: it has finished its 1 stage(s)' in done.stderr
    assert 'Traceback' not in done.stderr
    # The same run as if it had stopped while training stage 1.
    state = json.loads(finished.read_text())
    state['stage'] = 0
    state['stages'][0].update(status='split_written', metrics={}, checkpoint=None)
    finished.write_text(json.dumps(state))
    resumed = run(cwd, tmp_path, '--resume', checkpoint, options=options)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f'Stage 1: resuming training from {checkpoint}' in resumed.stdout
    assert 'Epoch(train) [2]' in resumed.stdout and 'Epoch(train) [1]' not in resumed.stdout
    assert json.loads(finished.read_text())['stages'][0]['status'] == 'selected'
