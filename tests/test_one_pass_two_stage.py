"""Faster R-CNN's per-image losses read from its batch loss (the shipped VOC config).

The RPN and RoI samplers draw at random, so the batch pass and a replay of one image sample
different anchors and RoIs: each image's one-pass terms are those of the batch pass's own
samples, divided by the image's own normalisers. Two relations pin that down: alone in its
batch, an image's one-pass loss is its replay under the same random draws; and with samplers
that keep every candidate (nothing drawn) the one pass equals the replay for every batch (the
zoo test checks this on mmdet's own Faster R-CNN config too).
"""
import copy

import pytest
import torch
from mmdet.testing import demo_mm_inputs

from conftest import build_model
from mmlearnloss.models.per_sample import total_loss
from mmlearnloss.utils import seeded_rng


@pytest.fixture(scope='module')
def model():
    return build_model('faster-rcnn_voc_learnloss.py', 'mmdet')


def batch(model, n, training=True):
    torch.manual_seed(3)
    packed = demo_mm_inputs(batch_size=n, image_shapes=[(3, 128, 160)] * n,
                            num_items=[3, 1, 2][:n], num_classes=20)
    data = model.data_preprocessor(packed, training)
    return data['inputs'], data['data_samples']


def test_the_shipped_config_takes_the_one_pass_path(model):
    assert model.adapter.path(model.architecture).startswith('one pass')


def test_alone_in_its_batch_an_image_loss_is_its_replay_under_the_same_draws(model):
    model.train()
    arch = model.architecture
    inputs, samples = batch(model, 1)
    with torch.no_grad(), seeded_rng(0, inputs.device):
        _, one_pass = model.adapter.loss(arch, inputs, samples)
    with torch.no_grad():
        replayed = model.adapter.replay_each(arch, inputs, samples, arch.extract_feat(inputs))
    torch.testing.assert_close(one_pass, replayed, rtol=1e-4, atol=1e-5)


def test_with_every_candidate_sampled_the_one_pass_equals_the_replay_in_training(model):
    model.train()
    arch = model.architecture
    saved = copy.deepcopy(arch.train_cfg)
    # Keep every anchor and RoI: the assigners' and samplers' objects read these at each call.
    arch.rpn_head.sampler.num = arch.roi_head.bbox_sampler.num = 10**6
    try:
        inputs, samples = batch(model, 3)
        with torch.no_grad():
            losses, one_pass = model.adapter.loss(arch, inputs, samples)
            replayed = model.adapter.replay_each(arch, inputs, samples,
                                                 arch.extract_feat(inputs))
    finally:
        arch.rpn_head.sampler.num = saved.rpn.sampler.num
        arch.roi_head.bbox_sampler.num = saved.rcnn.sampler.num
    assert one_pass.shape == (3, ) and one_pass.std() > 0
    torch.testing.assert_close(one_pass, replayed, rtol=1e-4, atol=1e-5)
    assert torch.isfinite(total_loss(losses))


def test_with_random_draws_each_image_has_its_own_finite_loss(model):
    model.train()
    inputs, samples = batch(model, 3)
    with torch.no_grad():
        _, one_pass = model.adapter.loss(model.architecture, inputs, samples)
        _, again = model.adapter.loss(model.architecture, inputs, samples)
    assert one_pass.shape == (3, ) and torch.isfinite(one_pass).all() and (one_pass > 0).all()
    # other draws, other RoIs: close, not equal (the replay draws once more too)
    assert not torch.equal(one_pass, again)
    torch.testing.assert_close(one_pass, again, rtol=0.5, atol=0.0)
