"""LearningLoss given only an architecture: default taps and in_channels read from the tapped
maps when the wrapper is built."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from torch import nn

from mmlearnloss.models import LearningLoss
from toy_models import TinyGrayNet


def test_in_channels_are_read_from_the_tapped_maps_at_build_time():
    model = LearningLoss(architecture=TinyGrayNet(), probe_shape=(1, 28, 28))
    assert model.taps.names == ['neck']
    assert model.loss_prediction_head.in_channels == [6]
    # Real parameters right away (DDP wraps the model before it sees data).
    assert model.loss_prediction_head.branches[0][0].weight.shape == (128, 6)


def test_several_taps_give_one_channel_count_each():
    model = LearningLoss(architecture=TinyGrayNet(), taps=['backbone.0', 'backbone', 'neck'],
                         probe_shape=(1, 28, 28))
    assert model.loss_prediction_head.in_channels == [4, 4, 6]


def test_without_a_neck_the_backbone_is_tapped():
    model = LearningLoss(architecture=TinyGrayNet(with_neck=False))
    assert model.taps.names == ['backbone']
    assert model.loss_prediction_head.in_channels == [4]


def test_the_dry_pass_leaves_modes_and_buffers_as_they_were():
    net = TinyGrayNet()
    net.neck.eval()  # mixed modes must survive too
    bn = net.backbone[1]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    LearningLoss(architecture=net, probe_shape=(1, 28, 28))
    assert net.training and net.backbone.training and bn.training and not net.neck.training
    after = net.state_dict()
    assert int(after['backbone.3.calls']) == 0  # the probe ran it; its buffer was restored
    for key, value in before.items():
        assert torch.equal(after[key], value), key


def test_a_failing_dry_pass_says_to_set_probe_shape_or_in_channels():
    # Default probes (1, S, S): channels from the first conv, but the neck needs 28x28.
    with pytest.raises(RuntimeError, match=r"taps \['neck'\].*\(1, 224, 224\): RuntimeError.*"
                       r"\(1, 512, 512\): RuntimeError.*probe_shape.*in_channels"):
        LearningLoss(architecture=TinyGrayNet())


class AtLeast300(nn.Module):
    """Fails on small inputs, as SSD300's last layers do."""

    def forward(self, x):
        if x.shape[-1] < 300:
            raise RuntimeError(f'input {x.shape[-1]} px is too small')
        return x


def test_without_probe_shape_the_first_size_the_model_accepts_is_used():
    net = TinyGrayNet(with_neck=False)
    net.backbone.append(AtLeast300())
    sizes = []
    net.backbone[0].register_forward_pre_hook(lambda module, args: sizes.append(args[0].shape))
    model = LearningLoss(architecture=net)
    assert model.loss_prediction_head.in_channels == [4]
    assert sizes == [(1, 1, 224, 224), (1, 1, 256, 256), (1, 1, 320, 320)]


def test_without_probe_shape_a_backbone_that_rearranges_its_rgb_input_is_probed_with_rgb():
    # YOLOX's CSPDarknet: Focus stacks 2x2 pixel blocks (3 -> 12 channels) before its first conv
    with DefaultScope.overwrite_default_scope('mmdet'):
        arch = MODELS.build(dict(
            type='YOLOX',
            backbone=dict(type='CSPDarknet', deepen_factor=0.33, widen_factor=0.125),
            neck=dict(type='YOLOXPAFPN', in_channels=[32, 64, 128], out_channels=16,
                      num_csp_blocks=1),
            bbox_head=dict(type='YOLOXHead', num_classes=2, in_channels=16, feat_channels=16)))
    first = next(m for m in arch.modules() if isinstance(m, nn.Conv2d))
    assert first.in_channels == 12
    model = LearningLoss(architecture=arch, taps=['neck'])
    assert model.loss_prediction_head.in_channels == [16, 16, 16]


def test_given_in_channels_skip_the_dry_pass():
    model = LearningLoss(
        architecture=TinyGrayNet(),
        loss_prediction_head=dict(type='mmlearnloss.LossPredictionHead', in_channels=[6]))
    assert model.loss_prediction_head.in_channels == [6]
    assert int(model.architecture.backbone[3].calls) == 0


def test_given_in_channels_are_still_checked_against_the_maps():
    model = LearningLoss(
        architecture=TinyGrayNet(),
        loss_prediction_head=dict(type='mmlearnloss.LossPredictionHead', in_channels=[7]))
    with pytest.raises(ValueError, match=r'channels \[7\].*channels \[6\]'):
        model(torch.randn(2, 1, 28, 28), [0.0, 1.0], mode='loss')


def test_a_tap_the_head_cannot_pool_fails_at_build_naming_the_tap():
    net = TinyGrayNet()
    net.neck.register_forward_hook(lambda module, args, out: {'feat': out})
    with pytest.raises(TypeError, match=r"Tap 'neck' gave a value of type dict"):
        LearningLoss(architecture=net, probe_shape=(1, 28, 28))


def test_a_taps_only_wrapper_trains():
    model = LearningLoss(architecture=TinyGrayNet(), probe_shape=(1, 28, 28))
    losses = model(torch.randn(4, 1, 28, 28), [0.0, 1.0, 2.0, 3.0], mode='loss')
    assert set(losses) >= {'loss', 'loss_pred', 'rank_acc'}
    losses['loss_pred'].backward()
    assert model.loss_prediction_head.fc.weight.grad is not None


ZOO_CONFIG = """
_base_ = 'mmpretrain::resnet/resnet18_8xb16_cifar10.py'
custom_imports = dict(imports=['mmlearnloss'], allow_failed_imports=False)
model = dict(_delete_=True, type='mmlearnloss.LearningLoss', architecture={{_base_.model}})
"""


def test_a_zoo_model_is_wrapped_by_a_three_line_config(tmp_path):
    path = tmp_path / 'resnet18_learnloss.py'
    path.write_text(ZOO_CONFIG)
    cfg = Config.fromfile(str(path))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    assert model.taps.names == ['neck']  # mmpretrain's GlobalAveragePooling
    assert model.loss_prediction_head.in_channels == [512]
