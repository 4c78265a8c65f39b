"""Learning Loss for Active Learning (Yoo & Kweon, CVPR 2019) for OpenMMLab."""
from . import compat  # noqa: F401  (fixes mmengine checkpoint loading on torch >= 2.6)
from .active import ActiveLearningLoop, build_strategy
from .engine import StopLossGradHook
from .evaluation import LossRankingMetric
from .models import LearningLoss, LossPredictionHead, LossPredictionLoss
from .version import __version__

__all__ = [
    '__version__', 'ActiveLearningLoop', 'build_strategy', 'LearningLoss', 'LossPredictionHead',
    'LossPredictionLoss', 'StopLossGradHook', 'LossRankingMetric'
]
