from .loop import ActiveLearningLoop
from .oracle import apply_returned, check_returned, write_query
from .splits import (COCOSplitWriter, IndexSplitWriter, JsonListSplitWriter, PoolSplitter,
                     VOCSplitWriter, build_split_writer)
from .state import ALState, config_hash
from .strategies import (CoresetStrategy, EntropyStrategy, LearningLossStrategy, RandomStrategy,
                         build_strategy, k_center_greedy)

__all__ = [
    'ActiveLearningLoop', 'write_query', 'check_returned', 'apply_returned', 'PoolSplitter', 'VOCSplitWriter', 'COCOSplitWriter',
    'JsonListSplitWriter', 'IndexSplitWriter', 'build_split_writer', 'ALState', 'config_hash',
    'RandomStrategy', 'EntropyStrategy', 'LearningLossStrategy', 'CoresetStrategy',
    'build_strategy', 'k_center_greedy'
]
