"""The architecture's initial weights depend on the seed and the architecture only: recipes whose
loss prediction modules differ, the λ=0 baselines, and the architecture built alone start from
the same network (the benchmarks compare methods per seed from the same weights)."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from mmengine.utils import import_modules_from_strings

from conftest import config_path


def initialised(cfg_model, seed=0):
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg_model)
        model.init_weights()
    return model


def digit_config(name):
    cfg = Config.fromfile(config_path(f'digit_scenes/{name}'))
    import_modules_from_strings(**cfg.custom_imports)
    return cfg


def test_modules_of_other_shapes_leave_the_architecture_s_initial_weights_alone():
    paper = initialised(digit_config('ssd_digits_learnloss.py').model)
    scores = initialised(digit_config('ssd_digits_learnloss_scoretaps.py').model)
    baseline = initialised(digit_config('ssd_digits_random.py').model)
    # the modules differ: 4 branches on the neck, against 4 more on the head's class logits
    assert len(paper.loss_prediction_head.branches) == 4
    assert len(scores.loss_prediction_head.branches) == 8
    expected = paper.architecture.state_dict()
    for other in (scores, baseline):
        weights = other.architecture.state_dict()
        assert weights.keys() == expected.keys()
        for key, value in expected.items():
            assert torch.equal(weights[key], value), key
    # and they are the architecture's own initial weights, built without the wrapper
    alone = initialised(digit_config('ssd_digits_learnloss.py').model.architecture)
    for key, value in alone.state_dict().items():
        assert torch.equal(expected[key], value), key


def test_the_seed_still_draws_the_architecture_and_the_module():
    cfg = digit_config('ssd_digits_learnloss.py').model
    first, again, other = initialised(cfg, 0), initialised(cfg, 0), initialised(cfg, 1)
    conv = 'backbone.conv1.weight'
    assert torch.equal(first.architecture.state_dict()[conv], again.architecture.state_dict()[conv])
    assert not torch.equal(first.architecture.state_dict()[conv],
                           other.architecture.state_dict()[conv])
    fc = first.loss_prediction_head.fc.weight
    assert torch.equal(fc, again.loss_prediction_head.fc.weight)
    assert not torch.equal(fc, other.loss_prediction_head.fc.weight)


@pytest.mark.parametrize('seed', [0, 3])
def test_the_module_draws_its_weights_from_another_stream_than_the_architecture(seed):
    """The module's generator is seeded from a draw, not left where the architecture's
    initialisation starts: its first weights are not the first conv's numbers rescaled."""
    model = initialised(digit_config('ssd_digits_learnloss.py').model, seed)
    conv = model.architecture.backbone.conv1.weight.flatten()[:64]
    branch = model.loss_prediction_head.branches[0][0].weight.flatten()[:64]
    corr = torch.corrcoef(torch.stack([conv, branch]))[0, 1]
    assert abs(float(corr)) < 0.5
