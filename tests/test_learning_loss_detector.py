"""LearningLoss around mmdet's SSD300 (VOC config): per-image losses and the scoring path."""
import pytest
import torch
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope

from conftest import build_model, config_path
from mmlearnloss.models.per_sample import total_loss


@pytest.fixture(scope='module')
def model():
    model = build_model('ssd_voc_learnloss.py', 'mmdet')
    model.eval_gt_frame = 'input'  # demo_mm_inputs draws the boxes on the input
    return model


def batch(model, n=3, training=True):
    torch.manual_seed(1)
    packed = demo_mm_inputs(batch_size=n, image_shapes=[(3, 300, 300)] * n, num_items=[2, 1, 3][:n],
                            num_classes=20)
    data = model.data_preprocessor(packed, training)
    return data['inputs'], data['data_samples']


def test_config_taps_the_six_ssd_feature_maps(model):
    assert type(model.architecture.bbox_head).__name__ == 'SSDHead'
    assert model.taps.names == ['neck']
    assert model.loss_prediction_head.in_channels == [512, 1024, 512, 256, 256, 256]


def test_each_image_loss_is_the_ssd_loss_of_that_image_alone(model):
    # SSD normalises by the batch's positives, so per-image losses cannot sum to its loss;
    # each image's target is its loss with the image as its whole batch.
    model.train()
    inputs, samples = batch(model)
    with torch.no_grad():
        _, per_image = model.adapter.loss(model.architecture, inputs, samples)
        alone = [total_loss(model.architecture.loss(inputs[i:i + 1], [samples[i]]))
                 for i in range(3)]
    assert per_image.shape == (3, )
    assert (per_image > 0).all()
    torch.testing.assert_close(per_image, torch.stack(alone), rtol=1e-4, atol=1e-4)
    # the images really differ: the target is not the batch loss repeated
    assert per_image.std() > 0


def test_training_reads_each_image_loss_from_the_one_batch_loss(model):
    model.train()
    inputs, samples = batch(model)
    arch = model.architecture
    assert model.adapter.path(arch).startswith('one pass')
    calls = []
    loss_by_feat = arch.bbox_head.loss_by_feat
    arch.bbox_head.loss_by_feat = lambda *a, **k: calls.append(1) or loss_by_feat(*a, **k)
    try:
        with torch.no_grad():
            losses, per_image = model.adapter.loss(arch, inputs, samples)
            plain = arch.loss(inputs, samples)
    finally:
        del arch.bbox_head.loss_by_feat
    assert calls == [1, 1]  # the wrapped batch loss, then the plain one: no per-image pass
    assert losses.keys() == plain.keys()
    torch.testing.assert_close(total_loss(losses), total_loss(plain))
    with torch.no_grad():
        replayed = model.adapter.replay_each(arch, inputs, samples, arch.extract_feat(inputs))
    torch.testing.assert_close(per_image, replayed, rtol=1e-4, atol=1e-5)


def test_an_image_without_boxes_has_the_loss_of_its_replay(model):
    # No positives, so no hard negatives either: its terms are 0, divided by mmdet's
    # SamplingResult.avg_factor, at least 1.
    model.train()
    inputs, samples = batch(model)
    samples[1].gt_instances = samples[1].gt_instances[:0]
    arch = model.architecture
    with torch.no_grad():
        _, per_image = model.adapter.loss(arch, inputs, samples)
        replayed = model.adapter.replay_each(arch, inputs, samples, arch.extract_feat(inputs))
    assert per_image[1] == 0 and (per_image[[0, 2]] > 0).all()
    torch.testing.assert_close(per_image, replayed, rtol=1e-4, atol=1e-5)


def test_loss_mode_logs_loss_pred(model):
    model.train()
    losses = model(*batch(model, 2), mode='loss')
    assert {'loss_cls', 'loss_bbox', 'loss_pred', 'rank_acc'} <= set(losses)
    assert torch.isfinite(losses['loss_pred'])


def test_score_runs_no_detection_head(model):
    model.eval()
    inputs, samples = batch(model, 2, training=False)
    calls = []
    handle = model.architecture.bbox_head.register_forward_hook(lambda *a: calls.append(1))
    try:
        out = model.score(inputs, samples, needs=('pred_loss', 'features'))
    finally:
        handle.remove()
    assert calls == []
    assert out['pred_loss'].shape == (2, ) and out['features'].shape == (2, 256)


def predict_and_score(model):
    """Predict's results on two images, and the predicted losses of the scoring pass."""
    model.eval()
    inputs, samples = batch(model, 2, training=False)
    with torch.no_grad():
        return model(inputs, samples, mode='predict'), model.score(inputs)['pred_loss']


def test_predict_returns_detections_with_pred_loss_matching_score(model):
    results, scored = predict_and_score(model)
    assert all('bboxes' in r.pred_instances for r in results)
    torch.testing.assert_close(torch.stack([r.pred_loss for r in results]), scored)


def test_detection_entropy_is_finite_and_bounded(model):
    model.eval()
    inputs, samples = batch(model, 2, training=False)
    unc = model.score(inputs, samples, needs=('uncertainty', ))['uncertainty']
    assert unc.shape == (2, )
    assert ((unc >= 0) & (unc <= torch.log(torch.tensor(21.0)))).all()


def test_baselines_with_zero_weight_compute_no_per_image_targets(model, monkeypatch):
    # λ = 0 (random, entropy, core-set configs): nothing learns from the targets.
    model.train()
    replays = []
    monkeypatch.setattr(model.adapter, 'replay', lambda *a, **k: replays.append(1))
    monkeypatch.setattr(model.loss_prediction_loss, 'loss_weight', 0.0)
    model.zero_grad(set_to_none=True)
    losses = model(*batch(model, 2), mode='loss')
    assert replays == []
    assert losses['loss_pred'].item() == 0.0 and 'rank_acc' not in losses
    total_loss(losses).backward()
    # every parameter of the head is in the graph (as DDP expects), with zero gradients
    grads = [p.grad for p in model.loss_prediction_head.parameters()]
    assert all(g is not None and not g.any() for g in grads)


def test_target_instances_is_each_image_loss_times_its_boxes(model, monkeypatch):
    # target='instances': the loss each image's annotations carry in all, in training and
    # wherever the model is evaluated (clean_view and predict share the computation).
    inputs, samples = batch(model)  # 2, 1 and 3 boxes
    boxes = torch.tensor([2., 1., 3.])
    assert model.adapter.num_instances(samples) == [2, 1, 3]
    model.eval()
    _, loss = model.clean_view(inputs, samples)
    monkeypatch.setattr(model, 'target', 'instances')
    _, target = model.clean_view(inputs, samples)
    torch.testing.assert_close(target, loss * boxes)
    with torch.no_grad():
        results = model(inputs, samples, mode='predict')
    torch.testing.assert_close(torch.stack([r.target_loss for r in results]), loss * boxes)
    model.train()
    compared = []
    measure = model.loss_prediction_loss.measure
    monkeypatch.setattr(model.loss_prediction_loss, 'measure',
                        lambda pred, real: compared.append(real) or measure(pred, real))
    with torch.no_grad():
        per_image = model.adapter.loss(model.architecture, inputs, samples)[1]
        model(inputs, samples, mode='loss')
    torch.testing.assert_close(compared[0], per_image * boxes)


def test_scoring_target_loss_gives_the_oracle_the_real_losses(model, monkeypatch):
    model.eval()
    inputs, samples = batch(model, training=False)
    _, loss = model.clean_view(inputs, samples)
    torch.testing.assert_close(model.score(inputs, samples, needs=('target_loss', ))['target_loss'],
                               loss)
    monkeypatch.setattr(model, 'target', 'instances')
    torch.testing.assert_close(model.score(inputs, samples, needs=('target_loss', ))['target_loss'],
                               loss * torch.tensor([2., 1., 3.]))
    with pytest.raises(ValueError, match='needs the pool samples. annotations'):
        model.score(inputs, None, needs=('target_loss', ))


def test_an_unknown_target_is_named_with_the_choices():
    cfg = Config.fromfile(config_path('ssd_voc_learnloss.py'))
    with DefaultScope.overwrite_default_scope('mmdet'), \
            pytest.raises(ValueError, match="target='boxes'; expected one of .'loss', "
                                            "'instances'"):
        MODELS.build(dict(cfg.model, target='boxes'))


@pytest.fixture(scope='module')
def head_tapped():
    """SSD300 whose module also reads the class logits of every level, max-pooled."""
    cfg = Config.fromfile(config_path('ssd_voc_learnloss.py'))
    cfg.model.architecture.backbone.init_cfg = None
    cfg.model.taps = ['neck', 'bbox_head[0]']
    cfg.model.loss_prediction_head = dict(type='mmlearnloss.LossPredictionHead',
                                          pooling=['avg'] * 6 + ['max'] * 6)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval_gt_frame = 'input'
    return model


def test_taps_on_the_head_read_its_class_maps_of_every_level(head_tapped):
    # neck maps, then (anchors per position x 21 classes) of each of the six levels
    assert head_tapped.loss_prediction_head.in_channels == \
        [512, 1024, 512, 256, 256, 256] + [a * 21 for a in (4, 6, 6, 6, 4, 4)]


def test_with_taps_on_the_head_score_runs_the_head_and_matches_predict(head_tapped):
    results, scored = predict_and_score(head_tapped)
    torch.testing.assert_close(torch.stack([r.pred_loss for r in results]), scored)


def test_the_ranking_loss_reaches_the_tapped_head(head_tapped):
    head_tapped.train()
    head_tapped.zero_grad()
    head_tapped(*batch(head_tapped, 2), mode='loss')['loss_pred'].backward()
    grad = next(head_tapped.architecture.bbox_head.cls_convs[0].parameters()).grad
    assert grad is not None and grad.abs().sum() > 0
