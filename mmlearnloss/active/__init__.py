from .loop import ActiveLearningLoop
from .splits import PoolSplitter
from .state import ALState, config_hash
from .strategies import (CoresetStrategy, EntropyStrategy, LearningLossStrategy, OracleLossStrategy,
                         RandomStrategy, build_strategy, k_center_greedy)

__all__ = [
    'ActiveLearningLoop', 'PoolSplitter', 'ALState', 'config_hash', 'RandomStrategy',
    'EntropyStrategy', 'LearningLossStrategy', 'CoresetStrategy', 'OracleLossStrategy',
    'build_strategy', 'k_center_greedy'
]
