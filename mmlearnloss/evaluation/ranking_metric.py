"""How well the loss prediction module ranks samples by their real loss (paper Fig. 5)."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from torch import Tensor

from mmlearnloss.registry import METRICS


def ranking_accuracy(pred: Tensor, target: Tensor) -> float:
    """Fraction of sample pairs with different real losses whose order ``pred`` gets right.

    Pairs with equal predictions count half. Exact over all pairs, counted by sorting in
    O(N log^2 N) time and O(N) memory (10 000 validation samples: 50 M pairs, no pair matrix).
    """
    pred = pred.detach().double().flatten().cpu().numpy()
    target = target.detach().double().flatten().cpu().numpy()
    if pred.shape != target.shape:
        raise ValueError(f'pred and target differ in length: {pred.size} vs {target.size}')
    n = pred.size
    valid = _pairs(n) - _tied_pairs(target)  # pairs whose real losses differ
    if not valid:
        return float('nan')
    # Ordered by real loss (equal ones by prediction), a pair is discordant iff the predictions
    # of an earlier and a later sample are strictly inverted.
    order = np.lexsort((pred, target))
    discordant = _inversions(pred[order])
    both = np.unique(np.stack([target, pred], 1), axis=0, return_counts=True)[1]
    tied = _tied_pairs(pred) - int((both * (both - 1) // 2).sum())  # differ only in target
    concordant = valid - discordant - tied
    return (concordant + 0.5 * tied) / valid


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def _tied_pairs(values: np.ndarray) -> int:
    counts = np.unique(values, return_counts=True)[1].astype(np.int64)
    return int((counts * (counts - 1) // 2).sum())


def _inversions(values: np.ndarray) -> int:
    """Pairs ``i < j`` with ``values[i] > values[j]``, by a bottom-up merge sort whose merges are
    vectorised: at each width every right-half element counts the left-half elements above it."""
    n = values.size
    seq = np.unique(values, return_inverse=True)[1].astype(np.int64).reshape(-1)  # dense ranks
    position = np.arange(n)
    count, width = 0, 1
    while width < n:
        block = position // (2 * width)
        is_left = position % (2 * width) < width
        # Keys block * n + rank: the left halves are sorted within their block, so all left keys
        # are sorted, and a right element's block-mates are the keys in [block * n, (block+1) n).
        left = block[is_left] * n + seq[is_left]
        right_block = block[~is_left]
        at_most = np.searchsorted(left, right_block * n + seq[~is_left], side='right')
        end = np.searchsorted(left, (right_block + 1) * n, side='left')
        count += int((end - at_most).sum())
        seq = np.sort(block * n + seq) - block * n  # merge: each block sorted, blocks in place
        width *= 2
    return count


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
        values = []
        for sample in data_samples:
            get = sample.get if isinstance(sample, dict) else (
                lambda key, s=sample: getattr(s, key, None))
            pred, target = get('pred_loss'), get('target_loss')
            if pred is None or target is None:
                raise KeyError('LossRankingMetric needs pred_loss and target_loss on every data '
                               'sample: evaluate a mmlearnloss.LearningLoss model with '
                               'val_target_loss=True on data with ground truth.')
            values += [pred, target]
        if all(isinstance(v, Tensor) and v.numel() == 1 for v in values) \
                and len({v.device for v in values}) == 1:
            # One copy to the host for the batch, where float() of each value would wait on
            # the device twice per sample.
            values = torch.cat([v.detach().reshape(1) for v in values]).tolist()
        self.results.extend(zip(map(float, values[0::2]), map(float, values[1::2])))

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
