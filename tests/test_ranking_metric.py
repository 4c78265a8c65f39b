"""ranking_accuracy (the LossRankingMetric's rank_acc) against every pair counted by hand."""
import itertools
import math

import pytest
import torch

from mmlearnloss.evaluation import LossRankingMetric, ranking_accuracy


def by_pairs(pred, target):
    """The definition: pairs with different real losses, right order 1, equal prediction 1/2."""
    right = total = 0
    for i, j in itertools.combinations(range(len(pred)), 2):
        if target[i] == target[j]:
            continue
        total += 1
        if pred[i] == pred[j]:
            right += 0.5
        elif (pred[i] > pred[j]) == (target[i] > target[j]):
            right += 1
    return right / total


@pytest.mark.parametrize('n', [2, 3, 8, 33, 150])
@pytest.mark.parametrize('ties', ['none', 'pred', 'target', 'both'])
def test_equals_the_pairwise_definition_with_and_without_ties(n, ties):
    gen = torch.Generator().manual_seed(n)
    pred, target = torch.randn(n, generator=gen), torch.randn(n, generator=gen)
    if ties in ('pred', 'both'):
        pred = torch.randint(0, 3, (n, ), generator=gen).double()
    if ties in ('target', 'both'):
        target = torch.randint(0, 3, (n, ), generator=gen).double()
        target[:2] = torch.tensor([0., 1.])  # at least one pair with different losses
    assert ranking_accuracy(pred, target) == pytest.approx(
        by_pairs(pred.tolist(), target.tolist()), abs=1e-12)


def test_perfect_reversed_and_constant_predictions():
    target = torch.arange(10.)
    assert ranking_accuracy(target * 3, target) == 1.0
    assert ranking_accuracy(-target, target) == 0.0
    assert ranking_accuracy(torch.zeros(10), target) == 0.5


def test_no_pair_with_different_losses_is_nan():
    assert math.isnan(ranking_accuracy(torch.arange(4.), torch.ones(4)))


def test_a_large_validation_set_needs_no_pair_matrix():
    # 200 000 samples are 2e10 pairs: a pair matrix would need 160 GB.
    gen = torch.Generator().manual_seed(0)
    target = torch.randn(200_000, generator=gen)
    pred = target + torch.randn(200_000, generator=gen)
    # Two Gaussians of correlation r = 1/sqrt(2) agree on a pair with p = 1/2 + asin(r)/pi = 3/4.
    assert ranking_accuracy(pred, target) == pytest.approx(0.75, abs=0.003)


def test_the_metric_reports_the_same_rank_acc():
    metric = LossRankingMetric()
    pred, target = [0.3, 0.1, 0.2, 0.9], [1.0, 0.5, 2.0, 3.0]
    metric.process(None, [dict(pred_loss=p, target_loss=t) for p, t in zip(pred, target)])
    out = metric.compute_metrics(metric.results)
    assert out['rank_acc'] == pytest.approx(by_pairs(pred, target))
    assert out['rank_acc'] == pytest.approx(5 / 6)


@pytest.mark.parametrize('ties', ['none', 'pred', 'target', 'both'])
def test_is_the_training_steps_all_pairs_accuracy_counted_without_a_pair_matrix(ties):
    # The same definition as LossPredictionLoss(pairs='all'), which forms the batch's pairs on
    # the device; ranking_accuracy counts them on the host for a whole validation set.
    from mmlearnloss.models import LossPredictionLoss
    gen = torch.Generator().manual_seed(1)
    pred, target = torch.randn(40, generator=gen), torch.randn(40, generator=gen)
    if ties in ('pred', 'both'):
        pred = torch.randint(0, 3, (40, ), generator=gen).float()
    if ties in ('target', 'both'):
        target = torch.randint(0, 3, (40, ), generator=gen).float()
    assert ranking_accuracy(pred, target) == pytest.approx(
        LossPredictionLoss(pairs='all').accuracy(pred, target).item(), rel=1e-6)
