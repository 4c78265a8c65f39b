"""Specification of the active-learning selection strategies (plain tensors, no model)."""
import numpy as np
import pytest
import torch

from mmlearnloss.active import strategies
from mmlearnloss.active.strategies import (BaseStrategy, CoresetStrategy,
                                           DiverseLearningLossStrategy, EntropyStrategy,
                                           LearningLossStrategy, OracleLossStrategy, RandomStrategy,
                                           build_strategy, k_center_greedy)
from mmlearnloss.registry import TASK_UTILS

IDS = ['a', 'b', 'c', 'd', 'e']


def brute_force_k_center_greedy(features, k, centers):
    """Reference k-Center-Greedy from the full N×N float64 distance matrix."""
    features = features.double()
    pairwise = torch.cdist(features, features)
    min_distance = torch.cdist(features, centers.double()).min(dim=1).values
    picked = []
    for _ in range(k):
        index = int(torch.argmax(min_distance))
        picked.append(index)
        min_distance = torch.minimum(min_distance, pairwise[:, index])
    return picked


# --- score-based strategies -------------------------------------------------------------------


def test_learning_loss_selects_highest_predicted_losses_in_descending_order():
    pred_loss = torch.tensor([0.2, 3.0, 0.1, 1.5, 0.7])
    selected = LearningLossStrategy().select(IDS, 3, pred_loss)
    assert selected == ['b', 'd', 'e']
    # The classic bug (argsort ascending) would have picked the lowest losses.
    assert 'c' not in selected and 'a' not in selected


def test_entropy_selects_most_uncertain_first():
    uncertainty = torch.tensor([0.69, 0.05, 1.10, 0.30, 0.90])
    assert EntropyStrategy().select(IDS, 2, uncertainty) == ['c', 'e']


def test_the_oracle_selects_the_highest_real_losses_first():
    target_loss = torch.tensor([0.4, 2.0, 5.0, 0.1, 1.0])
    assert OracleLossStrategy().select(IDS, 3, target_loss) == ['c', 'b', 'e']


def test_score_ties_are_broken_by_pool_order():
    pred_loss = torch.tensor([0.5, 0.9, 0.9, 0.1, 0.9])
    assert LearningLossStrategy().select(IDS, 3, pred_loss) == ['b', 'c', 'e']
    assert LearningLossStrategy().select(IDS[::-1], 3, pred_loss.flip(0)) == ['e', 'c', 'b']


def test_scores_may_be_numpy_arrays_or_lists_and_ids_ints():
    pred_loss = [0.2, 3.0, 0.1, 1.5, 0.7]
    assert LearningLossStrategy().select(IDS, 2, np.array(pred_loss)) == ['b', 'd']
    assert LearningLossStrategy().select([10, 11, 12, 13, 14], 2, pred_loss) == [11, 13]


def test_learning_loss_with_k_equal_to_pool_size_returns_whole_pool_ranked():
    pred_loss = torch.tensor([0.2, 3.0, 0.1, 1.5, 0.7])
    assert LearningLossStrategy().select(IDS, 5, pred_loss) == ['b', 'd', 'e', 'a', 'c']


# --- core-set (k-Center-Greedy) -----------------------------------------------------------------


def test_coreset_picks_the_point_farthest_from_the_labeled_centers_first():
    labeled = torch.tensor([[0., 0.], [10., 10.]])
    pool = torch.tensor([[1., 1.], [9., 9.], [-4., 0.], [5., 5.], [0., 2.]])
    # Nearest-center distances: 1.41, 1.41, 4, 7.07, 2 -> 'd' (the midpoint) is farthest.
    assert CoresetStrategy().select(IDS, 1, pool, labeled)[0] == 'd'


def test_coreset_follows_k_center_greedy_on_points_on_a_line():
    # Pool at x = 1, 2, 3, 6, 10 on a line, one labeled center at x = 0.
    pool = torch.tensor([[1., 0.], [2., 0.], [3., 0.], [6., 0.], [10., 0.]])
    labeled = torch.zeros(1, 2)
    # 10 (distance 10); 6 (distance 6 to {0}, 4 to {10}); 3 (3 to {0, 6}); then 1 and 2 are both
    # at distance 1 from {0, 3}: the tie goes to the earlier pool sample, 1; last 2.
    assert CoresetStrategy().select(IDS, 5, pool, labeled) == ['e', 'd', 'c', 'a', 'b']


def test_coreset_covers_each_unlabeled_cluster_before_a_second_point_of_any():
    gen = torch.Generator().manual_seed(0)
    cluster_centers = torch.tensor([[0., 0.], [20., 0.], [0., 20.], [20., 20.]])
    pool = (cluster_centers.repeat_interleave(10, dim=0) +
            0.5 * torch.randn(40, 2, generator=gen))
    labeled = cluster_centers[:1]  # only the first cluster has a label
    selected = CoresetStrategy().select(list(range(40)), 3, pool, labeled)
    assert sorted(i // 10 for i in selected) == [1, 2, 3]


def test_coreset_matches_brute_force_reference_on_random_200x8():
    gen = torch.Generator().manual_seed(3)
    pool = torch.randn(200, 8, generator=gen)
    labeled = torch.randn(20, 8, generator=gen)
    expected = brute_force_k_center_greedy(pool, 50, labeled)
    assert k_center_greedy(pool, 50, centers=labeled).tolist() == expected
    ids = [f'img{i}' for i in range(200)]
    assert CoresetStrategy().select(ids, 50, pool, labeled) == [ids[i] for i in expected]


def test_coreset_distances_to_a_large_labeled_set_are_computed_in_blocks(monkeypatch):
    gen = torch.Generator().manual_seed(4)
    pool = torch.randn(200, 8, generator=gen)
    labeled = torch.randn(30, 8, generator=gen)
    monkeypatch.setattr(strategies, '_DISTANCE_BLOCK_ELEMENTS', 30 * 7)  # 7 rows per block
    assert k_center_greedy(pool, 20, centers=labeled).tolist() == brute_force_k_center_greedy(
        pool, 20, labeled)


def test_coreset_without_labeled_set_starts_from_a_seeded_random_point():
    gen = torch.Generator().manual_seed(5)
    pool = torch.randn(200, 8, generator=gen)
    first = k_center_greedy(pool, 30, seed=7)
    assert first.tolist() == k_center_greedy(pool, 30, seed=7).tolist()
    # After the random start it is k-Center-Greedy with that point as the only center.
    start = int(first[0])
    assert first[1:].tolist() == brute_force_k_center_greedy(pool, 29, pool[start:start + 1])
    starts = {int(k_center_greedy(pool, 1, seed=seed)[0]) for seed in range(10)}
    assert len(starts) > 1


def test_coreset_treats_an_empty_labeled_set_as_none():
    gen = torch.Generator().manual_seed(6)
    pool = torch.randn(50, 4, generator=gen)
    ids = list(range(50))
    assert (CoresetStrategy().select(ids, 10, pool, torch.empty(0, 4), seed=2) ==
            CoresetStrategy().select(ids, 10, pool, None, seed=2))


def test_coreset_never_repeats_a_sample_when_all_points_coincide():
    pool = torch.ones(5, 3)
    labeled = torch.ones(2, 3)
    assert CoresetStrategy().select(IDS, 5, pool, labeled) == IDS


# --- random ---------------------------------------------------------------------------------------


def test_random_is_deterministic_for_a_seed_whatever_the_global_rng():
    ids = [f'img{i}' for i in range(1000)]
    torch.manual_seed(0)
    np.random.seed(0)
    first = RandomStrategy().select(ids, 20, seed=42)
    torch.manual_seed(123)
    np.random.seed(123)
    torch.rand(10)
    assert RandomStrategy().select(ids, 20, seed=42) == first


def test_random_differs_across_seeds():
    ids = [f'img{i}' for i in range(1000)]
    assert RandomStrategy().select(ids, 20, seed=0) != RandomStrategy().select(ids, 20, seed=1)


def test_random_returns_k_distinct_pool_ids():
    ids = [f'img{i}' for i in range(100)]
    selected = RandomStrategy().select(ids, 60, seed=3)
    assert len(selected) == 60
    assert len(set(selected)) == 60
    assert set(selected) <= set(ids)
    assert sorted(RandomStrategy().select(ids, 100, seed=3)) == sorted(ids)


def test_random_ignores_values():
    ids = [f'img{i}' for i in range(100)]
    assert (RandomStrategy().select(ids, 5, values=torch.arange(100.), seed=1) ==
            RandomStrategy().select(ids, 5, seed=1))


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize('strategy', [RandomStrategy(), LearningLossStrategy()])
def test_k_larger_than_pool_raises_naming_both_numbers(strategy):
    with pytest.raises(ValueError, match='asked for K=6 but the pool has only 5 unlabeled'):
        strategy.select(IDS, 6, torch.rand(5))


@pytest.mark.parametrize('k', [0, -3])
def test_non_positive_k_raises(k):
    with pytest.raises(ValueError, match=f'K must be a positive number .* got K={k}'):
        LearningLossStrategy().select(IDS, k, torch.rand(5))


def test_empty_pool_raises():
    with pytest.raises(ValueError, match='the pool is empty'):
        RandomStrategy().select([], 3)


def test_values_of_wrong_length_raise_naming_both_lengths():
    with pytest.raises(ValueError, match=r'got shape \[4\] for 5 pool ids'):
        EntropyStrategy().select(IDS, 2, torch.rand(4))


def test_nan_values_raise_saying_how_many():
    nan = float('nan')
    with pytest.raises(ValueError, match='values contain 2 NaN entries'):
        LearningLossStrategy().select(IDS, 2, torch.tensor([0.1, nan, 0.3, nan, 1.]))


def test_nan_labeled_features_raise():
    labeled = torch.zeros(3, 2)
    labeled[1, 0] = float('nan')
    with pytest.raises(ValueError, match='labeled_values contain 1 NaN'):
        CoresetStrategy().select(IDS, 2, torch.rand(5, 2), labeled)


def test_missing_values_raise_naming_what_is_needed():
    with pytest.raises(ValueError, match="LearningLossStrategy needs the 'pred_loss'"):
        LearningLossStrategy().select(IDS, 2)


def test_scores_with_a_feature_dimension_raise():
    with pytest.raises(ValueError, match=r'shape \[5\], got shape \[5, 3\]'):
        LearningLossStrategy().select(IDS, 2, torch.rand(5, 3))


def test_coreset_features_must_be_two_dimensional():
    with pytest.raises(ValueError, match=r'features of shape \[N, D\].*got shape \[5\]'):
        CoresetStrategy().select(IDS, 2, torch.rand(5))


def test_coreset_labeled_features_must_match_the_pool_dimension():
    with pytest.raises(ValueError, match=r"pool's D=4, got shape \[3, 2\]"):
        CoresetStrategy().select(IDS, 2, torch.rand(5, 4), torch.rand(3, 2))


def test_duplicate_pool_ids_raise():
    with pytest.raises(ValueError, match='1 duplicate ids'):
        RandomStrategy().select(['a', 'b', 'a'], 2)


# --- declaration and construction -----------------------------------------------------------------


@pytest.mark.parametrize('strategy_cls, needs, needs_labeled', [
    (RandomStrategy, None, False),
    (EntropyStrategy, 'uncertainty', False),
    (LearningLossStrategy, 'pred_loss', False),
    (CoresetStrategy, 'features', True),
    (OracleLossStrategy, 'target_loss', False),
])
def test_strategies_declare_what_the_loop_must_collect(strategy_cls, needs, needs_labeled):
    assert strategy_cls.needs == needs
    assert strategy_cls.needs_labeled is needs_labeled


@pytest.mark.parametrize('name, strategy_cls', [
    ('random', RandomStrategy),
    ('entropy', EntropyStrategy),
    ('coreset', CoresetStrategy),
    ('learning_loss', LearningLossStrategy),
])
def test_build_strategy_by_short_name(name, strategy_cls):
    assert type(build_strategy(name)) is strategy_cls


@pytest.mark.parametrize('cfg', [
    dict(type='mmlearnloss.LearningLossStrategy'),
    dict(type='LearningLossStrategy'),
    dict(type='learning_loss'),
])
def test_build_strategy_by_cfg(cfg):
    assert type(build_strategy(cfg)) is LearningLossStrategy


def test_strategies_are_registered_in_task_utils():
    strategy = TASK_UTILS.build(dict(type='mmlearnloss.CoresetStrategy'))
    assert isinstance(strategy, CoresetStrategy)


@pytest.mark.parametrize('name, strategy_cls', [
    ('random', RandomStrategy),
    ('entropy', EntropyStrategy),
    ('coreset', CoresetStrategy),
    ('learning_loss', LearningLossStrategy),
    ('diverse_learning_loss', DiverseLearningLossStrategy),
    ('oracle_loss', OracleLossStrategy),
])
def test_short_names_are_registered_names_and_name_the_strategy(name, strategy_cls):
    assert TASK_UTILS.get(name) is strategy_cls
    assert TASK_UTILS.build(dict(type=f'mmlearnloss.{name}')).name == name


def test_build_strategy_finds_the_short_names_under_another_default_scope():
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'):
        assert type(build_strategy(dict(type='coreset', device='cpu'))) is CoresetStrategy


def test_build_strategy_returns_a_strategy_instance_as_is():
    strategy = RandomStrategy()
    assert build_strategy(strategy) is strategy


def test_build_strategy_with_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown strategy 'bald'.*learning_loss"):
        build_strategy('bald')


def test_base_strategy_requires_select_indices():
    with pytest.raises(NotImplementedError):
        BaseStrategy().select(IDS, 1)
