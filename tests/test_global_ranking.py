"""Ranking over the global batch with two CPU processes (gloo): the loss and, after DDP's
averaging, the gradients equal one process's on the concatenated batch."""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from conftest import free_port
from mmlearnloss.models import LearningLoss, LossPredictionLoss
from mmlearnloss.models.losses import gather_batch, scale_for_ddp_mean
from toy_models import TinyGrayNet

# The slow tier (make test-slow): two processes, their group on a port found free just before.
pytestmark = pytest.mark.slow

WORLD = 2
SIZES = (3, 2)  # ranks hold different numbers of samples, as with a short last batch


def tensor_batch():
    gen = torch.Generator().manual_seed(1)
    return torch.randn(sum(SIZES), 4, generator=gen), torch.rand(sum(SIZES), generator=gen)


def model_batch():
    gen = torch.Generator().manual_seed(2)
    return torch.randn(4, 1, 28, 28, generator=gen), torch.rand(4, generator=gen).tolist()


def tiny_head():
    torch.manual_seed(0)
    return nn.Linear(4, 1)


def wrapped_model(global_ranking=True):
    torch.manual_seed(0)
    # No BatchNorm: a sample's loss does not depend on which samples share its batch.
    return LearningLoss(architecture=TinyGrayNet(batch_norm=False), probe_shape=(1, 28, 28),
                        global_ranking=global_ranking)


def grads(module):
    return {name: p.grad.clone() for name, p in module.named_parameters() if p.grad is not None}


def on_one_rank(rank: int, port: int, out_dir: str) -> None:
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
                            world_size=WORLD)
    torch.set_num_threads(1)
    out = {}
    # Plain tensors: a tiny head under DDP, each rank with its own slice of the batch.
    feats, targets = tensor_batch()
    start = sum(SIZES[:rank])
    local = slice(start, start + SIZES[rank])
    for pairs in ('halves', 'all'):
        head = tiny_head()
        ddp = DistributedDataParallel(head)
        pred_all, target_all = gather_batch(ddp(feats[local]).squeeze(1), targets[local])
        loss = scale_for_ddp_mean(LossPredictionLoss(pairs=pairs)(pred_all, target_all), WORLD)
        loss.backward()
        out[pairs] = dict(loss=loss.item(), grads=grads(head), target=target_all)
    # Through LearningLoss, two samples per rank as with mmdet's 2 images per GPU.
    inputs, samples = model_batch()
    for global_ranking in (True, False):
        model = wrapped_model(global_ranking)
        ddp = DistributedDataParallel(model)  # kept: its reducer must outlive the backward
        losses = ddp(inputs[2 * rank:2 * rank + 2], samples[2 * rank:2 * rank + 2], mode='loss')
        (losses['loss'] + losses['loss_pred']).backward()
        out[f'wrapper_{global_ranking}'] = dict(
            loss_pred=losses['loss_pred'].item(), rank_acc=losses['rank_acc'].item(),
            grads=grads(model))
    torch.save(out, f'{out_dir}/rank{rank}.pt')
    # Both ranks leave together, as in the other two-process tests: without it, one rank hung
    # at the end once (both result files written), and the slow tier with it.
    dist.barrier()
    dist.destroy_process_group()


@pytest.fixture(scope='module')
def ranks(tmp_path_factory) -> dict:
    """What each of two processes computed: {rank: results}."""
    out_dir = tmp_path_factory.mktemp('ranks')
    port = free_port()
    mp.spawn(on_one_rank, args=(port, str(out_dir)), nprocs=WORLD)
    return {rank: torch.load(out_dir / f'rank{rank}.pt') for rank in range(WORLD)}


@pytest.mark.parametrize('pairs', ['halves', 'all'])
def test_global_loss_and_ddp_gradients_equal_one_process_on_the_whole_batch(ranks, pairs):
    feats, targets = tensor_batch()
    head = tiny_head()
    loss = LossPredictionLoss(pairs=pairs)(head(feats).squeeze(1), targets)
    loss.backward()
    for rank in range(WORLD):
        got = ranks[rank][pairs]
        torch.testing.assert_close(got['target'], targets)  # rank order, padding stripped
        assert got['loss'] == pytest.approx(loss.item(), rel=1e-6)
        for name, grad in grads(head).items():
            torch.testing.assert_close(got['grads'][name], grad)


def test_learning_loss_ranks_the_global_batch_by_default(ranks):
    model = wrapped_model()
    inputs, samples = model_batch()
    losses = model(inputs, samples, mode='loss')
    (losses['loss'] + losses['loss_pred']).backward()
    for rank in range(WORLD):
        got = ranks[rank]['wrapper_True']
        assert got['loss_pred'] == pytest.approx(losses['loss_pred'].item(), rel=1e-5)
        assert got['rank_acc'] == pytest.approx(losses['rank_acc'].item())
        expected = grads(model)
        assert set(got['grads']) == set(expected)
        for name, grad in expected.items():
            torch.testing.assert_close(got['grads'][name], grad, rtol=1e-4, atol=1e-6)


def test_global_ranking_false_ranks_each_rank_on_its_own(ranks):
    inputs, samples = model_batch()
    for rank in range(WORLD):
        model = wrapped_model(global_ranking=False)
        local = model(inputs[2 * rank:2 * rank + 2], samples[2 * rank:2 * rank + 2], mode='loss')
        got = ranks[rank]['wrapper_False']
        assert got['loss_pred'] == pytest.approx(local['loss_pred'].item(), rel=1e-5)
    assert ranks[0]['wrapper_False']['loss_pred'] != \
        pytest.approx(ranks[0]['wrapper_True']['loss_pred'])
