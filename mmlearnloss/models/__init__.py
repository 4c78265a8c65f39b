from .head import LossPredictionHead
from .learning_loss import LearningLoss
from .losses import LossPredictionLoss, ranking_loss
from .taps import FeatureTaps
from .per_sample import get_adapter

__all__ = [
    'LossPredictionHead', 'LossPredictionLoss', 'ranking_loss', 'LearningLoss', 'FeatureTaps',
    'get_adapter'
]
