"""StopLossGradHook from epoch 0: the network trains exactly as with λ=0 (MNIST 5k LeNet-5)."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from conftest import config_path
from mmlearnloss.engine import StopLossGradHook

CONFIG = 'mnist5k/lenet5_mnist5k_learnloss.py'


def build(loss_weight: float):
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    cfg = Config.fromfile(config_path(CONFIG))
    model_cfg = cfg.model.to_dict()
    model_cfg['loss']['loss_weight'] = loss_weight
    model_cfg['data_preprocessor'] = cfg.data_preprocessor.to_dict()
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        torch.manual_seed(0)
        model = MODELS.build(model_cfg)
    generator = torch.Generator().manual_seed(1)
    data = dict(
        inputs=[torch.randint(0, 256, (1, 32, 32), dtype=torch.uint8, generator=generator)
                for _ in range(8)],
        data_samples=[DataSample().set_gt_label(i % 10) for i in range(8)])
    return model, model.data_preprocessor(data, True)


def fake_runner(model, epoch, max_epochs=25):
    return SimpleNamespace(model=model, epoch=epoch,
                           train_loop=SimpleNamespace(max_epochs=max_epochs))


def gradients(model, batch, keys=None):
    model.zero_grad()
    losses = model(**batch, mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k and (keys is None or k in keys))
    total.backward()
    return {name: None if p.grad is None else p.grad.clone()
            for name, p in model.named_parameters()}


@pytest.mark.parametrize('epoch, detached', [(0, True), (1, True), (7, True)])
def test_stop_at_epoch_0_detaches_from_the_first_epoch_on(epoch, detached):
    model, _ = build(1.0)
    assert model.detach_taps is False
    StopLossGradHook(epoch=0).before_train_epoch(fake_runner(model, epoch))
    assert model.detach_taps is detached


def test_stop_at_epoch_0_keeps_the_architecture_gradient_of_lambda_0_and_trains_the_head():
    joint, batch = build(1.0)
    StopLossGradHook(epoch=0).before_train_epoch(fake_runner(joint, 0))
    baseline, _ = build(0.0)
    detached_grads = gradients(joint, batch)
    baseline_grads = gradients(baseline, batch)
    for name, grad in detached_grads.items():
        if name.startswith('architecture.'):
            assert torch.allclose(grad, baseline_grads[name], atol=1e-7), name
    # Every weight of the module learns (the last bias cannot: a ranking loss sees differences).
    head = [g for n, g in detached_grads.items()
            if n.startswith('loss_prediction_head.') and n.endswith('weight')]
    assert len(head) == 4 and all(g is not None and g.abs().sum() > 0 for g in head)
    # The module's loss alone sends nothing into the network.
    only_pred = gradients(joint, batch, keys={'loss_pred'})
    assert all(g is None or not g.any() for n, g in only_pred.items()
               if n.startswith('architecture.'))


def test_without_the_stop_the_joint_loss_changes_the_architecture_gradient():
    joint, batch = build(1.0)
    baseline, _ = build(0.0)
    joint_grads, baseline_grads = gradients(joint, batch), gradients(baseline, batch)
    name = 'architecture.backbone.features.0.weight'
    assert not torch.allclose(joint_grads[name], baseline_grads[name])


def test_stop_at_epoch_0_does_not_warn_that_it_never_happens(capsys):
    model, _ = build(1.0)
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mmengine')
    StopLossGradHook(epoch=0).before_train(fake_runner(model, 0, max_epochs=1))
    assert 'never happens' not in capsys.readouterr().out
