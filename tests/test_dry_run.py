"""The dry run before the first stage: a config that cannot work fails in a minute, naming the
part, and leaves no run behind; one that works trains exactly as without the dry run."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

import make_mini_datasets as mini
from conftest import ROOT

CONFIG = osp.join(ROOT, 'configs', 'mini', 'resnet18_cifar10_learnloss_mini.py')
TINY = ('train_cfg.max_epochs=1', 'train_cfg.num_stages=2', 'train_cfg.initial_size=20',
        'train_cfg.query_size=10', 'train_cfg.subset_size=None',
        'train_dataloader.batch_size=10', 'val_dataloader.batch_size=10')


@pytest.fixture(scope='module')
def cwd(tmp_path_factory):
    root = tmp_path_factory.mktemp('dry_run')
    mini.make_cifar10(str(root / 'data' / 'mini'), n_train=60, n_test=10, seed=0)
    return root


def run(cwd, work_dir, *options):
    return subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'al_train.py'), CONFIG, '--work-dir',
         str(work_dir), '--cfg-options', *TINY, *options], cwd=cwd, capture_output=True,
        text=True, timeout=600, env=dict(os.environ, PYTHONPATH=ROOT))


def test_a_training_step_that_fails_stops_the_run_before_any_epoch_and_leaves_no_run(
        cwd, tmp_path):
    # Five classes for CIFAR's ten labels: the loss fails on the first batch.
    result = run(cwd, tmp_path, 'model.architecture.head.num_classes=5')
    assert result.returncode != 0
    assert ('Dry run before the first stage: the training step on one labeled batch failed'
            in result.stderr)
    assert 'Epoch(train)' not in result.stdout
    assert not (tmp_path / 'al_state.json').exists()
    assert not (tmp_path / 'initial_weights.pth').exists()
    assert not list((tmp_path / 'splits').glob('stage_0_labeled*'))
    fixed = run(cwd, tmp_path, 'train_cfg.num_stages=1')  # the same command, without --resume
    assert fixed.returncode == 0, fixed.stderr[-3000:]


def test_the_dry_run_changes_no_weight_no_selection_and_no_score(cwd, tmp_path):
    checked = run(cwd, tmp_path / 'checked')
    unchecked = run(cwd, tmp_path / 'unchecked', 'train_cfg.dry_run=False')
    assert checked.returncode == unchecked.returncode == 0, checked.stderr[-3000:]
    assert 'Dry run before the first stage: a training step, a validation prediction and ' \
           'scoring work.' in checked.stdout
    states = [json.loads((tmp_path / name / 'al_state.json').read_text())
              for name in ('checked', 'unchecked')]
    assert states[0]['labeled'] == states[1]['labeled']
    assert [s['scores'] for s in states[0]['stages']] == [s['scores'] for s in states[1]['stages']]
    assert states[0]['stages'][1]['metrics'] == states[1]['stages'][1]['metrics']
