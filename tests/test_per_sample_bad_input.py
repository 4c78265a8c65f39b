"""Architectures whose per-sample losses cannot be computed fail loudly, saying what to do."""
import pytest
import torch
from mmengine.model import BaseModel
from torch import nn

from mmlearnloss.models import LearningLoss


class PairHead(nn.Module):
    """A siamese loss: the first half of the batch against the second, so a sample alone has
    no loss."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 1)

    def forward(self, feats):
        return self.fc(feats.mean(dim=(2, 3))).squeeze(1)

    def loss(self, feats, data_samples):
        first, second = self(feats).chunk(2)
        target = torch.stack(data_samples)
        return dict(loss=((first - second) - (target[:len(first)] - target[len(first):])).abs()
                    .mean())


class MeanHead(PairHead):

    def loss(self, feats, data_samples):
        return dict(loss=((self(feats) - torch.stack(data_samples))**2).mean())


class TinyNet(BaseModel):
    """An OpenMMLab-shaped model: ``extract_feat`` then ``head.loss``; targets are the samples."""

    def __init__(self, head=None):
        super().__init__()
        self.backbone = nn.Conv2d(3, 4, 3, padding=1)
        self.head = MeanHead() if head is None else head

    def extract_feat(self, inputs):
        return self.backbone(inputs)

    def loss(self, inputs, data_samples):
        return self.head.loss(self.extract_feat(inputs), data_samples)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.loss(inputs, data_samples) if mode == 'loss' else self.head(
            self.extract_feat(inputs))


class NoFeatureNet(TinyNet):
    """Runs its backbone inside ``forward`` only: nothing to replay per sample."""
    extract_feat = None
    loss = None


class OwnBackboneCallNet(TinyNet):
    """Its loss runs the backbone itself, never ``extract_feat``."""

    def loss(self, inputs, data_samples):
        return self.head.loss(self.backbone(inputs), data_samples)


def wrap(net):
    return LearningLoss(
        architecture=net, taps=['backbone'],
        loss_prediction_head=dict(type='mmlearnloss.LossPredictionHead', in_channels=[4]))


def batch(n=4):
    return torch.randn(n, 3, 8, 8), [torch.tensor(float(i)) for i in range(n)]


def test_an_architecture_without_extract_feat_and_loss_fails_at_build_naming_it_and_adapters():
    with pytest.raises(TypeError, match=r'NoFeatureNet \(head: MeanHead\) has no '
                       r'extract_feat or loss.*PER_SAMPLE'):
        wrap(NoFeatureNet())


def test_a_head_with_no_loss_for_one_sample_fails_naming_architecture_and_head_with_the_cause():
    model = wrap(TinyNet(PairHead()))
    with pytest.raises(RuntimeError, match=r'per-sample loss of TinyNet \(head: PairHead\).*'
                       r'sample 0 alone.*PER_SAMPLE') as error:
        model(*batch(), mode='loss')
    assert isinstance(error.value.__cause__, ValueError)  # chunk(2) of one sample: one chunk


def test_per_sample_losses_of_a_plain_model_are_its_loss_on_each_sample_alone():
    model = wrap(TinyNet())
    inputs, samples = batch()
    with torch.no_grad():
        losses, per_sample = model.adapter.loss(model.architecture, inputs, samples)
        alone = [model.architecture.loss(inputs[i:i + 1], samples[i:i + 1])['loss']
                 for i in range(4)]
    torch.testing.assert_close(per_sample, torch.stack(alone))
    torch.testing.assert_close(per_sample.mean(), losses['loss'])


def test_a_loss_that_skips_extract_feat_fails_at_the_first_loss_naming_the_architecture():
    model = wrap(OwnBackboneCallNet())
    with pytest.raises(RuntimeError, match=r'OwnBackboneCallNet \(head: MeanHead\)\.loss '
                       r'called extract_feat 0 times.*PER_SAMPLE'):
        model(*batch(), mode='loss')
