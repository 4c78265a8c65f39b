"""Losses that train the loss prediction module (paper Eq. 2 and its MSE ablation)."""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmlearnloss.registry import MODELS


def _drop_nan(pred_loss: Tensor, target_loss: Tensor) -> Tuple[Tensor, Tensor, int]:
    """Remove samples whose target loss is not finite; return how many were removed."""
    keep = torch.isfinite(target_loss)
    return pred_loss[keep], target_loss[keep], int((~keep).sum())


def ranking_loss(pred_loss: Tensor, target_loss: Tensor, margin: float = 1.0) -> Tensor:
    """Pairwise margin ranking loss of the paper (Eq. 2), averaged over B // 2 pairs.

    The first half of the batch is paired with the second half; with an odd batch the last
    sample is left out. ``target_loss`` is detached: it is the ground truth, not a gradient path.
    Returns a zero that keeps the graph when fewer than two samples are given.
    """
    target_loss = target_loss.detach()
    half = pred_loss.shape[0] // 2
    if half == 0:
        return pred_loss.sum() * 0.
    pred_i, pred_j = pred_loss[:half], pred_loss[half:2 * half]
    target_i, target_j = target_loss[:half], target_loss[half:2 * half]
    sign = torch.where(target_i > target_j, 1.0, -1.0).to(pred_loss.dtype)
    return F.relu(-sign * (pred_i - pred_j) + margin).mean()


def pair_accuracy(pred_loss: Tensor, target_loss: Tensor) -> Tensor:
    """Fraction of the loss's B // 2 pairs whose order the prediction gets right."""
    half = pred_loss.shape[0] // 2
    if half == 0:
        return pred_loss.new_tensor(float('nan'))
    pred_i, pred_j = pred_loss[:half], pred_loss[half:2 * half]
    target_i, target_j = target_loss[:half], target_loss[half:2 * half]
    return ((pred_i > pred_j) == (target_i > target_j)).float().mean()


@MODELS.register_module()
class LossPredictionLoss(nn.Module):
    """Loss between predicted and real per-sample losses.

    Args:
        margin (float): ξ of the ranking loss. Defaults to 1.0 (paper).
        loss_weight (float): λ. 1 for classification/detection, 1e-4 for heatmap pose (paper).
        mode (str): ``'ranking'`` (paper) or ``'mse'`` (the paper's ablation, which performs
            worse; kept for comparison).
    """

    def __init__(self, margin: float = 1.0, loss_weight: float = 1.0, mode: str = 'ranking'):
        super().__init__()
        if mode not in ('ranking', 'mse'):
            raise ValueError(f"mode must be 'ranking' or 'mse', got {mode!r}")
        self.margin = margin
        self.loss_weight = loss_weight
        self.mode = mode

    def forward(self, pred_loss: Tensor, target_loss: Tensor) -> Tensor:
        """Return ``loss_weight`` times the loss for predictions and targets of shape [B].

        Samples with a non-finite target are left out (see :meth:`count_invalid`).
        """
        if pred_loss.shape != target_loss.shape:
            raise ValueError(f'pred_loss and target_loss must have the same shape, got '
                             f'{tuple(pred_loss.shape)} and {tuple(target_loss.shape)}')
        pred_loss, target_loss, _ = _drop_nan(pred_loss, target_loss.detach())
        if self.mode == 'ranking':
            loss = ranking_loss(pred_loss, target_loss, self.margin)
        elif pred_loss.numel() == 0:
            loss = pred_loss.sum() * 0.
        else:
            loss = F.mse_loss(pred_loss, target_loss)
        return loss * self.loss_weight

    @staticmethod
    def count_invalid(target_loss: Tensor) -> int:
        """Number of samples the loss leaves out because their target is NaN or infinite."""
        return int((~torch.isfinite(target_loss)).sum())

    @staticmethod
    def accuracy(pred_loss: Tensor, target_loss: Tensor) -> Tensor:
        """Ranking accuracy over the same pairs the loss uses (finite targets only)."""
        pred_loss, target_loss, _ = _drop_nan(pred_loss.detach(), target_loss.detach())
        return pair_accuracy(pred_loss, target_loss)
