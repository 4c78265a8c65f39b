"""LossPredictionLoss: the paper's ranking loss (Eq. 2) and its MSE ablation."""
import pytest
import torch

from mmlearnloss.models import LossPredictionLoss
from mmlearnloss.models.losses import finite_pairs


def test_ranking_loss_matches_hand_computation_with_margin_cases():
    # Pairs (0,3), (1,4), (2,5). Targets: 0>3, 1<4, 2>5.
    pred = torch.tensor([3.0, 0.2, 0.5, 1.0, 0.7, 0.4])
    target = torch.tensor([2.0, 0.1, 0.9, 1.0, 0.5, 0.3])
    # pair 0: sign=+1, diff=2.0  -> max(0, -2.0 + 1) = 0       (right order, beyond the margin)
    # pair 1: sign=-1, diff=-0.5 -> max(0, -0.5 + 1) = 0.5     (right order, inside the margin)
    # pair 2: sign=+1, diff=0.1  -> max(0, -0.1 + 1) = 0.9
    expected = (0.0 + 0.5 + 0.9) / 3
    assert LossPredictionLoss(margin=1.0)(pred, target).item() == pytest.approx(expected)


def test_ranking_loss_penalises_wrong_order_by_more_than_the_margin():
    pred = torch.tensor([0.0, 2.0])
    target = torch.tensor([5.0, 1.0])  # sample 0 has the larger loss, prediction says otherwise
    assert LossPredictionLoss(margin=1.0)(pred, target).item() == pytest.approx(3.0)


def test_equal_targets_count_as_sign_minus_one():
    pred = torch.tensor([0.0, 0.0])
    target = torch.tensor([1.0, 1.0])
    # sign = -1 when l_i == l_j: max(0, (0 - 0) + 1) = 1
    assert LossPredictionLoss()(pred, target).item() == pytest.approx(1.0)


def test_odd_batch_drops_the_last_sample():
    pred = torch.tensor([1.0, 0.0, 100.0])
    target = torch.tensor([0.0, 1.0, -100.0])
    # only pair (0, 1): sign = -1, diff = 1 -> 2
    assert LossPredictionLoss()(pred, target).item() == pytest.approx(2.0)


def test_single_sample_gives_zero_loss_with_a_graph():
    pred = torch.tensor([0.3], requires_grad=True)
    loss = LossPredictionLoss()(pred, torch.tensor([1.0]))
    loss.backward()
    assert loss.item() == 0.0 and pred.grad is not None


def test_target_receives_no_gradient():
    pred = torch.tensor([0.0, 1.0], requires_grad=True)
    target = torch.tensor([2.0, 1.0], requires_grad=True)
    LossPredictionLoss()(pred, target).backward()
    assert target.grad is None
    assert pred.grad.tolist() == [-1.0, 1.0]  # d/dpred of max(0, -(p0 - p1) + 1)


def test_loss_weight_scales_the_loss():
    pred, target = torch.tensor([0.0, 2.0]), torch.tensor([5.0, 1.0])
    assert LossPredictionLoss(loss_weight=1e-4)(pred, target).item() == pytest.approx(3e-4)


def test_mse_mode_is_mean_squared_error():
    pred, target = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0])
    assert LossPredictionLoss(mode='mse', loss_weight=0.1)(pred, target).item() == \
        pytest.approx(0.1 * (1 + 4) / 2)


def test_nan_targets_are_left_out_and_counted():
    pred = torch.tensor([0.0, 9.0, 2.0, 9.0, 1.0])
    target = torch.tensor([1.0, float('nan'), 3.0, float('inf'), 0.0])
    # pairs (0, 2) and (1, 3): (1, 3) has non-finite targets and is left out; (0, 2): sign=-1,
    # diff=-2 -> 0
    loss_fn = LossPredictionLoss()
    assert loss_fn(pred, target).item() == pytest.approx(0.0)
    assert loss_fn.measure(pred, target)[2] == 2
    assert torch.isfinite(loss_fn(pred, target))


def test_accuracy_counts_correctly_ordered_pairs():
    pred = torch.tensor([1.0, 0.0, 0.0, 1.0])
    target = torch.tensor([2.0, 2.0, 0.0, 1.0])
    # pairs (0,2): right, (1,3): wrong
    assert LossPredictionLoss().accuracy(pred, target).item() == pytest.approx(0.5)


def test_all_pairs_use_every_pair_with_different_targets():
    pred = torch.tensor([0.0, 2.0, -0.5], requires_grad=True)
    target = torch.tensor([3.0, 1.0, 1.0])
    # pairs (0,1), (0,2); (1,2) has equal targets and is skipped.
    # (0,1): sign=+1, diff=-2.0 -> max(0, 2.0 + 1) = 3
    # (0,2): sign=+1, diff=0.5  -> max(0, -0.5 + 1) = 0.5
    loss = LossPredictionLoss(margin=1.0, pairs='all')(pred, target)
    assert loss.item() == pytest.approx((3.0 + 0.5) / 2)
    loss.backward()
    assert pred.grad.tolist() == pytest.approx([-1.0, 0.5, 0.5])


def test_halves_is_the_default_and_uses_b_over_2_pairs():
    pred = torch.tensor([0.0, 2.0, -0.5])
    target = torch.tensor([3.0, 1.0, 1.0])
    # only pair (0,1): 3
    assert LossPredictionLoss()(pred, target).item() == pytest.approx(3.0)
    assert LossPredictionLoss(pairs='halves')(pred, target).item() == pytest.approx(3.0)
    assert LossPredictionLoss(pairs='all')(pred, target).item() == pytest.approx(1.75)


def test_all_pairs_on_four_samples_average_six_pairs():
    pred = torch.tensor([0.0, 1.0, 3.0, 0.5])
    target = torch.tensor([4.0, 3.0, 2.0, 1.0])  # every i < j has target_i > target_j: sign=+1
    # max(0, -(p_i - p_j) + 1) for (0,1) (0,2) (0,3) (1,2) (1,3) (2,3)
    terms = [2.0, 4.0, 1.5, 3.0, 0.5, 0.0]
    assert LossPredictionLoss(pairs='all')(pred, target).item() == pytest.approx(sum(terms) / 6)
    # right order only for (1,3) and (2,3)
    assert LossPredictionLoss(pairs='all').accuracy(pred, target).item() == pytest.approx(2 / 6)


def test_all_pairs_accuracy_skips_equal_targets_and_counts_equal_predictions_half():
    pred = torch.tensor([1.0, 1.0, 0.0])
    target = torch.tensor([2.0, 0.0, 0.0])
    # (0,1): prediction tie -> 0.5; (0,2): right -> 1; (1,2): equal targets, skipped
    assert LossPredictionLoss(pairs='all').accuracy(pred, target).item() == pytest.approx(0.75)


def test_all_pairs_with_only_equal_targets_give_zero_loss_and_nan_accuracy():
    pred = torch.tensor([0.3, 0.1, 0.2], requires_grad=True)
    target = torch.ones(3)
    loss_fn = LossPredictionLoss(pairs='all')
    loss = loss_fn(pred, target)
    loss.backward()
    assert loss.item() == 0.0 and pred.grad is not None
    assert torch.isnan(loss_fn.accuracy(pred, target))


def test_all_pairs_leave_out_nan_targets():
    pred = torch.tensor([0.0, 9.0, 2.0])
    target = torch.tensor([1.0, float('nan'), 3.0])
    # finite: pred [0, 2], target [1, 3]: one pair, sign=-1, diff=-2 -> 0
    assert LossPredictionLoss(pairs='all')(pred, target).item() == pytest.approx(0.0)


def test_unknown_pairs_fail_clearly():
    with pytest.raises(ValueError, match=r"pairs must be one of \('halves', 'all'\), got 'random'"):
        LossPredictionLoss(pairs='random')
    with pytest.raises(ValueError, match='pairs must be one of'):
        finite_pairs(torch.zeros(2), torch.zeros(2), pairs='every')


def test_unknown_mode_and_shape_mismatch_fail_clearly():
    with pytest.raises(ValueError, match="'ranking' or 'mse'"):
        LossPredictionLoss(mode='l1')
    with pytest.raises(ValueError, match='same shape'):
        LossPredictionLoss()(torch.zeros(4), torch.zeros(3))


@pytest.mark.parametrize('pairs', ['halves', 'all'])
@pytest.mark.parametrize('mode', ['ranking', 'mse'])
def test_the_loss_and_accuracy_on_a_batch_with_nan_targets_leave_out_their_pairs(pairs, mode):
    # The module computes them without boolean indexing. The reference: the same module on the
    # batch left after indexing, with 'halves' the paper's pairs whose targets are both finite
    # (the batch of their first ends, then their second ends); with 'all' (pairs of finite
    # samples) and 'mse', the finite samples.
    criterion = LossPredictionLoss(margin=0.5, mode=mode, pairs=pairs)
    gen = torch.Generator().manual_seed(0)
    for n in (0, 1, 2, 5, 8, 9):
        for trial in range(4):
            pred = torch.randn(n, generator=gen, requires_grad=True)
            target = torch.randn(n, generator=gen).round(decimals=1)  # some ties
            target[torch.rand(n, generator=gen) < 0.3] = float('nan')
            if trial == 3 and n:
                target[0] = float('inf')
            keep = torch.isfinite(target)
            if pairs == 'halves':
                half = n // 2
                both = keep[:half] & keep[half:2 * half]
                first, second = torch.arange(half)[both], torch.arange(half, 2 * half)[both]
                ends = torch.cat([first, second])
            else:
                ends = torch.arange(n)[keep]
            if mode == 'ranking':
                expected = criterion(pred[ends], target[ends])
            else:
                expected = (torch.nn.functional.mse_loss(pred[keep], target[keep])
                            if keep.any() else pred.sum() * 0.)
            loss = criterion(pred, target)
            torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)
            (grad, ) = torch.autograd.grad(loss, pred, allow_unused=True,
                                           materialize_grads=True)
            (expected_grad, ) = torch.autograd.grad(expected, pred, allow_unused=True,
                                                    materialize_grads=True)
            torch.testing.assert_close(grad, expected_grad, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(criterion.accuracy(pred, target),
                                       criterion.accuracy(pred[ends], target[ends]),
                                       equal_nan=True)
            assert criterion.measure(pred, target)[2] == int((~keep).sum())


def test_the_loss_accuracy_and_count_need_no_host_sync():
    from torch.utils._python_dispatch import TorchDispatchMode

    class Syncs(TorchDispatchMode):
        names = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.names.append(func.__name__)
            return func(*args, **(kwargs or {}))

    pred, target = torch.randn(8, requires_grad=True), torch.randn(8)
    target[3] = float('nan')
    for pairs in ('halves', 'all'):
        criterion = LossPredictionLoss(pairs=pairs)
        with Syncs() as mode:
            criterion(pred, target).backward()
            criterion.accuracy(pred, target)
            criterion.measure(pred, target)
        assert not [name for name in mode.names
                    if name.startswith(('_local_scalar_dense', 'nonzero', 'item'))]
