from .head import LossPredictionHead
from .learning_loss import LearningLoss
from .losses import LossPredictionLoss
from .taps import FeatureTaps
from .per_sample import get_adapter

__all__ = [
    'LossPredictionHead', 'LossPredictionLoss', 'LearningLoss', 'FeatureTaps', 'get_adapter'
]
