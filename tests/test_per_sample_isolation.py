"""Per-sample losses whatever the loss does to its inputs and to its model: the batch loss and
each replay see samples none of the others changed, a loss that keeps counts in plain
attributes gives each sample its loss from the counts the step found, and a loss that runs
only in training mode, or a head whose forward reads the mode, gets its validation targets
computed in training mode, without noise."""
import copy

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import nn

from mmlearnloss.models import LearningLoss


class ToyHead(nn.Module):
    """Regresses each sample's ``gt.target`` from the pooled features."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 1)

    def forward(self, feats):
        return self.fc(feats.mean(dim=(2, 3))).squeeze(1)

    def loss(self, feats, data_samples):
        targets = torch.stack([sample.gt.target for sample in data_samples])
        return dict(loss=((self(feats) - targets)**2).mean())


class FieldReplacingHead(ToyHead):
    """Replaces a field of its samples' ground truth by a converted one, as RTMDet-Ins's head
    replaces ``gt_instances.masks`` by a tensor: a second call would convert it again."""

    def loss(self, feats, data_samples):
        for sample in data_samples:
            sample.gt.target = sample.gt.target + 100
        return super().loss(feats, data_samples)


class CountingHead(ToyHead):
    """Counts the samples of every loss call in a plain list and weighs its loss by the count,
    as DDOD's head counts positives per level."""

    def __init__(self):
        super().__init__()
        self.seen = [0]

    def loss(self, feats, data_samples):
        self.seen[0] += len(data_samples)
        return {key: value * (1 + 10 / self.seen[0])
                for key, value in super().loss(feats, data_samples).items()}


class TrainingOnlyHead(ToyHead):
    """Returns what its loss takes in training mode only (as VFNet's and RepPoints' heads), with
    BatchNorm and dropout on the way."""

    def __init__(self):
        super().__init__()
        self.norm = nn.BatchNorm1d(4)
        self.drop = nn.Dropout(0.5)

    def forward(self, feats):
        pred = self.fc(self.drop(self.norm(feats.mean(dim=(2, 3))))).squeeze(1)
        return (pred, pred.detach()) if self.training else pred

    def loss(self, feats, data_samples):
        pred, _ = self(feats)
        targets = torch.stack([sample.gt.target for sample in data_samples])
        return dict(loss=((pred - targets)**2).mean())


class EvalScalingHead(ToyHead):
    """Scales its predictions in eval mode only, as FCOS-style heads with ``norm_on_bbox``
    scale their boxes by the stride: its loss runs in eval mode, on what it does not take."""

    def forward(self, feats):
        pred = super().forward(feats)
        return pred if self.training else pred * 10


class FailingHead(ToyHead):

    def loss(self, feats, data_samples):
        raise ValueError('no loss in training mode' if self.training else 'no loss in eval mode')


class ToyNet(BaseModel):
    """OpenMMLab-shaped: ``extract_feat`` then ``head.loss``; predict sets ``pred``."""

    def __init__(self, head):
        super().__init__()
        self.backbone = nn.Conv2d(3, 4, 3, padding=1)
        self.head = head

    def extract_feat(self, inputs):
        return self.backbone(inputs)

    def loss(self, inputs, data_samples):
        return self.head.loss(self.extract_feat(inputs), data_samples)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        out = self.head(self.extract_feat(inputs))
        if mode == 'predict':
            for sample, pred in zip(data_samples, out):
                sample.pred = pred
            return data_samples
        return out


def wrapped(head) -> LearningLoss:
    torch.manual_seed(0)
    return LearningLoss(architecture=ToyNet(head), taps=['backbone'],
                        loss_prediction_head=dict(type='mmlearnloss.LossPredictionHead',
                                                  in_channels=[4]))


def batch(num=4):
    gen = torch.Generator().manual_seed(1)
    inputs = torch.randn(num, 3, 8, 8, generator=gen)
    samples = [BaseDataElement(gt=BaseDataElement(target=torch.randn((), generator=gen)))
               for _ in range(num)]
    return inputs, samples


def alone(model, inputs, samples):
    """Each sample's loss by a full pass with the sample as its whole batch, each from a copy
    of the model and the sample as they are now."""
    losses = []
    for i in range(len(samples)):
        arch = copy.deepcopy(model.architecture)
        with torch.no_grad():
            losses.append(arch.loss(inputs[i:i + 1], [copy.deepcopy(samples[i])])['loss'])
    return torch.stack(losses)


def targets(samples):
    return [float(sample.gt.target) for sample in samples]


def test_a_loss_that_replaces_fields_of_its_samples_changes_no_replay_and_no_caller_sample():
    model = wrapped(FieldReplacingHead())
    inputs, samples = batch()
    given = targets(samples)
    expected = alone(model, inputs, samples)
    model.train()
    _, per_sample = model.adapter.loss(model.architecture, inputs, samples)
    torch.testing.assert_close(per_sample, expected)
    assert targets(samples) == given


def test_a_loss_that_counts_in_a_plain_list_gives_each_sample_its_loss_from_the_steps_count():
    model = wrapped(CountingHead())
    inputs, samples = batch()
    model.architecture.head.seen = [8]  # earlier steps
    expected = alone(model, inputs, samples)
    model.train()
    _, per_sample = model.adapter.loss(model.architecture, inputs, samples)
    torch.testing.assert_close(per_sample, expected)
    assert model.architecture.head.seen == [12]  # the batch loss's count, not the replays'
    order = [3, 1, 0, 2]
    model.architecture.head.seen = [8]
    _, permuted = model.adapter.loss(model.architecture, inputs[order],
                                     [samples[k] for k in order])
    torch.testing.assert_close(permuted, per_sample[order])


def test_a_loss_that_runs_only_in_training_mode_gets_validation_targets_there_without_noise():
    model = wrapped(TrainingOnlyHead())
    inputs, samples = batch()
    model.train()
    model(inputs, copy.deepcopy(samples), mode='loss')  # running statistics from a step
    model.eval()
    head = model.architecture.head
    statistics = head.norm.running_mean.clone(), head.norm.num_batches_tracked.clone()
    with torch.no_grad():
        results = model(inputs, samples, mode='predict')
        again = model(inputs, samples, mode='predict')
        # the eval forward is the training one without noise: BatchNorm on running
        # statistics, no dropout
        expected = (head(model.architecture.extract_feat(inputs)) - torch.stack(
            [sample.gt.target for sample in samples]))**2
    torch.testing.assert_close(torch.stack([r.target_loss for r in results]), expected)
    torch.testing.assert_close(torch.stack([r.target_loss for r in again]), expected)
    assert model.adapter.loss_in_training_mode
    assert not any(module.training for module in model.modules())
    assert torch.equal(head.norm.running_mean, statistics[0])
    assert torch.equal(head.norm.num_batches_tracked, statistics[1])


def test_a_head_whose_forward_reads_the_mode_is_validated_on_its_training_outputs():
    model = wrapped(EvalScalingHead())
    model.eval()
    inputs, samples = batch()
    arch = model.architecture
    with torch.no_grad():
        results = model(inputs, samples, mode='predict')
        pooled = arch.extract_feat(inputs).mean(dim=(2, 3))
        expected = (arch.head.fc(pooled).squeeze(1) - torch.stack(
            [sample.gt.target for sample in samples]))**2
    torch.testing.assert_close(torch.stack([r.target_loss for r in results]), expected)
    assert model.adapter.loss_in_training_mode
    assert not any(module.training for module in model.modules())


def test_a_loss_that_fails_in_both_modes_names_both_failures():
    model = wrapped(FailingHead())
    model.eval()
    inputs, samples = batch()
    with torch.no_grad(), pytest.raises(RuntimeError, match=r'fails in eval mode \(no loss in '
                                        r'eval mode\) and in training mode without noise \(no '
                                        r'loss in training mode\).*val_target_loss=False'):
        model(inputs, samples, mode='predict')
    assert not model.adapter.loss_in_training_mode
