"""A run of tools/al_train.py killed (SIGKILL) at random moments and resumed with --resume after
each kill ends exactly like an uninterrupted run: every stage selects the same samples, with the
same scores. Two persistent data-loading workers per process, the mini CIFAR config's augmentation
(RandomCrop, RandomFlip). The kill moments come from a seeded generator (the log line to kill
after, and a delay), so the test kills at the same places each time, up to the machine's timing.
Kills while scoring: tests/test_scoring_resume.py."""
import glob
import json
import os
import os.path as osp
import random
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from conftest import ROOT, free_port
from mmlearnloss.active.seeding import SampleSeededDataset
from mmlearnloss.testing.cifar import make_cifar10

CONFIG = osp.join(ROOT, 'configs', 'mini', 'resnet18_cifar10_learnloss_mini.py')
#: The mini CIFAR config, its ResNet-18 16 channels wide at the stem instead of 64 (a stage of
#: two epochs then takes seconds on two cores), with two persistent workers.
OPTIONS = ('train_cfg.initial_size=8', 'train_cfg.query_size=4', 'train_cfg.subset_size=16',
           'train_cfg.max_epochs=2', 'val_dataloader.batch_size=10',
           'train_dataloader.num_workers=2', 'train_dataloader.persistent_workers=True',
           'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=1',
           'model.architecture.backbone.stem_channels=16',
           'model.architecture.backbone.base_channels=16',
           'model.architecture.head.in_channels=128',
           'model.loss_prediction_head.in_channels=[16,32,64,128]')
#: One thread per process: the uninterrupted run goes alongside the killed one, and both sum in
#: the same order.
ENV = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1')
TRAIN_LINE = re.compile(r'Epoch\(train\) +\[\d+\]\[(\d+)/(\d+)\]')


@pytest.fixture(scope='module')
def cwd(tmp_path_factory):
    root = tmp_path_factory.mktemp('kill_resume')
    make_cifar10(str(root / 'data' / 'mini'), n_train=100, n_test=20, seed=0)
    return root


def command(work_dir, options, nproc=1, resume=False):
    launch = [sys.executable]
    script = [osp.join(ROOT, 'tools', 'al_train.py'), CONFIG, '--work-dir', str(work_dir)]
    if nproc > 1:
        launch += ['-m', 'torch.distributed.run', f'--nproc_per_node={nproc}',
                   f'--master_port={free_port()}']
        script += ['--launcher', 'pytorch']
    return launch + script + (['--resume'] if resume else []) + ['--cfg-options', *options]


def descendants(pid):
    """Every process ``pid`` started, and theirs (torchrun's ranks, the data workers)."""
    children = {}
    for stat in glob.glob('/proc/[0-9]*/stat'):
        try:
            with open(stat) as f:
                parent = int(f.read().rsplit(')', 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # ended while listed
        children.setdefault(parent, []).append(int(stat.split('/')[2]))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_all(proc):
    """SIGKILL the process and every process it started, at once: no cleanup anywhere."""
    for pid in [proc.pid, *descendants(proc.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def run(cmd, cwd, kill_at=None, delay=0.0, timeout=600):
    """Run ``cmd``; with ``kill_at(line) -> bool``, kill it ``delay`` seconds after the first log
    line of a stage (the state file exists by then) for which it returns True.
    Returns (killed, return code, output)."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(timeout, kill_all, [proc])
    watchdog.start()
    lines, in_stage, killed = [], False, False
    try:
        for line in proc.stdout:
            lines.append(line)
            in_stage = in_stage or '===== Stage ' in line
            if kill_at is not None and in_stage and ' - mmengine - ' in line and kill_at(line):
                time.sleep(delay)
                kill_all(proc)
                killed = True
                break
        proc.stdout.close()
        proc.wait()
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            kill_all(proc)
    return killed, proc.returncode, ''.join(lines)


def nth_line(n, matching=lambda line: True):
    """kill_at for the ``n``-th log line (counted from 1) that ``matching`` accepts."""
    seen = []

    def kill_at(line):
        seen.extend([line] if matching(line) else [])
        return len(seen) == n
    return kill_at


def uninterrupted(cmd, cwd):
    """Start ``cmd`` (the reference run, alongside the killed one); its output goes to a file."""
    log = cwd / f'{len(list(cwd.glob("*.log")))}.log'
    with open(log, 'w') as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=out, stderr=subprocess.STDOUT)
    proc.log = log
    return proc


def stages(work_dir):
    with open(osp.join(work_dir, 'al_state.json')) as f:
        state = json.load(f)
    return state['labeled'], [(s['selected'], s['scores']) for s in state['stages']]


def assert_same_run(killed_dir, whole_dir):
    (labeled, selections), (whole_labeled, whole_selections) = (stages(killed_dir),
                                                                stages(whole_dir))
    assert len(selections) == len(whole_selections)
    for stage, ((selected, scores), (whole_selected, whole_scores)) in enumerate(
            zip(selections, whole_selections)):
        assert selected == whole_selected, f'stage {stage + 1} selected other samples'
        assert scores == pytest.approx(whole_scores, abs=1e-6), f'stage {stage + 1} scores'
    assert labeled == whole_labeled


@pytest.mark.slow  # kill-and-resume: the slow tier (make test-slow)
def test_a_run_killed_three_times_at_random_moments_selects_like_an_uninterrupted_one(
        cwd, capsys):
    """The reported case: one process, 4 stages, a checkpoint every epoch."""
    options = ('train_cfg.num_stages=4', 'train_dataloader.batch_size=4', *OPTIONS)
    start = time.time()
    whole = uninterrupted(command(cwd / 'whole', options), cwd)
    try:
        # After the first stage's header the 4 stages log about 85 lines: kills within 20 lines
        # of each start leave work for the next one.
        rng, kills, resume, outputs = random.Random(16), 0, False, []
        while True:
            kill_at = nth_line(rng.randint(1, 20)) if kills < 3 else None
            killed, code, output = run(command(cwd / 'killed', options, resume=resume), cwd,
                                       kill_at, delay=rng.uniform(0, 0.5))
            outputs.append(output)
            if not killed:
                break
            kills, resume = kills + 1, True
        assert code == 0, output[-3000:]
        assert kills == 3
        # every restart continued the stage it was killed in from a checkpoint or its state
        assert all('Resuming active learning from' in out for out in outputs[1:])
        whole.wait(timeout=600)
    finally:
        if whole.poll() is None:
            kill_all(whole)
    assert whole.returncode == 0, whole.log.read_text()[-3000:]
    assert_same_run(cwd / 'killed', cwd / 'whole')
    with capsys.disabled():
        after = [out.rstrip().splitlines()[-1].split(' - ')[-1][:40] for out in outputs[:-1]]
        print(f'\n{kills} kills survived, {time.time() - start:.0f} s; killed after: {after}')


@pytest.mark.slow  # kill-and-resume: the slow tier (make test-slow)
def test_a_two_process_run_killed_within_an_epoch_selects_like_an_uninterrupted_one(
        cwd, capsys):
    """torchrun with two processes (gloo), diff_rank_seed, a checkpoint every iteration: the
    kill comes after a batch that is neither an epoch's first nor its last, so the run resumes
    within the epoch."""
    options = ('train_cfg.num_stages=3', 'train_dataloader.batch_size=2',
               'randomness.diff_rank_seed=True', 'default_hooks.checkpoint.by_epoch=False',
               *OPTIONS)
    start = time.time()
    whole = uninterrupted(command(cwd / 'whole_2p', options, nproc=2), cwd)
    try:
        rng = random.Random(16)
        # Stages 2 and 3 train 3 and 4 batches an epoch per process: 6 such batches in all.
        within = nth_line(rng.randint(1, 6), lambda line: (
            (m := TRAIN_LINE.search(line)) is not None and 1 < int(m[1]) < int(m[2])))
        killed, _, output = run(command(cwd / 'killed_2p', options, nproc=2), cwd, within,
                                delay=rng.uniform(0, 0.1))
        assert killed, output[-3000:]
        _, code, output = run(command(cwd / 'killed_2p', options, nproc=2, resume=True), cwd)
        assert code == 0, output[-3000:]
        assert 'Distributed training: True' in output
        first_batch = TRAIN_LINE.search(output)
        assert int(first_batch[1]) > 1, 'the run resumed at the start of an epoch'
        whole.wait(timeout=600)
    finally:
        if whole.poll() is None:
            kill_all(whole)
    assert whole.returncode == 0, whole.log.read_text()[-3000:]
    assert_same_run(cwd / 'killed_2p', cwd / 'whole_2p')
    with capsys.disabled():
        print(f'\n1 kill survived (resumed at batch {first_batch[0]}), '
              f'{time.time() - start:.0f} s')


class RandomDraws(Dataset):
    """Each sample is one draw from each of Python's, numpy's and torch's streams."""

    def __len__(self):
        return 6

    def __getitem__(self, index):
        return index, random.random(), float(np.random.rand()), float(torch.rand(()))


def epochs(dataset, num_workers, persistent):
    loader = DataLoader(dataset, batch_size=2, num_workers=num_workers,
                        persistent_workers=persistent, collate_fn=list)
    draws = []
    for epoch_seed in (3, 4):
        dataset.set_epoch_seed(epoch_seed)
        draws.append(sorted(sample for batch in loader for sample in batch))
    return draws


def test_a_samples_draws_depend_on_its_epoch_and_index_not_on_the_process_that_loads_it():
    dataset = SampleSeededDataset(RandomDraws())
    in_main = epochs(dataset, 0, False)
    streams = random.getstate(), np.random.get_state()[1], torch.get_rng_state()
    assert dataset[0] == in_main[1][0]
    # the process's own streams are as before the sample
    assert random.getstate() == streams[0]
    assert np.array_equal(np.random.get_state()[1], streams[1])
    assert torch.equal(torch.get_rng_state(), streams[2])
    assert epochs(dataset, 2, False) == in_main
    assert epochs(dataset, 2, True) == in_main  # workers started before the epoch seed changed
    first, second = in_main
    assert len({draws for sample in first for draws in sample[1:]}) == 3 * 6
    assert all(a[1:] != b[1:] for a, b in zip(first, second))  # every epoch draws anew
