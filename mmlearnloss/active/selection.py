"""Selecting with a strategy: the chosen ids, then the score each was chosen by."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

from torch import Tensor

from .strategies import BaseStrategy


def select_and_score(strategy: BaseStrategy,
                     ids: Sequence[str],
                     budget: int,
                     values: Union[Tensor, Dict[str, Tensor], None],
                     labeled_values: Union[Tensor, Dict[str, Tensor], None] = None,
                     seed: int = 0) -> Tuple[List[str], Optional[List[float]]]:
    """Select ``budget`` of ``ids`` with ``strategy``, and the selected samples' scores.

    Used by :class:`~mmlearnloss.active.ActiveLearningLoop` and ``tools/al_select.py``.

    Args:
        strategy (BaseStrategy): The selection strategy.
        ids (Sequence[str]): The candidates, in the order of ``values``.
        budget (int): How many to select.
        values (Tensor | dict | None): The model's outputs the strategy needs, one row per
            candidate (several outputs: a dict by name, the first is the per-sample score);
            None for strategies that need none.
        labeled_values (Tensor | dict | None): The same of the labeled set, for the strategies
            that need it (``strategy.needs_labeled``).
        seed (int): Seed of random choices.

    Returns:
        tuple[list[str], list[float] | None]: The selected ids, most informative first, and
        each one's score (predicted loss, entropy...), or None if the strategy ranks by no
        per-sample score (random, core-set).
    """
    selected = strategy.select(ids, budget, values, labeled_values, seed=seed)
    if isinstance(values, dict):  # several outputs: the first is the per-sample score
        values = values[strategy.needs[0]]
    if values is None or values.dim() != 1:
        return selected, None
    position = {sample_id: i for i, sample_id in enumerate(ids)}
    return selected, [float(values[position[i]]) for i in selected]
