"""FeatureTaps: named forward hooks, index taps, build-time errors, scoped recording."""
import pytest
import torch
from torch import nn

from mmlearnloss.models import FeatureTaps
from mmlearnloss.models.taps import default_taps


class TwoOutputs(nn.Module):

    def forward(self, x):
        return x + 1, x * 2


class Toy(nn.Module):

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(1, 2, 1), nn.Conv2d(2, 3, 1))
        self.neck = TwoOutputs()
        self.head = nn.Conv2d(3, 1, 1)
        self.head_calls = 0

    def forward(self, x):
        x = self.backbone(x)
        a, b = self.neck(x)
        self.head_calls += 1
        return self.head(a + b)


def test_taps_record_named_outputs_in_tap_order():
    model = Toy()
    taps = FeatureTaps(model, ['backbone.1', 'backbone.0'])
    x = torch.randn(2, 1, 4, 4)
    with taps.record():
        model(x)
        feats = taps.outputs()
    torch.testing.assert_close(feats[1], model.backbone[0](x))
    torch.testing.assert_close(feats[0], model.backbone(x))


def test_index_takes_one_element_and_no_index_takes_all():
    model = Toy()
    x = torch.randn(2, 1, 4, 4)
    feat = model.backbone(x)
    with FeatureTaps(model, ['neck[1]']).record() as taps:
        model(x)
        (one, ) = taps.outputs()
    torch.testing.assert_close(one, feat * 2)
    with FeatureTaps(model, ['neck']).record() as taps:
        model(x)
        both = taps.outputs()
    assert len(both) == 2
    torch.testing.assert_close(both[0], feat + 1)


def test_unknown_tap_fails_at_build_time_with_close_names():
    with pytest.raises(ValueError, match=r"no submodule named 'backbone\.2'.*'backbone\.1'"):
        FeatureTaps(Toy(), ['backbone.2'])


def test_nothing_is_recorded_outside_the_context():
    model = Toy()
    taps = FeatureTaps(model, ['backbone'])
    with taps.record():
        pass
    model(torch.randn(1, 1, 2, 2))
    assert taps._outputs == {}
    assert all(not m._forward_hooks for m in model.modules())


def test_run_until_complete_stops_after_the_deepest_tap():
    model = Toy()
    feats = FeatureTaps(model, ['neck']).run_until_complete(model, torch.randn(1, 1, 2, 2))
    assert len(feats) == 2
    assert model.head_calls == 0  # the pass ended before the head


def test_index_on_a_single_output_is_an_error():
    model = Toy()
    taps = FeatureTaps(model, ['backbone[0]'])
    with taps.record(), pytest.raises(ValueError, match='drop the index'):
        model(torch.randn(1, 1, 2, 2))
        taps.outputs()


class Odd(nn.Module):
    """Returns whatever it was built to return, to test what the head cannot pool."""

    def __init__(self, make):
        super().__init__()
        self.make = make

    def forward(self, x):
        return self.make(x)


def record_odd(make, spec='odd'):
    model = nn.Module()
    model.odd = Odd(make)
    taps = FeatureTaps(model, [spec])
    with taps.record():
        model.odd(torch.randn(2, 3, 4, 4))
        return taps.outputs()


def test_a_dict_output_is_an_error_naming_the_tap_and_the_type():
    with pytest.raises(TypeError, match=r"Tap 'odd' gave a value of type dict.*\[B, C, \.\.\.\]"):
        record_odd(lambda x: {'feat': x})


def test_a_non_tensor_element_is_an_error_naming_the_element():
    with pytest.raises(TypeError, match=r"Tap 'odd\[1\]' gave a value of type int"):
        record_odd(lambda x: (x, 3))
    with pytest.raises(TypeError, match=r"Tap 'odd\[0\]\[1\]' gave a value of type int"):
        record_odd(lambda x: ((x, 3), ), spec='odd[0]')


def test_nested_outputs_give_every_map_in_order():
    # a dense head returns (class maps per level, box maps per level)
    feats = record_odd(lambda x: ([x, x * 2], [x * 3]))
    assert [float(f[0, 0, 0, 0] / feats[0][0, 0, 0, 0]) for f in feats] == [1.0, 2.0, 3.0]
    (first, second) = record_odd(lambda x: ([x, x * 2], [x * 3]), spec='odd[0]')
    torch.testing.assert_close(second, first * 2)


def test_a_tensor_without_a_channel_dimension_is_an_error():
    with pytest.raises(TypeError, match=r"Tap 'odd' gave a tensor of shape \(2,\), which has no "
                       r"channel dimension"):
        record_odd(lambda x: x.sum(dim=(1, 2, 3)))


def test_pooled_vectors_are_accepted():
    (feat, ) = record_odd(lambda x: x.mean(dim=(2, 3)))
    assert feat.shape == (2, 3)


def test_default_taps_are_the_neck_if_there_is_one_else_the_backbone():
    assert default_taps(Toy()) == ['neck']
    no_neck = nn.Module()
    no_neck.backbone = nn.Conv2d(1, 1, 1)
    assert default_taps(no_neck) == ['backbone']
    with pytest.raises(ValueError, match='neither a neck nor a backbone.*set taps'):
        default_taps(nn.Linear(1, 1))
