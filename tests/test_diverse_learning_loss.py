"""DiverseLearningLossStrategy (high predicted losses, spread out) and scoring several outputs."""
import pytest
import torch

from mmlearnloss.active.scoring import score_pool
from mmlearnloss.active.strategies import (DiverseLearningLossStrategy, LearningLossStrategy,
                                           build_strategy, k_center_greedy)
from mmlearnloss.registry import TASK_UTILS

IDS = [f's{i}' for i in range(8)]
# Two tight clusters of hard samples (A: s0-s3 near (0, 0), B: s4-s5 near (10, 0)) and two easy
# samples far away (s6, s7); the four highest predicted losses are all in cluster A.
FEATURES = torch.tensor([[0., 0.], [0.1, 0.], [0., 0.1], [0.1, 0.1],
                         [10., 0.], [10.1, 0.], [0., 50.], [50., 50.]])
PRED_LOSS = torch.tensor([9.0, 8.5, 8.0, 7.5, 7.0, 6.5, 0.1, 0.2])


def values(pred=PRED_LOSS, feats=FEATURES):
    return dict(pred_loss=pred, features=feats)


def test_first_pick_is_the_highest_predicted_loss():
    assert DiverseLearningLossStrategy().select(IDS, 1, values()) == ['s0']


def test_spreads_picks_over_clusters_where_learning_loss_takes_one_cluster():
    assert LearningLossStrategy().select(IDS, 2, PRED_LOSS) == ['s0', 's1']
    # 6 candidates (factor 3): s0-s5; after s0 the farthest candidate is in cluster B.
    assert DiverseLearningLossStrategy(candidate_factor=3).select(IDS, 2, values()) == ['s0', 's5']


def test_only_the_top_predicted_losses_are_candidates():
    # s6 and s7 are the farthest points but have the lowest predicted losses.
    picked = DiverseLearningLossStrategy(candidate_factor=3).select(IDS, 2, values())
    assert not {'s6', 's7'} & set(picked)
    everything = DiverseLearningLossStrategy(candidate_factor=4).select(IDS, 2, values())
    assert everything == ['s0', 's7']  # 8 candidates: the whole pool, core-set from s0


def test_factor_one_selects_the_same_set_as_learning_loss():
    torch.manual_seed(0)
    pred, feats = torch.rand(50), torch.randn(50, 4)
    diverse = DiverseLearningLossStrategy(candidate_factor=1).select(list(range(50)), 10,
                                                                     values(pred, feats))
    plain = LearningLossStrategy().select(list(range(50)), 10, pred)
    assert sorted(diverse) == sorted(plain) and diverse[0] == plain[0]


def test_whole_pool_as_candidates_is_k_center_greedy_from_the_highest_loss():
    torch.manual_seed(1)
    pred, feats = torch.rand(40), torch.randn(40, 3)
    picked = DiverseLearningLossStrategy(candidate_factor=4).select(list(range(40)), 10,
                                                                    values(pred, feats))
    order = torch.sort(pred, descending=True, stable=True).indices
    expected = order[k_center_greedy(feats[order], 10, first=0)].tolist()
    assert picked == expected and picked[0] == int(pred.argmax())


def test_is_deterministic_and_ignores_the_seed():
    torch.manual_seed(2)
    pred, feats = torch.rand(30), torch.randn(30, 5)
    strategy = DiverseLearningLossStrategy()
    runs = [strategy.select(list(range(30)), 5, values(pred, feats), seed=s) for s in (0, 1, 7)]
    assert runs[0] == runs[1] == runs[2] and len(set(runs[0])) == 5


def test_needs_both_outputs_and_names_the_missing_one():
    strategy = DiverseLearningLossStrategy()
    assert strategy.needs == ('pred_loss', 'features') and strategy.needs_labeled is False
    with pytest.raises(ValueError, match=r"missing \['features'\]"):
        strategy.select(IDS, 2, dict(pred_loss=PRED_LOSS))
    with pytest.raises(ValueError, match='needs values as a dict'):
        strategy.select(IDS, 2, PRED_LOSS)
    with pytest.raises(ValueError, match='one row per pool sample'):
        strategy.select(IDS, 2, values(feats=FEATURES[:5]))
    with pytest.raises(ValueError, match='features of shape'):
        strategy.select(IDS, 2, values(feats=PRED_LOSS))


def test_candidate_factor_below_one_is_refused():
    with pytest.raises(ValueError, match='candidate_factor must be >= 1'):
        DiverseLearningLossStrategy(candidate_factor=0.5)


def test_registered_and_built_by_short_name_with_options():
    assert TASK_UTILS.get('DiverseLearningLossStrategy') is DiverseLearningLossStrategy
    strategy = build_strategy(dict(type='diverse_learning_loss', candidate_factor=2))
    assert isinstance(strategy, DiverseLearningLossStrategy)
    assert strategy.candidate_factor == 2 and strategy.name == 'diverse_learning_loss'


def test_k_center_greedy_first_sets_the_first_pick_and_is_checked():
    points = torch.tensor([[0.], [1.], [5.], [6.]])
    assert k_center_greedy(points, 2, first=2).tolist() == [2, 0]
    with pytest.raises(ValueError, match='first=4 is not an index'):
        k_center_greedy(points, 2, first=4)


class FakeScorer(torch.nn.Module):
    """score_step returns the sample index as pred_loss and [index, -index] as features."""

    def score_step(self, data, needs):
        index = torch.as_tensor(data, dtype=torch.float32)
        out = {}
        if 'pred_loss' in needs:
            out['pred_loss'] = index
        if 'features' in needs:
            out['features'] = torch.stack([index, -index], dim=1)
        return out


def test_score_pool_collects_several_outputs_in_one_pass_aligned_by_id():
    from torch.utils.data import DataLoader, SequentialSampler
    dataset = list(range(7))
    loader = DataLoader(dataset, batch_size=3, sampler=SequentialSampler(dataset))
    ids = [f'id{i}' for i in range(7)]
    out_ids, out = score_pool(FakeScorer(), loader, ids, ('pred_loss', 'features'))
    assert out_ids == ids and set(out) == {'pred_loss', 'features'}
    assert out['pred_loss'].tolist() == list(range(7))
    assert out['features'][:, 1].tolist() == [-i for i in range(7)]
    _, single = score_pool(FakeScorer(), loader, ids, 'pred_loss')
    assert torch.equal(single, out['pred_loss'])
