"""The LearningLoss wrapper stands in for its architecture: the frameworks' own hooks that read
or set model attributes (YOLOX's L1 switch, RTMO's loss weights, mmpretrain's loss recipe)
reach the architecture through it."""
import copy
import os
from types import SimpleNamespace

import mmdet
import mmpose
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub, MMLogger
from mmengine.registry import MODELS, DefaultScope

from conftest import build_model
from mmlearnloss.models import LearningLoss
from toy_models import TinyGrayNet


def framework_config(package, relative: str) -> Config:
    return Config.fromfile(os.path.join(os.path.dirname(package.__file__), '.mim', 'configs',
                                        relative))


def build_wrapped(scope: str, architecture: dict, **kwargs) -> LearningLoss:
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(dict(type='mmlearnloss.LearningLoss', architecture=architecture,
                                 **kwargs))


def hook_runner(model, **fields):
    """What the hooks below read of a runner: the model, the epoch, a logger."""
    return SimpleNamespace(model=model, logger=MMLogger.get_current_instance(), **fields)


def wrapped_tiny_net(**attributes) -> LearningLoss:
    net = TinyGrayNet()
    for name, value in attributes.items():
        setattr(net, name, value)
    return LearningLoss(architecture=net, probe_shape=(1, 28, 28))


def test_yolox_mode_switch_hook_turns_on_the_architectures_l1_loss():
    from mmdet.engine.hooks import YOLOXModeSwitchHook
    from mmdet.testing import demo_mm_inputs
    cfg = framework_config(mmdet, 'yolox/yolox_tiny_8xb8-300e_coco.py')
    # The default dry pass takes 12 input channels from the first convolution, which follows
    # YOLOX's Focus stem (3 -> 12 channels): give the input shape.
    model = build_wrapped('mmdet', cfg.model.to_dict(), probe_shape=(3, 320, 320))
    MessageHub.get_current_instance().update_info('iter', 0)  # BatchSyncRandomResize reads it
    torch.manual_seed(0)
    packed = demo_mm_inputs(batch_size=2, image_shapes=[(3, 128, 128)] * 2, num_items=[2, 1],
                            num_classes=80)
    data = model.data_preprocessor(packed, True)
    model.train()
    assert 'loss_l1' not in model(data['inputs'], data['data_samples'], mode='loss')

    skipped = []
    loader = SimpleNamespace(dataset=SimpleNamespace(update_skip_type_keys=skipped.append),
                             persistent_workers=False)
    hook = YOLOXModeSwitchHook(num_last_epochs=15)
    hook.before_train_epoch(hook_runner(model, epoch=284, max_epochs=300,
                                        train_dataloader=loader))

    assert model.architecture.bbox_head.use_l1 is True
    assert 'use_l1' not in vars(model)  # nothing shadowing it on the wrapper
    assert skipped == [('Mosaic', 'RandomAffine', 'MixUp')]
    losses = model(data['inputs'], data['data_samples'], mode='loss')
    assert losses['loss_l1'] > 0 and 'loss_pred' in losses


def test_rtmo_mode_switch_hook_sets_the_heads_attributes_of_its_config():
    from mmpose.engine.hooks import RTMOModeSwitchHook
    cfg = framework_config(mmpose, 'body_2d_keypoint/rtmo/coco/rtmo-s_8xb32-600e_coco-640x640.py')
    architecture = cfg.model.to_dict()
    architecture['init_cfg'] = None  # no download of the pretrained backbone
    model = build_wrapped('mmpose', architecture, probe_shape=(3, 320, 320))
    switch, = [h for h in cfg.custom_hooks if h['type'] == 'RTMOModeSwitchHook']
    head = model.architecture.head
    assert head.proxy_target_cc is False and head.loss_mle.loss_weight == 1.0

    RTMOModeSwitchHook(switch['epoch_attributes']).before_train_epoch(
        hook_runner(model, epoch=280))

    assert head.proxy_target_cc is True
    assert head.loss_mle.loss_weight == 5.0 and head.loss_oks.loss_weight == 10.0


def test_switch_recipe_hook_replaces_the_loss_the_architecture_and_its_targets_use():
    from mmpretrain.engine.hooks import SwitchRecipeHook
    from mmpretrain.structures import DataSample
    model = build_model('resnet18_cifar10_learnloss.py', 'mmpretrain')
    torch.manual_seed(0)
    inputs = torch.randn(4, 3, 32, 32)
    samples = [DataSample().set_gt_label(i) for i in range(4)]
    model.train()
    before = model(inputs, samples, mode='loss')['loss']

    with DefaultScope.overwrite_default_scope('mmpretrain'):  # as an mmpretrain run builds it
        hook = SwitchRecipeHook([dict(action_epoch=1, loss=dict(type='LabelSmoothLoss',
                                                                label_smooth_val=0.1))])
        hook.before_train_epoch(hook_runner(model, epoch=0))

    assert type(model.architecture.head.loss_module).__name__ == 'LabelSmoothLoss'
    with torch.no_grad():
        losses, per_sample = model.adapter.loss(model.architecture, inputs, samples)
        wrapped = model(inputs, samples, mode='loss')['loss']
    torch.testing.assert_close(wrapped, losses['loss'])
    assert not torch.isclose(wrapped, before)
    # the per-sample targets are the new loss's, one sample at a time
    torch.testing.assert_close(per_sample.mean(), losses['loss'])


def test_reading_a_name_only_the_architecture_has_gives_the_architectures():
    model = wrapped_tiny_net(some_flag=False)
    assert model.head is model.architecture.head
    assert model.some_flag is False
    assert model.extract_feat.__self__ is model.architecture


def test_setting_a_name_only_the_architecture_has_sets_the_architectures():
    model = wrapped_tiny_net(some_flag=False)
    model.some_flag = True
    assert model.architecture.some_flag is True
    assert 'some_flag' not in vars(model)


def test_the_wrappers_own_attributes_stay_its_own():
    model = wrapped_tiny_net(detach_taps='architecture', loss_prediction_head='architecture')
    model.detach_taps = True
    assert model.detach_taps is True and model.architecture.detach_taps == 'architecture'
    assert isinstance(model.loss_prediction_head, torch.nn.Module)
    model.eval()
    assert model.training is False
    # a name neither has becomes the wrapper's, as on any object
    model.new_name = 1
    assert vars(model)['new_name'] == 1 and not hasattr(model.architecture, 'new_name')


def test_a_name_neither_has_raises_attribute_error_naming_both():
    model = wrapped_tiny_net()
    assert not hasattr(model, 'bbox_head')
    with pytest.raises(AttributeError, match=r"'LearningLoss' object has no attribute "
                       r"'bbox_head', nor has its architecture \('TinyGrayNet'\)"):
        model.bbox_head


def test_private_names_and_module_are_not_read_through():
    model = wrapped_tiny_net(_private=1, module=2)
    assert not hasattr(model, '_private')
    # mmengine unwraps a model that has `module` as if it were DDP
    assert not hasattr(model, 'module')


def test_reading_through_registers_nothing_twice_and_survives_a_deepcopy():
    model = wrapped_tiny_net()
    keys = list(model.state_dict())
    assert all(not k.startswith(('head.', 'backbone.')) for k in keys)
    clone = copy.deepcopy(model)  # as EMAHook does
    assert list(clone.state_dict()) == keys
    assert clone.head is clone.architecture.head and clone.head is not model.head
