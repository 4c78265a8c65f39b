"""LearningLoss around mmpretrain's ResNet-18 (CIFAR config): losses, gradients, predict, score."""
import pytest
import torch
from mmpretrain.structures import DataSample

from conftest import build_model
from mmlearnloss.models import LearningLoss

TAPS = ['backbone.layer1', 'backbone.layer2', 'backbone.layer3', 'backbone.layer4']


@pytest.fixture(scope='module')
def model() -> LearningLoss:
    return build_model('resnet18_cifar10_learnloss.py', 'mmpretrain')


def batch(n=6):
    inputs = torch.randn(n, 3, 32, 32)
    samples = [DataSample().set_gt_label(i % 10) for i in range(n)]
    return inputs, samples


def test_config_wraps_the_framework_model_with_the_paper_settings(model):
    assert type(model.architecture).__name__ == 'ImageClassifier'
    assert model.taps.names == TAPS
    assert model.loss_prediction_head.in_channels == [64, 128, 256, 512]
    assert model.loss_prediction_loss.margin == 1.0
    assert model.loss_prediction_loss.loss_weight == 1.0


def test_per_sample_losses_average_to_the_framework_loss(model):
    model.train()
    inputs, samples = batch()
    losses, per_sample = model.adapter.loss(model.architecture, inputs, samples)
    assert per_sample.shape == (6, )
    torch.testing.assert_close(per_sample.mean(), losses['loss'])
    # and each is that sample's own cross-entropy
    logits = model.architecture.head(model.architecture.extract_feat(inputs))
    expected = torch.nn.functional.cross_entropy(logits, torch.arange(6) % 10, reduction='none')
    torch.testing.assert_close(per_sample, expected, rtol=1e-4, atol=1e-5)


def test_loss_mode_adds_loss_pred_to_the_architecture_losses(model):
    model.train()
    losses = model(*batch(), mode='loss')
    assert {'loss', 'loss_pred', 'rank_acc', 'nan_targets'} <= set(losses)
    assert losses['loss_pred'].requires_grad and losses['loss_pred'].item() >= 0
    assert 0.0 <= losses['rank_acc'].item() <= 1.0
    assert losses['nan_targets'].item() == 0


def _grads_after_loss_pred(model):
    model.zero_grad(set_to_none=True)
    model(*batch(), mode='loss')['loss_pred'].backward()
    backbone = model.architecture.backbone.conv1.weight.grad  # the stem, below every tap
    head = model.loss_prediction_head.fc.weight.grad
    return backbone, head


def test_gradient_reaches_the_backbone_until_the_stop_and_not_after(model):
    model.train()
    model.detach_taps = False
    backbone, head = _grads_after_loss_pred(model)
    assert backbone is not None and backbone.abs().sum() > 0
    model.detach_taps = True
    try:
        backbone, head = _grads_after_loss_pred(model)
    finally:
        model.detach_taps = False
    assert backbone is None
    assert head is not None and head.abs().sum() > 0


def test_predict_sets_pred_loss_on_every_sample_in_input_order(model):
    model.eval()
    inputs, samples = batch(4)
    with torch.no_grad():
        results = model(inputs, samples, mode='predict')
        single = [model.score(inputs[i:i + 1])['pred_loss'].item() for i in range(4)]
    assert [r.pred_loss.item() for r in results] == pytest.approx(single, abs=1e-5)
    assert all(hasattr(r, 'pred_score') for r in results)  # the classifier's own prediction
    assert all(torch.isfinite(r.target_loss) for r in results)


def test_score_stops_at_the_deepest_tap_and_pools_it_for_features(model):
    model.eval()
    inputs, _ = batch(3)
    calls = []
    handle = model.architecture.neck.register_forward_hook(lambda *a: calls.append(1))
    try:
        out = model.score(inputs, needs=('pred_loss', 'features'))
    finally:
        handle.remove()
    assert calls == []  # the neck (after layer4) never ran
    assert out['pred_loss'].shape == (3, ) and out['features'].shape == (3, 512)


def test_entropy_uncertainty_is_that_of_the_softmax(model):
    model.eval()
    inputs, samples = batch(3)
    with torch.no_grad():
        out = model.score(inputs, samples, needs=('uncertainty', ))['uncertainty']
        probs = torch.softmax(model.architecture.head(model.architecture.extract_feat(inputs)), 1)
    torch.testing.assert_close(out, -(probs * probs.log()).sum(1))


def test_nan_target_loss_is_skipped_and_counted(model, monkeypatch):
    model.train()
    original = model.adapter.loss

    def with_nan(arch, inputs, samples, per_sample=True):
        losses, targets = original(arch, inputs, samples, per_sample)
        return losses, torch.cat([targets[:1] * float('nan'), targets[1:]])

    monkeypatch.setattr(model.adapter, 'loss', with_nan)
    losses = model(*batch(), mode='loss')
    assert losses['nan_targets'].item() == 1
    assert torch.isfinite(losses['loss_pred'])
    losses['loss_pred'].backward()
    assert torch.isfinite(model.loss_prediction_head.fc.weight.grad).all()


def test_unknown_tap_fails_when_the_model_is_built(model):
    with pytest.raises(ValueError, match=r"no submodule named 'backbone\.layer5'.*backbone\.layer"):
        LearningLoss(
            architecture=model.architecture, taps=['backbone.layer5'],
            loss_prediction_head=dict(type='mmlearnloss.LossPredictionHead', in_channels=[512]))


def test_wrong_in_channels_fail_with_both_numbers(model):
    wrapped = LearningLoss(
        architecture=model.architecture, taps=TAPS,
        loss_prediction_head=dict(type='mmlearnloss.LossPredictionHead',
                                  in_channels=[64, 128, 256, 256]))
    with pytest.raises(ValueError, match=r'\[64, 128, 256, 256\].*\[64, 128, 256, 512\]'):
        wrapped(*batch(2), mode='loss')


def test_predict_on_unlabeled_samples_gives_pred_loss_and_no_target(model):
    model.eval()
    inputs = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        results = model(inputs, [DataSample(), DataSample()], mode='predict')
    assert all(torch.isfinite(r.pred_loss) for r in results)
    assert not any('target_loss' in r for r in results)


def test_target_instances_counts_one_instance_a_classification_sample(model, monkeypatch):
    inputs, samples = batch()
    assert model.adapter.num_instances(samples) == [1] * 6
    model.eval()
    _, loss = model.clean_view(inputs, samples)
    monkeypatch.setattr(model, 'target', 'instances')
    _, target = model.clean_view(inputs, samples)
    torch.testing.assert_close(target, loss)
