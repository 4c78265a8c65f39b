"""Gathering scored values across ranks (two CPU processes, gloo): tensors, not pickles."""
import os
import subprocess
import sys

import pytest

from conftest import ROOT, free_port

# The slow tier (make test-slow): two processes, their group on a port found free just before.
pytestmark = pytest.mark.slow

SCRIPT = r'''
import pickle
import sys

import torch
import torch.distributed as dist

from mmlearnloss.active import scoring

dist.init_process_group('gloo')
rank = dist.get_rank()
pickled = []
real = scoring.all_gather_object


def recording(obj):
    pickled.append(len(pickle.dumps(obj)))
    return real(obj)


scoring.all_gather_object = recording
features = torch.arange(7 * 512, dtype=torch.float32).reshape(7, 512)
# DefaultSampler(round_up=False) shards: rank 0 scores 0, 2, 4, 6 and rank 1 scores 1, 3, 5.
shard = list(range(rank, 7, 2))
full = scoring._gather(shard, [features[shard[:2]], features[shard[2:]]], 7)
assert torch.equal(full, features), full[:, 0]
# A rank with nothing to score (a pool smaller than the world) still gathers.
full = scoring._gather([0] if rank == 0 else [], [features[:1]] if rank == 0 else [], 1)
assert torch.equal(full, features[:1]), full
assert max(pickled) < 200, pickled  # only counts and shapes were pickled
open(sys.argv[1] + f'/ok_{rank}', 'w').close()
dist.barrier()
dist.destroy_process_group()
'''


def test_two_ranks_gather_their_shards_in_dataset_order_as_tensors(tmp_path):
    script = tmp_path / 'gather.py'
    script.write_text(SCRIPT)
    port = free_port()
    run = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
         f'--master_port={port}', str(script), str(tmp_path)],
        env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / 'ok_0').exists() and (tmp_path / 'ok_1').exists()
