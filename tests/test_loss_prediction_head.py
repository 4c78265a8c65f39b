"""LossPredictionHead on plain tensors, no framework involved."""
import pytest
import torch

from mmlearnloss.models import LossPredictionHead
from mmlearnloss.models.head import SCORE_FEATURES, score_summary


def test_head_maps_several_feature_maps_to_one_scalar_per_sample():
    head = LossPredictionHead(in_channels=[8, 16, 4])
    feats = [torch.randn(5, 8, 7, 7), torch.randn(5, 16, 3, 3), torch.randn(5, 4, 1, 1)]
    assert head(feats).shape == (5, )


def test_head_is_gap_linear_relu_per_map_then_linear():
    torch.manual_seed(0)
    head = LossPredictionHead(in_channels=[2, 3], mid_channels=4)
    f1, f2 = torch.randn(2, 2, 5, 5), torch.randn(2, 3, 2, 2)
    b1, b2 = head.branches[0][0], head.branches[1][0]
    h1 = torch.relu(b1(f1.mean(dim=(2, 3))))
    h2 = torch.relu(b2(f2.mean(dim=(2, 3))))
    expected = head.fc(torch.cat([h1, h2], dim=1)).squeeze(1)
    torch.testing.assert_close(head([f1, f2]), expected)


def test_every_branch_is_a_registered_trainable_parameter():
    head = LossPredictionHead(in_channels=[64, 128, 256, 512], mid_channels=128)
    expected = sum(c * 128 + 128 for c in (64, 128, 256, 512)) + 4 * 128 + 1
    assert sum(p.numel() for p in head.parameters()) == expected


def test_channel_mismatch_reports_both_lists():
    head = LossPredictionHead(in_channels=[8, 16])
    with pytest.raises(ValueError, match=r'channels \[8, 16\].*channels \[8, 32\]'):
        head([torch.randn(2, 8, 3, 3), torch.randn(2, 32, 3, 3)])
    with pytest.raises(ValueError, match=r'2 feature maps.*1 maps'):
        head([torch.randn(2, 8, 3, 3)])


def test_bad_in_channels_are_rejected():
    with pytest.raises(ValueError, match='positive'):
        LossPredictionHead(in_channels=[])


def test_missing_in_channels_say_the_wrapper_fills_them_in():
    with pytest.raises(ValueError, match='needs in_channels.*LearningLoss.*fills it in'):
        LossPredictionHead()


def test_head_predicts_in_float32_inside_mixed_precision():
    # score_amp / AMP training run the backbone in bfloat16 (CPU) or float16 (GPU); losses
    # predicted in those would tie for nearby samples and reorder the top K.
    torch.manual_seed(0)
    head = LossPredictionHead(in_channels=[8, 16], mid_channels=32)
    feats = [torch.randn(512, 8, 4, 4), torch.randn(512, 16, 2, 2)]
    low = [f.bfloat16() for f in feats]
    with torch.autocast('cpu', dtype=torch.bfloat16):
        mixed = head(low)
    assert mixed.dtype == torch.float32
    assert torch.equal(mixed, head([f.float() for f in low]))  # the same float32 computation
    assert mixed.unique().numel() == 512
    with torch.autocast('cpu', dtype=torch.bfloat16):
        in_bfloat16 = head.fc(torch.cat([b(head.pool(f)) for b, f in zip(head.branches, low)], 1))
    assert in_bfloat16.unique().numel() < 512  # what the float32 rule avoids


def test_pooling_per_map_is_average_max_or_both():
    torch.manual_seed(0)
    head = LossPredictionHead(in_channels=[2, 3, 2], mid_channels=4,
                              pooling=['avg', 'max', 'avgmax'])
    f1, f2, f3 = torch.randn(2, 2, 5, 5), torch.randn(2, 3, 2, 2), torch.randn(2, 2, 3, 1)
    assert head.branches[2][0].in_features == 4  # average and max of 2 channels
    h1 = torch.relu(head.branches[0][0](f1.mean(dim=(2, 3))))
    h2 = torch.relu(head.branches[1][0](f2.amax(dim=(2, 3))))
    h3 = torch.relu(head.branches[2][0](torch.cat([f3.mean(dim=(2, 3)), f3.amax(dim=(2, 3))], 1)))
    expected = head.fc(torch.cat([h1, h2, h3], dim=1)).squeeze(1)
    torch.testing.assert_close(head([f1, f2, f3]), expected)


def test_one_pooling_applies_to_every_map_and_the_paper_s_is_the_default():
    assert LossPredictionHead(in_channels=[2, 3]).pooling == ['avg', 'avg']
    assert LossPredictionHead(in_channels=[2, 3], pooling='max').pooling == ['max', 'max']


@pytest.mark.parametrize('pooling', ['median', ['avg'], ['avg', 'sum'], 'scores',
                                     dict(type='sum')])
def test_bad_pooling_says_what_is_allowed(pooling):
    with pytest.raises(ValueError, match=r"pooling must be one of \('avg', 'max', 'avgmax', "
                                         r"'scores'\) or a list of them, one per tapped map "
                                         r"\(2\), got .*; 'scores' is a dict"):
        LossPredictionHead(in_channels=[2, 3], pooling=pooling)


def test_score_pooling_summarises_the_detections_of_softmax_class_logits():
    # 2 priors a location, 2 classes + background (last): a location's 6 channels are
    # [prior 0: c0, c1, bg, prior 1: c0, c1, bg], as mmdet's SSDHead lays them out.
    logits = torch.full((2, 6, 2, 2), -20.)
    logits[:, 2::3] = 20.  # every prior background
    logits[0, 0, 0, 0], logits[0, 2, 0, 0] = 20., -20.  # image 0: a sure class-0 prior
    logits[0, 4, 1, 1], logits[0, 5, 1, 1] = 0., 0.  # and a prior split class 1 / background
    summary = score_summary(logits, num_classes=2)
    assert summary.shape == (2, SCORE_FEATURES)
    torch.testing.assert_close(summary[0, :3], torch.tensor([2., 2., 1.]).log1p())  # > .1 .3 .5
    torch.testing.assert_close(summary[0, 3], torch.tensor(1.5).log1p())  # sum of confidences
    torch.testing.assert_close(summary[0, 4], torch.tensor(1.5 / 5))  # mean of the top 5
    torch.testing.assert_close(summary[0, 5], torch.tensor(1.))  # the highest
    # entropy of the top 5 priors' class distributions, over log 3: 0 but for the split prior
    torch.testing.assert_close(summary[0, 6], torch.tensor(2.).log() / torch.tensor(3.).log() / 5)
    torch.testing.assert_close(summary[1], torch.zeros(SCORE_FEATURES), atol=1e-6, rtol=0)


def test_score_pooling_of_sigmoid_logits_and_its_branch_width():
    logits = torch.full((1, 4, 3, 3), -20.)  # 2 priors x 2 classes, sigmoid
    logits[0, 1, 2, 2] = 20.
    summary = score_summary(logits, num_classes=2, use_sigmoid=True)
    torch.testing.assert_close(summary[0, :3], torch.tensor([1., 1., 1.]).log1p())
    torch.testing.assert_close(summary[0, 5], torch.tensor(1.))
    scores = dict(type='scores', num_classes=2, use_sigmoid=True)
    head = LossPredictionHead(in_channels=[8, 4], mid_channels=3, pooling=['avg', scores])
    assert [b[0].in_features for b in head.branches] == [8, SCORE_FEATURES]
    assert head([torch.randn(1, 8, 3, 3), logits]).shape == (1,)


@pytest.mark.parametrize('scores, message', [
    (dict(type='scores'), 'takes num_classes'),
    (dict(type='scores', num_classes=2, sigmoid=True), 'takes num_classes'),
    (dict(type='scores', num_classes=4), 'a map of 9 channels is not class logits of 4 classes'),
])
def test_bad_score_pooling_says_what_is_wrong(scores, message):
    with pytest.raises(ValueError, match=message):
        LossPredictionHead(in_channels=[9], pooling=[scores])
