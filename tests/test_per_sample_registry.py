"""Which computation gives each sample's loss: picked by the architecture's class from the
PER_SAMPLE registry, or named by the config (``LearningLoss(per_sample=...)``)."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from mmpretrain.structures import DataSample

from conftest import config_path
from mmlearnloss.models import learning_loss
from mmlearnloss.models.per_sample import ReplayAdapter
from mmlearnloss.models.per_sample.families import ImageClassifierAdapter
from mmlearnloss.registry import PER_SAMPLE


def build(per_sample=None, architecture=None):
    cfg = Config.fromfile(config_path('resnet18_cifar10_learnloss.py'))
    cfg.model.architecture.backbone.init_cfg = None
    if architecture is not None:
        cfg.model.architecture = architecture
    if per_sample is not None:
        cfg.model.per_sample = per_sample
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg.model)


def batch(n=6):
    torch.manual_seed(0)
    return torch.randn(n, 3, 32, 32), [DataSample().set_gt_label(i % 10) for i in range(n)]


def per_sample_losses(model):
    model.train()
    with torch.no_grad():
        return model.adapter.loss(model.architecture, *batch())[1]


def test_the_architecture_class_picks_its_family_adapter_and_the_build_log_names_the_path(
        monkeypatch):
    logged = []
    monkeypatch.setattr(learning_loss, 'print_log', lambda msg, **kwargs: logged.append(msg))
    model = build()
    assert type(model.adapter) is ImageClassifierAdapter
    assert logged == ['LearningLoss: per-sample losses of ImageClassifier (head: LinearClsHead) '
                      'by one pass: the head loss with reduction none.']


@pytest.mark.parametrize('name', ['ReplayAdapter', 'mmlearnloss.ReplayAdapter',
                                  dict(type='ReplayAdapter')])
def test_a_config_names_the_replay_and_gets_the_same_losses_the_long_way(name):
    named, default = build(per_sample=name), build()
    assert type(named.adapter) is ReplayAdapter
    assert named.adapter.path(named.architecture).startswith('replay')
    named.load_state_dict(default.state_dict())
    torch.testing.assert_close(per_sample_losses(named), per_sample_losses(default),
                               rtol=1e-4, atol=1e-6)


def test_a_registered_adapter_is_used_when_named_and_leaves_the_family_default_alone():

    @PER_SAMPLE.register_module()
    class HalvedAdapter(ReplayAdapter):
        architectures = ('ImageClassifier', )

        def replay(self, model, inputs, data_samples, feats, head_outputs=None):
            return super().replay(model, inputs, data_samples, feats, head_outputs) / 2

    try:
        # registered after the family adapter: the class still matches the first registered
        model = build()
        assert type(model.adapter) is ImageClassifierAdapter
        named = build(per_sample='HalvedAdapter')
        assert type(named.adapter) is HalvedAdapter
        named.load_state_dict(model.state_dict())
        torch.testing.assert_close(per_sample_losses(named), per_sample_losses(model) / 2,
                                   rtol=1e-4, atol=1e-6)
    finally:
        PER_SAMPLE.module_dict.pop('HalvedAdapter')


def test_an_unknown_name_fails_at_build_naming_the_registry():
    with pytest.raises(KeyError, match=r'NoSuchAdapter.*per-sample loss'):
        build(per_sample='NoSuchAdapter')
