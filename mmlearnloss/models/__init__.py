from .head import LossPredictionHead
from .learning_loss import LearningLoss
from .losses import LossPredictionLoss
from .per_sample import get_adapter
from .taps import FeatureTaps

__all__ = [
    'LossPredictionHead', 'LossPredictionLoss', 'LearningLoss', 'FeatureTaps', 'get_adapter'
]
