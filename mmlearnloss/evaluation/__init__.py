from .ranking_metric import LossRankingMetric, pearson, ranking_accuracy, spearman

__all__ = ['LossRankingMetric', 'ranking_accuracy', 'pearson', 'spearman']
