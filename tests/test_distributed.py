"""Two CPU processes (torchrun, gloo): training plus sharded scoring select what one process
selects with the same checkpoint."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from conftest import ROOT, free_port
from mmlearnloss.testing.cifar import make_cifar10

# The slow tier (make test-slow): two-process runs of al_train.py.
pytestmark = pytest.mark.slow

OPTIONS = ('train_cfg.num_stages=2', 'train_cfg.initial_size=20', 'train_cfg.query_size=10',
           'train_cfg.subset_size=None', 'train_cfg.max_epochs=1',
           'train_dataloader.batch_size=10', 'val_dataloader.batch_size=10')
CONFIG = osp.join(ROOT, 'configs', 'mini', 'resnet18_cifar10_learnloss_mini.py')


def test_two_process_selection_equals_single_process_selection(tmp_path):
    make_cifar10(str(tmp_path / 'data' / 'mini'), n_train=100, n_test=20, seed=0)
    work_dir = tmp_path / 'work'
    env = dict(os.environ, PYTHONPATH=ROOT)
    dist = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
         f'--master_port={free_port()}', osp.join(ROOT, 'tools', 'al_train.py'), CONFIG,
         '--work-dir', str(work_dir), '--launcher', 'pytorch', '--cfg-options', *OPTIONS],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert dist.returncode == 0, dist.stderr[-3000:]
    assert 'Distributed training: True' in dist.stdout and 'GPU number: 2' in dist.stdout
    state_path = work_dir / 'al_state.json'
    two_procs = json.loads(state_path.read_text())
    first = two_procs['stages'][0]
    assert len(first['selected']) == 10 and len(set(two_procs['labeled'])) == 30
    assert osp.exists(first['checkpoint'])

    # Rewind the state to "stage 1 trained" (then "evaluated", as after a kill while scoring)
    # and let one process select again from the checkpoint the two processes trained.
    for status in ('trained', 'evaluated'):
        rewound = dict(two_procs, stage=0, labeled=two_procs['labeled'][:20],
                       stages=[dict(first, status=status, selected=[], scores=[])])
        state_path.write_text(json.dumps(rewound))
        single = subprocess.run(
            [sys.executable, osp.join(ROOT, 'tools', 'al_train.py'), CONFIG, '--work-dir',
             str(work_dir), '--resume', '--cfg-options', *OPTIONS],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert single.returncode == 0, single.stderr[-3000:]
        one_proc = json.loads(state_path.read_text())['stages'][0]
        assert one_proc['selected'] == first['selected'], status
        assert max(abs(a - b) for a, b in zip(one_proc['scores'], first['scores'])) < 1e-4


DYING_RANK = """
# Imported by Python at start-up (sitecustomize): rank 1 dies while scoring the pool.
import os

if os.environ.get('RANK') == '1':
    from mmlearnloss.models import LearningLoss

    score_step, calls = LearningLoss.score_step, []

    def _die(self, data, needs=('pred_loss', )):
        calls.append(needs)
        if len(calls) == 1:  # the dry run's, before the first stage
            return score_step(self, data, needs)
        os._exit(3)  # a crashed process: no cleanup, no exception to catch

    LearningLoss.score_step = _die
"""


def test_a_rank_dying_while_scoring_fails_the_run_and_loses_no_label(tmp_path):
    make_cifar10(str(tmp_path / 'data' / 'mini'), n_train=100, n_test=20, seed=0)
    work_dir = tmp_path / 'work'
    inject = tmp_path / 'inject'
    inject.mkdir()
    (inject / 'sitecustomize.py').write_text(DYING_RANK)
    dist = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
         f'--master_port={free_port()}', osp.join(ROOT, 'tools', 'al_train.py'), CONFIG,
         '--work-dir', str(work_dir), '--launcher', 'pytorch', '--cfg-options', *OPTIONS],
        cwd=tmp_path, env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(inject), ROOT])),
        capture_output=True, text=True, timeout=900)
    assert dist.returncode != 0
    assert 'exitcode  : 3' in dist.stderr and 'rank      : 1' in dist.stderr
    state = json.loads((work_dir / 'al_state.json').read_text())
    assert state['stage'] == 0 and len(state['labeled']) == 20
    assert state['stages'][0]['status'] == 'evaluated' and state['stages'][0]['selected'] == []
    assert not list((work_dir / 'splits').glob('stage_1_labeled*'))
    # Nothing was lost: one process resumes at the selection.
    single = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'al_train.py'), CONFIG, '--work-dir',
         str(work_dir), '--resume', '--cfg-options', *OPTIONS],
        cwd=tmp_path, env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True,
        timeout=900)
    assert single.returncode == 0, single.stderr[-3000:]
    final = json.loads((work_dir / 'al_state.json').read_text())
    assert final['labeled'][:20] == state['labeled'] and len(set(final['labeled'])) == 30
