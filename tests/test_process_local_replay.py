"""Per-sample target losses are local to their process: with two gloo processes, a head whose
loss all-reduces its normaliser (mmdet's reduce_mean in FCOS) gives each sample the target one
process gives it, and a prediction with targets on one rank alone finishes."""
import datetime
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from conftest import free_port
from mmlearnloss.models import LearningLoss
from test_zoo_per_sample import DET, Case, build_architecture, make_batch

# The slow tier (make test-slow): two processes, their group on a port found free just before.
pytestmark = pytest.mark.slow

CONFIG = 'fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py'


def wrapped():
    """The same FCOS in every process, and a 4-image batch (3, 1, 2 and 4 boxes)."""
    torch.manual_seed(0)
    case = Case(batch=4)
    arch = build_architecture(DET, CONFIG, case)
    inputs, samples = make_batch(arch, DET, case)
    model = LearningLoss(architecture=arch, taps=['neck']).eval()
    model.eval_gt_frame = 'input'  # demo_mm_inputs draws the boxes on the input
    return model, inputs, samples


def rank_batch(inputs, samples, rank):
    """Rank 0: images 0-1, rank 1: images 2-3 (other boxes, other positives)."""
    return inputs[2 * rank:2 * rank + 2], samples[2 * rank:2 * rank + 2]


def on_one_rank(rank: int, port: int, out_dir: str) -> None:
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
                            world_size=2, timeout=datetime.timedelta(seconds=60))
    torch.set_num_threads(1)
    model, *batch = wrapped()
    inputs, samples = rank_batch(*batch, rank)
    with torch.no_grad():
        _, targets = model.adapter.loss(model.architecture, inputs, samples)
    out = dict(targets=targets)
    if rank == 0:  # predicts with targets alone, as for pre-annotations of rank 0
        with torch.no_grad():
            results = model.predict(inputs, samples)
        out['val_targets'] = torch.stack([r.target_loss for r in results])
    dist.barrier()
    torch.save(out, os.path.join(out_dir, f'rank{rank}.pt'))
    dist.destroy_process_group()


@pytest.fixture(scope='module')
def ranks(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp('local_replay')
    mp.spawn(on_one_rank, args=(free_port(), str(out_dir)), nprocs=2)
    return [torch.load(out_dir / f'rank{rank}.pt') for rank in range(2)]


def test_each_rank_gets_the_targets_one_process_gives_its_samples(ranks):
    model, *batch = wrapped()
    for rank in range(2):
        inputs, samples = rank_batch(*batch, rank)
        with torch.no_grad():
            _, alone = model.adapter.loss(model.architecture, inputs, samples)
        torch.testing.assert_close(ranks[rank]['targets'], alone)
    assert not torch.allclose(ranks[0]['targets'], ranks[1]['targets'])


def test_a_prediction_with_targets_on_one_rank_alone_finishes(ranks):
    model, *batch = wrapped()
    inputs, samples = rank_batch(*batch, 0)
    with torch.no_grad():
        alone = torch.stack([r.target_loss for r in model.predict(inputs, samples)])
    torch.testing.assert_close(ranks[0]['val_targets'], alone)
