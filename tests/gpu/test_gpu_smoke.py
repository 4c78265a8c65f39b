"""GPU smoke suite: the CUDA paths, where CUDA exists. Not part of the CPU suite.

Run with ``python -m pytest -m gpu tests/gpu`` (the default ``-m "not gpu"`` of pytest.ini
deselects it). Without CUDA every test here is reported as skipped, with the reason.
"""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.registry import DefaultScope

from conftest import ROOT, build_model, free_port
from mmlearnloss.active import strategies
from mmlearnloss.active.scoring import scoring_autocast
from mmlearnloss.active.strategies import k_center_greedy

sys.path.insert(0, osp.join(ROOT, 'tools', 'benchmarks'))
from learnloss_overhead import TASKS  # noqa: E402  (the three paper configs and their batches)

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA: the GPU smoke suite'),
]

FASTER_RCNN = ('faster-rcnn_voc_learnloss.py', 'mmdet', TASKS['det'][2], 'Faster R-CNN VOC')


def on_cuda(tensors) -> bool:
    return all(t.is_cuda for t in tensors)


@pytest.mark.parametrize('case', [*TASKS.values(), FASTER_RCNN], ids=lambda case: case[3])
def test_a_config_trains_predicts_and_scores_on_cuda(case):
    config, scope, make_batch, _ = case
    model = build_model(config, scope).cuda()
    model.eval_gt_frame = 'input'  # the framework's test batches draw their boxes on the input
    optim = torch.optim.SGD(model.parameters(), lr=1e-4)
    with DefaultScope.overwrite_default_scope(scope):
        data = make_batch(model, 2)
        model.train()
        for _ in range(3):
            optim.zero_grad()
            losses = model(data['inputs'], data['data_samples'], mode='loss')
            total, _ = model.parse_losses(losses)
            total.backward()
            optim.step()
            assert torch.isfinite(total) and losses['loss_pred'].is_cuda
        head_grads = [p.grad for p in model.loss_prediction_head.parameters()]
        assert on_cuda(head_grads) and sum(g.abs().sum() for g in head_grads) > 0
        model.eval()
        with torch.no_grad():
            results = model(data['inputs'], data['data_samples'], mode='predict')
            scored = model.score(data['inputs'], needs=('pred_loss', 'features'))
            with scoring_autocast(model, True):
                mixed = model.score(data['inputs'], needs=('pred_loss', 'features'))
    assert all(r.pred_loss.is_cuda and torch.isfinite(r.target_loss) for r in results)
    assert on_cuda(scored.values()) and scored['pred_loss'].shape == (2, )
    torch.testing.assert_close(mixed['pred_loss'].float(), scored['pred_loss'], rtol=0.05,
                               atol=0.05)


@pytest.mark.parametrize('with_centers', [True, False])
def test_k_center_greedy_on_cuda_picks_what_the_cpu_picks(with_centers):
    generator = torch.Generator().manual_seed(0)
    points = torch.randn(20_000, 64, generator=generator)
    centers = torch.randn(500, 64, generator=generator) if with_centers else None
    cpu = k_center_greedy(points, 300, centers=centers, seed=3, device='cpu')
    gpu = k_center_greedy(points, 300, centers=centers, seed=3, device='cuda')
    assert gpu.tolist() == cpu.tolist()


def test_k_center_greedy_streams_what_does_not_fit_on_the_gpu(monkeypatch):
    generator = torch.Generator().manual_seed(1)
    points, centers = torch.randn(5_000, 32, generator=generator), torch.randn(50, 32)
    monkeypatch.setattr(strategies, '_DEVICE_BLOCK_BYTES', 4 * 32 * 300)
    budget = 3 * 4 * 5_000 + 50 * 4 * 32 + 2 * 4 * 32 * 300 + 1_000 * 4 * 32  # 1000 rows fit
    streamed = strategies._k_center_greedy_on_device(points, 100, centers, None,
                                                     torch.device('cuda'), budget)
    assert streamed.tolist() == k_center_greedy(points, 100, centers=centers).tolist()


@pytest.mark.parametrize('strategy', ['learning_loss', 'entropy', 'coreset', 'random'])
def test_one_gpu_launcher_pytorch_run_of_al_train(tmp_path, strategy):
    from mmlearnloss.testing.cifar import make_cifar10
    make_cifar10(str(tmp_path / 'data' / 'mini'), n_train=100, n_test=20, seed=0)
    port = free_port()
    config = osp.join(ROOT, 'configs', 'mini', 'resnet18_cifar10_learnloss_mini.py')
    run = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=1',
         f'--master_port={port}', osp.join(ROOT, 'tools', 'al_train.py'), config,
         '--work-dir', str(tmp_path / 'work'), '--launcher', 'pytorch', '--cfg-options',
         'train_cfg.num_stages=2', 'train_cfg.initial_size=20', 'train_cfg.query_size=10',
         'train_cfg.subset_size=None', 'train_cfg.max_epochs=1', 'train_cfg.score_amp=True',
         f'train_cfg.strategy={strategy}', 'train_dataloader.batch_size=10',
         'val_dataloader.batch_size=10'],
        cwd=tmp_path, env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True,
        timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert 'Distributed training: True' in run.stdout
    state = json.loads((tmp_path / 'work' / 'al_state.json').read_text())
    assert len(state['stages'][0]['selected']) == 10 and len(set(state['labeled'])) == 30


def test_amp_flag_trains_with_an_amp_optim_wrapper_on_cuda(tmp_path):
    from mmlearnloss.testing.cifar import make_cifar10
    make_cifar10(str(tmp_path / 'data' / 'mini'), n_train=60, n_test=10, seed=0)
    config = osp.join(ROOT, 'configs', 'mini', 'resnet18_cifar10_learnloss_mini.py')
    run = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'al_train.py'), config, '--amp',
         '--work-dir', str(tmp_path / 'work'), '--cfg-options', 'train_cfg.num_stages=2',
         'train_cfg.initial_size=20', 'train_cfg.query_size=10', 'train_cfg.max_epochs=1',
         'train_dataloader.batch_size=10', 'val_dataloader.batch_size=10'],
        cwd=tmp_path, env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True,
        timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    [dumped] = (tmp_path / 'work').glob('*.py')
    assert "type='AmpOptimWrapper'" in dumped.read_text()
    state = json.loads((tmp_path / 'work' / 'al_state.json').read_text())
    assert [s['status'] for s in state['stages']] == ['selected', 'selected']
