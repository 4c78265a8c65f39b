"""LearningLoss around mmpose's 2-stack hourglass (MPII config): per-sample heatmap MSE."""
import pytest
import torch
from mmpose.testing import get_packed_inputs

from conftest import build_model


@pytest.fixture(scope='module')
def model():
    return build_model('hourglass_mpii_learnloss.py', 'mmpose')


def batch(model, n=3, training=True):
    packed = get_packed_inputs(batch_size=n, num_keypoints=16, img_shape=(128, 128),
                               input_size=(128, 128), heatmap_size=(32, 32),
                               with_reg_label=False, with_simcc_label=False)
    data = model.data_preprocessor(packed, training)
    return data['inputs'], data['data_samples']


def test_config_uses_two_stacks_and_taps_both(model):
    backbone = model.architecture.backbone
    assert backbone.num_stacks == 2
    assert model.taps.names == ['backbone']
    assert model.loss_prediction_head.in_channels == [256, 256]
    assert model.loss_prediction_loss.loss_weight == pytest.approx(1e-4)
    params = sum(p.numel() for p in backbone.parameters())
    assert 30e6 < params < 40e6  # Newell-sized stacks, not mmpose's 188M default


def test_per_sample_losses_average_to_the_framework_loss(model):
    model.train()
    inputs, samples = batch(model)
    with torch.no_grad():
        losses, per_sample = model.adapter.loss(model.architecture, inputs, samples)
    assert per_sample.shape == (3, ) and (per_sample > 0).all()
    torch.testing.assert_close(per_sample.mean(), losses['loss_kpt'], rtol=1e-5, atol=1e-8)


def test_per_sample_loss_is_the_weighted_heatmap_mse_summed_over_stacks(model):
    model.train()
    inputs, samples = batch(model)
    with torch.no_grad():
        _, per_sample = model.adapter.loss(model.architecture, inputs, samples)
        heatmaps = model.architecture.head(model.architecture.extract_feat(inputs))
    gt = samples[1].gt_fields.heatmaps
    weight = samples[1].gt_instance_labels.keypoint_weights[0][:, None, None]
    expected = sum((((h[1] - gt)**2) * weight).mean() for h in heatmaps)
    torch.testing.assert_close(per_sample[1], expected, rtol=1e-5, atol=1e-8)


def test_loss_mode_logs_loss_pred_with_lambda(model):
    model.train()
    losses = model(*batch(model, 2), mode='loss')
    assert {'loss_kpt', 'acc_pose', 'loss_pred', 'rank_acc'} <= set(losses)
    assert 0 <= losses['loss_pred'].item() <= 1e-4 * 100


def test_heatmap_entropy_is_mean_over_keypoints(model):
    model.eval()
    inputs, samples = batch(model, 2, training=False)
    with torch.no_grad():
        unc = model.score(inputs, samples, needs=('uncertainty', ))['uncertainty']
        heatmaps = model.architecture.head(model.architecture.extract_feat(inputs))[-1]
    probs = torch.softmax(heatmaps.flatten(2), -1)
    torch.testing.assert_close(unc, -(probs * probs.log()).sum(-1).mean(1))


def test_training_reads_the_losses_from_the_one_head_pass_equal_to_the_replay(model):
    model.train()
    arch = model.architecture
    inputs, samples = batch(model)
    assert model.adapter.path(arch).startswith('one pass')
    calls = []
    forward = arch.head.forward  # CPMHead.loss calls self.forward: count there, not in hooks
    arch.head.forward = lambda *args, **kwargs: calls.append(1) or forward(*args, **kwargs)
    try:
        with torch.no_grad():
            _, per_sample = model.adapter.loss(arch, inputs, samples)
    finally:
        del arch.head.forward
    assert calls == [1]  # the batch's head pass only: no head pass per sample
    with torch.no_grad():
        replayed = model.adapter.replay_each(arch, inputs, samples, arch.extract_feat(inputs))
    torch.testing.assert_close(per_sample, replayed, rtol=1e-5, atol=1e-8)


def test_target_instances_counts_the_people_of_a_top_down_sample(model):
    # a top-down sample is one person: its target is its loss
    _, samples = batch(model)
    assert [len(s.gt_instances) for s in samples] == [1, 1, 1]
    assert model.adapter.num_instances(samples) == [1, 1, 1]
