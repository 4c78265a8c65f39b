"""How well the loss prediction module ranks samples by their real loss (paper Fig. 5)."""
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from torch import Tensor

from mmlearnloss.registry import METRICS


def ranking_accuracy(pred: Tensor, target: Tensor, chunk: int = 4096) -> float:
    """Fraction of sample pairs with different real losses whose order ``pred`` gets right.

    Pairs with equal predictions count half. Exact over all pairs, in chunks of rows so memory
    stays O(chunk * N).
    """
    pred, target = pred.double().flatten(), target.double().flatten()
    if pred.shape != target.shape:
        raise ValueError(f'pred and target differ in length: {pred.numel()} vs {target.numel()}')
    correct, total = 0.0, 0
    for start in range(0, pred.numel(), chunk):
        dp = pred[start:start + chunk, None] - pred[None]
        dt = target[start:start + chunk, None] - target[None]
        valid = dt != 0
        agree = torch.sign(dp) == torch.sign(dt)
        tie = dp == 0
        correct += float((agree & valid).sum()) + 0.5 * float((tie & valid).sum())
        total += int(valid.sum())
    return correct / total if total else float('nan')


def pearson(a: Tensor, b: Tensor) -> float:
    a, b = a.double() - a.double().mean(), b.double() - b.double().mean()
    denom = a.norm() * b.norm()
    return float((a * b).sum() / denom) if denom > 0 else float('nan')


def spearman(a: Tensor, b: Tensor) -> float:
    """Pearson correlation of the ranks (ties broken by order; fine for continuous losses)."""
    return pearson(a.argsort().argsort(), b.argsort().argsort())


@METRICS.register_module()
class LossRankingMetric(BaseMetric):
    """Ranking accuracy and correlations of predicted vs real per-sample loss.

    Reads ``pred_loss`` and ``target_loss`` from the data samples that
    :class:`LearningLoss` returns in predict mode (with ``val_target_loss=True``).

    Args:
        prefix (str): Metric name prefix. Defaults to 'learnloss'.
    """

    default_prefix: Optional[str] = 'learnloss'

    def __init__(self, collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        #: (pred, target) of the last evaluation, for plots (paper Fig. 8).
        self.last_losses: Optional[Dict[str, List[float]]] = None

    def process(self, data_batch, data_samples: Sequence) -> None:
        for sample in data_samples:
            get = sample.get if isinstance(sample, dict) else (
                lambda key, s=sample: getattr(s, key, None))
            pred, target = get('pred_loss'), get('target_loss')
            if pred is None or target is None:
                raise KeyError('LossRankingMetric needs pred_loss and target_loss on every data '
                               'sample: evaluate a mmlearnloss.LearningLoss model with '
                               'val_target_loss=True on data with ground truth.')
            self.results.append((float(pred), float(target)))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        pred = torch.tensor([r[0] for r in results])
        target = torch.tensor([r[1] for r in results])
        finite = torch.isfinite(target) & torch.isfinite(pred)
        if int((~finite).sum()):
            print_log(f'LossRankingMetric: {int((~finite).sum())} samples with non-finite losses '
                      f'left out.', logger='current', level=30)
        pred, target = pred[finite], target[finite]
        self.last_losses = dict(pred_loss=pred.tolist(), target_loss=target.tolist())
        return dict(rank_acc=ranking_accuracy(pred, target), pearson=pearson(pred, target),
                    spearman=spearman(pred, target))
