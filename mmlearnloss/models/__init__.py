from .head import LossPredictionHead
from .learning_loss import LearningLoss
from .losses import LossPredictionLoss, ranking_loss
from .taps import FeatureTaps
from .per_sample import ADAPTERS, get_adapter

__all__ = [
    'LossPredictionHead', 'LossPredictionLoss', 'ranking_loss', 'LearningLoss', 'FeatureTaps',
    'ADAPTERS', 'get_adapter'
]
