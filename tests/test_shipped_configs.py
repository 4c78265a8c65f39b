"""Dress rehearsal of the shipped full configs: each built exactly as shipped, with only data
roots, epochs and sample counts shrunk by --cfg-options onto mini data in its format, run for
two stages through tools/al_train.py, killed in the second stage and resumed. Checks what a
long run would hit: which checkpoints stay on disk, resume, the state file, the log."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import ROOT
from mmlearnloss.testing.cifar import make_cifar10
from mmlearnloss.testing.mpii import make_mpii
from mmlearnloss.testing.voc import make_voc

# The slow tier (make test-slow): the shipped full configs, about 5 minutes on 2 cores.
pytestmark = pytest.mark.slow

AL_TRAIN = osp.join(ROOT, 'tools', 'al_train.py')
EPOCHS = 2  # the kill comes after stage 2's first epoch, the resume trains its second
# The smallest labeled sets that still pair up for the ranking loss (Faster R-CNN trains 2
# images a batch): every stage is one or two iterations, each of them seconds to a minute here.
INITIAL, QUERY = 2, 2


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp('shipped')
    # Pools a few samples larger than a query: scoring the whole pool costs seconds a sample
    # for the detectors and the hourglass.
    make_voc(str(root), n07=3, n12=3, n_test=2, seed=0)
    make_cifar10(str(root), n_train=40, n_test=8, seed=0)
    make_mpii(str(root), n_train=8, n_val=2, seed=0)
    return root


def voc_options(root):
    voc = f'{root}/VOCdevkit/'
    return [f'train_dataloader.dataset.dataset.datasets.0.data_root={voc}',
            f'train_dataloader.dataset.dataset.datasets.1.data_root={voc}',
            f'val_dataloader.dataset.data_root={voc}',
            f'test_dataloader.dataset.data_root={voc}',
            'model.architecture.backbone.init_cfg=None']  # no ImageNet download here


def cifar_options(root):
    # The official CIFAR10 dataset checks the md5 of the official files: MiniCIFAR10 reads the
    # same format without the check.
    opts = ['custom_imports.imports=[mmlearnloss,mmlearnloss.datasets]']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.dataset.type=MiniCIFAR10', f'{loader}.dataset.data_root={root}/cifar10']
    return opts + ['train_cfg.subset_size=16']


def mpii_options(root):
    mpii = f'{root}/mpii/'
    return [f'train_dataloader.dataset.data_root={mpii}',
            f'val_dataloader.dataset.data_root={mpii}',
            f'val_dataloader.dataset.headbox_file={mpii}annotations/mpii_gt_val.mat',
            f'test_dataloader.dataset.data_root={mpii}',
            f'test_dataloader.dataset.headbox_file={mpii}annotations/mpii_gt_val.mat',
            'train_cfg.subset_size=4']


#: config -> (its data options, whether the framework's runtime checkpoints every epoch: mmdet's
#: and mmpretrain's do, mmpose's every 10 epochs, so its stages only keep their last epoch)
CONFIGS = {
    'ssd_voc_learnloss.py': (voc_options, True),
    'faster-rcnn_voc_learnloss.py': (voc_options, True),
    'resnet18_cifar10_learnloss.py': (cifar_options, True),
    'hourglass_mpii_learnloss.py': (mpii_options, False),
}


def command(config, work_dir, options, resume=False):
    cmd = [sys.executable, AL_TRAIN, osp.join(ROOT, 'configs', config), '--work-dir',
           str(work_dir)]
    cmd += ['--resume'] if resume else []
    return cmd + ['--cfg-options', *options, 'train_cfg.num_stages=2',
                  f'train_cfg.initial_size={INITIAL}', f'train_cfg.query_size={QUERY}',
                  f'train_cfg.max_epochs={EPOCHS}']


def last_checkpoint(work_dir):
    path = osp.join(work_dir, 'last_checkpoint')  # written by mmengine after a checkpoint
    if not osp.exists(path):
        return None
    with open(path) as f:
        return osp.basename(f.read().strip())


def in_stage_two(log_path, work_dir, every_epoch):
    """Stage 2 has checkpointed its first epoch (or, without per-epoch checkpoints, trained it)."""
    if every_epoch:
        return last_checkpoint(work_dir) == 'stage_1_epoch_1.pth'
    with open(log_path) as f:
        log = f.read()
    return 'Epoch(train)' in log.partition('===== Stage 2/2')[2]


def run_killed_in_stage_two(cmd, work_dir, cwd, every_epoch, timeout=900):
    """Start the run; kill it in stage 2, after its first epoch."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    log_path = osp.join(cwd, 'first_run.log')
    log = open(log_path, 'w')
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    start = time.time()
    try:
        while not in_stage_two(log_path, work_dir, every_epoch):
            if proc.poll() is not None:
                log.close()
                with open(osp.join(cwd, 'first_run.log')) as f:
                    raise AssertionError(f'the run ended before stage 2 checkpointed:\n'
                                         f'{f.read()[-4000:]}')
            assert time.time() - start < timeout, 'no stage 2 checkpoint in time'
            time.sleep(0.5)
    finally:
        proc.kill()
        proc.wait()
        log.close()


#: Two configs at a time: a run keeps about one of the two cores busy (start-up, data loading,
#: checkpoint writes, evaluation are single-threaded), so two side by side take little longer
#: than one. The longest first.
PARALLEL = 2
LONGEST_FIRST = ['faster-rcnn_voc_learnloss.py', 'hourglass_mpii_learnloss.py',
                 'ssd_voc_learnloss.py', 'resnet18_cifar10_learnloss.py']
TEST_NAME = 'test_shipped_config_runs_two_stages_resumes_and_keeps_only_needed_checkpoints'


@pytest.fixture(scope='module')
def runs(request, data, tmp_path_factory):
    """{config: the future of :func:`run_and_check` for it}, for the configs selected to run,
    started here, ``PARALLEL`` at a time; each test waits for its own."""
    selected = {item.callspec.params['config'] for item in request.session.items
                if getattr(item, 'originalname', None) == TEST_NAME}
    assert set(LONGEST_FIRST) == set(CONFIGS)
    pool = ThreadPoolExecutor(max_workers=PARALLEL)
    futures = {config: pool.submit(run_and_check, config, data,
                                   tmp_path_factory.mktemp(config.split('_')[0]))
               for config in LONGEST_FIRST if config in selected}
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize('config', list(CONFIGS))
def test_shipped_config_runs_two_stages_resumes_and_keeps_only_needed_checkpoints(
        config, runs):
    runs[config].result()  # re-raises what failed in it


def run_and_check(config, data, tmp_path):
    """The test of ``config``: started by the ``runs`` fixture in a worker thread."""
    work_dir = tmp_path / 'work'
    data_options, every_epoch = CONFIGS[config]
    options = data_options(data)
    run_killed_in_stage_two(command(config, work_dir, options), work_dir, str(tmp_path),
                            every_epoch)
    state = json.loads((work_dir / 'al_state.json').read_text())
    assert state['stage'] == 1 and state['stages'][1]['status'] == 'split_written'
    labeled_before = list(state['labeled'])
    # As if the kill had come while the next checkpoint was being written: a truncated file.
    partial = work_dir / f'stage_1_epoch_{EPOCHS}.pth'
    partial.write_bytes(b'PK\x03\x04 truncated')

    done = subprocess.run(command(config, work_dir, options, resume=True), cwd=str(tmp_path),
                          env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    output = done.stdout + done.stderr
    assert f'{partial} was not completely written' in output
    resumed = f'resuming training from {work_dir}/stage_1_epoch_1.pth'
    assert (resumed in output) == every_epoch

    state = json.loads((work_dir / 'al_state.json').read_text())
    first, second = state['stages']
    assert [first['status'], second['status']] == ['selected', 'selected']
    assert state['labeled'] == labeled_before  # the resume labeled nothing new by accident
    assert len(state['labeled']) == INITIAL + QUERY == len(set(state['labeled']))
    assert first['metrics'] and second['metrics']
    # Kept: each finished stage's final checkpoint (a complete one), nothing else.
    assert (work_dir / f'stage_1_epoch_{EPOCHS}.pth').stat().st_size > 1000
    kept = sorted(osp.basename(p) for p in glob.glob(str(work_dir / '*.pth')))
    # mmpose's runtime also keeps the best checkpoint (CheckpointHook save_best='PCK')
    best = [name for name in kept if name.startswith('best_')]
    assert [name for name in kept if name not in best] == [
        'initial_weights.pth', f'stage_0_epoch_{EPOCHS}.pth', f'stage_1_epoch_{EPOCHS}.pth']
    assert len(best) <= 2 and (not best or config.startswith('hourglass'))
    assert first['checkpoint'].endswith(f'stage_0_epoch_{EPOCHS}.pth')
    results = json.loads((work_dir / 'al_results.json').read_text())
    assert [row['num_labeled'] for row in results['stages']] == [INITIAL, INITIAL + QUERY]
    logs = glob.glob(str(work_dir / '*' / '*.log'))
    assert logs and any('Stage 2/2' in open(p).read() for p in logs)
