"""k-Center-Greedy's one implementation: the same picks whatever fits in device memory.

It runs on CPU tensors here (``device=cpu``); the GPU suite (``-m gpu``) runs it on CUDA and
compares with the CPU. Memory limits are set small so that rows are streamed in blocks.
"""
import logging

import pytest
import torch

from mmlearnloss.active import strategies
from mmlearnloss.active.strategies import (CoresetStrategy, DiverseLearningLossStrategy,
                                           k_center_greedy, resolve_device)

CPU = torch.device('cpu')


def features(n=300, d=16, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def on_device(points, k, centers=None, first=None, **kwargs):
    picked = strategies._k_center_greedy_on_device(points, k, centers, first, CPU, **kwargs)
    return picked.tolist()


@pytest.mark.parametrize('with_centers', [True, False])
def test_k_center_greedy_on_the_cpu_is_the_device_path_with_everything_resident(with_centers):
    points = features()
    centers = features(40, seed=1) if with_centers else None
    first = None if with_centers else 17
    expected = k_center_greedy(points, 60, centers=centers, first=first).tolist()
    assert on_device(points, 60, centers, first) == expected


@pytest.mark.parametrize('budget_rows', [0, 1, 97, 299])
def test_rows_that_do_not_fit_are_streamed_in_blocks_with_the_same_picks(monkeypatch,
                                                                         budget_rows):
    points, centers = features(), features(40, seed=1)
    block_bytes = 4 * 16 * 25  # 25 rows per block buffer
    monkeypatch.setattr(strategies, '_DEVICE_BLOCK_BYTES', block_bytes)
    overhead = 3 * 4 * 300 + 40 * 4 * 16 + 2 * block_bytes
    budget = overhead + budget_rows * 4 * 16
    copies = []
    real_copy = torch.Tensor.copy_
    monkeypatch.setattr(torch.Tensor, 'copy_',
                        lambda dst, src, *a, **kw: copies.append(len(src)) or real_copy(dst, src))
    picked = on_device(points, 30, centers, max_device_bytes=budget)
    assert picked == k_center_greedy(points, 30, centers=centers).tolist()
    streamed = 300 - budget_rows
    # The streamed rows pass through the 25-row buffer: once for the norms, once for the
    # distances to the centers, and once per pick but the last.
    blocks = -(-streamed // 25)
    assert len(copies) == blocks * (2 + 29)
    assert sum(copies) == streamed * (2 + 29)


def test_duplicates_never_repeat_and_tie_on_the_lowest_index():
    points = torch.ones(6, 3)
    points[4] = 5
    assert on_device(points, 6, torch.zeros(1, 3)) == [4, 0, 1, 2, 3, 5]
    assert on_device(points, 6, torch.zeros(1, 3)) == k_center_greedy(
        points, 6, centers=torch.zeros(1, 3)).tolist()


def test_too_little_device_memory_for_the_vectors_falls_back_to_the_cpu(caplog_mm):
    points = features()
    assert strategies._k_center_greedy_on_device(points, 5, None, 0, CPU,
                                                 max_device_bytes=1000) is None
    assert 'too little free memory' in caplog_mm.text


def test_a_gpu_asked_for_without_cuda_runs_on_the_cpu_with_one_log_line(monkeypatch, caplog_mm):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(strategies, '_LOGGED', set())
    points, centers = features(), features(40, seed=1)
    expected = k_center_greedy(points, 20, centers=centers).tolist()
    for _ in range(2):
        assert k_center_greedy(points, 20, centers=centers, device='cuda').tolist() == expected
    assert caplog_mm.text.count('CUDA is not available; running on the CPU') == 1
    assert resolve_device('auto') == CPU
    ids = list(range(300))
    assert (CoresetStrategy(device='cuda:1').select(ids, 20, points, centers)
            == [ids[i] for i in expected])


@pytest.mark.parametrize('device', ['gpu', 'cuda:x', 3.5, 'mps'])
def test_an_unknown_device_is_refused_with_the_accepted_ones(device):
    with pytest.raises(ValueError, match="'auto', 'cpu', 'cuda' or 'cuda:N'"):
        CoresetStrategy(device=device)
    with pytest.raises(ValueError, match="'auto', 'cpu', 'cuda' or 'cuda:N'"):
        DiverseLearningLossStrategy(device=device)


@pytest.fixture
def caplog_mm(caplog):
    """caplog that also sees mmengine's 'current' logger (it does not propagate)."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO)
    yield caplog
    logger.removeHandler(caplog.handler)
