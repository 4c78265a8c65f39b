"""select_and_score: the selection helper ActiveLearningLoop and tools/al_select.py share."""
import torch

from mmlearnloss.active.selection import select_and_score
from mmlearnloss.active.strategies import (DiverseLearningLossStrategy, LearningLossStrategy,
                                           RandomStrategy)


def test_select_and_score_gives_each_selected_sample_its_score():
    ids = ['a', 'b', 'c', 'd']
    values = torch.tensor([0.25, 2.0, 1.0, 0.5])
    selected, scores = select_and_score(LearningLossStrategy(), ids, 2, values)
    assert selected == ['b', 'c']
    assert scores == [2.0, 1.0]


def test_select_and_score_has_no_scores_for_a_strategy_without_one():
    selected, scores = select_and_score(RandomStrategy(), ['a', 'b', 'c'], 2, None, seed=1)
    assert len(set(selected)) == 2 and set(selected) <= {'a', 'b', 'c'}
    assert scores is None


def test_select_and_score_takes_the_first_of_several_outputs_as_the_score():
    values = dict(pred_loss=torch.tensor([0.25, 2.0, 1.0]), features=torch.eye(3))
    strategy = DiverseLearningLossStrategy(candidate_factor=1, device='cpu')
    selected, scores = select_and_score(strategy, ['a', 'b', 'c'], 1, values)
    assert (selected, scores) == (['b'], [2.0])
