"""Losses that train the loss prediction module (paper Eq. 2 and its MSE ablation)."""
from typing import List, Tuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from mmlearnloss.registry import MODELS

#: Which pairs of a batch the ranking loss compares (see :func:`finite_pairs`).
PAIRS = ('halves', 'all')


def check_pairs(pairs: str) -> None:
    """Fail with the accepted values when ``pairs`` is not one of :data:`PAIRS`."""
    if pairs not in PAIRS:
        raise ValueError(f"pairs must be one of {PAIRS}, got {pairs!r}: 'halves' pairs the "
                         f"first half of the batch with the second (paper), 'all' uses every "
                         f"pair of the batch")


def finite_pairs(pred_loss: Tensor, target_loss: Tensor,
                 pairs: str = 'halves') -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """The sample pairs the ranking loss compares, without host-device synchronisation: their
    predictions (i's and j's, two [P]), their targets ``[2, P]`` (row 0: i, row 1: j), whether
    each pair counts, and whether each sample's target is finite.

    ``'halves'`` (paper): the first half of the batch against the second half, B // 2 pairs
    (slices, no indexing); with an odd batch the last sample is left out. Pairs with equal
    targets count, with sign -1, as Eq. 2 has it.
    ``'all'``: every pair i < j of the batch, B (B - 1) / 2 pairs, of which those with equal
    targets do not count: with all pairs a tie would always push the earlier sample's prediction
    below the later one's, a bias by batch position that carries no information.
    A pair with a non-finite target does not count either; the other pairs stay as they are.
    """
    check_pairs(pairs)
    n = target_loss.shape[0]
    finite = (target_loss - target_loss) == 0  # False for NaN and both infinities
    if pairs == 'halves':
        half = n // 2
        if n % 2:  # the last sample is left out
            pred_loss, target_loss = pred_loss[:-1], target_loss[:-1]
        preds, targets = pred_loss.view(2, half).unbind(), target_loss.view(2, half)
        return preds, targets, finite[:half] & finite[half:2 * half], finite
    pair = torch.triu_indices(n, n, offset=1, device=target_loss.device)
    preds, targets = pred_loss[pair].unbind(), target_loss[pair]
    valid = finite[pair[0]] & finite[pair[1]] & (targets[0] != targets[1])
    return preds, targets, valid, finite


def weighted_mean(values: Tensor, weights: Tensor) -> Tensor:
    """Mean of ``values`` over the entries of weight 1; 0 with the graph kept if there are
    none."""
    return (values * weights).sum() / weights.sum().clamp_min(1)


def world_size() -> int:
    """Number of processes in the default group; 1 when torch.distributed is not initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def gather_batch(pred_loss: Tensor, target_loss: Tensor) -> Tuple[Tensor, Tensor]:
    """Every rank's predicted and target losses, concatenated in rank order.

    The other ranks' parts are constants; this rank's part is ``pred_loss`` itself, so gradients
    flow into this rank's samples only (each rank back-propagates its own). Ranks may hold
    different numbers of samples (the last batch): sizes are exchanged first and the tensors
    padded to the largest for the gather. Every rank must call it, as any collective.
    """
    world, rank = dist.get_world_size(), dist.get_rank()
    size = torch.tensor([pred_loss.shape[0]], device=pred_loss.device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    sizes = [int(n) for n in sizes]

    def gather(local: Tensor) -> List[Tensor]:
        padded = local.new_zeros(max(sizes))
        padded[:local.shape[0]] = local.detach()
        parts = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(parts, padded)
        return [part[:n] for part, n in zip(parts, sizes)]

    preds, targets = gather(pred_loss), gather(target_loss)
    preds[rank], targets[rank] = pred_loss, target_loss
    return torch.cat(preds), torch.cat(targets)


def scale_for_ddp_mean(loss: Tensor, world: int) -> Tensor:
    """``W * L - (W - 1) * L.detach()``: the value of ``loss``, W times its gradient.

    For a loss over the global batch (see :func:`gather_batch`) each rank back-propagates only
    its own samples' share of the gradient; DDP then averages over the W ranks, so each share
    has to be W times as large for the sum of the shares, the global gradient, to come out.
    """
    return loss if world == 1 else world * loss - (world - 1) * loss.detach()


@MODELS.register_module()
class LossPredictionLoss(nn.Module):
    """Loss between predicted and real per-sample losses.

    Args:
        margin (float): ξ of the ranking loss. Defaults to 1.0 (paper).
        loss_weight (float): λ. 1 for classification/detection, 1e-4 for heatmap pose (paper).
        mode (str): ``'ranking'`` (paper) or ``'mse'`` (the paper's ablation, which performs
            worse; kept for comparison).
        pairs (str): Which pairs the ranking loss and the logged accuracy compare:
            ``'halves'`` (paper: first half of the batch against the second, B // 2 pairs) or
            ``'all'`` (every pair with different targets, up to B (B - 1) / 2). Ignored by
            ``'mse'`` except for the accuracy.
    """

    def __init__(self,
                 margin: float = 1.0,
                 loss_weight: float = 1.0,
                 mode: str = 'ranking',
                 pairs: str = 'halves'):
        super().__init__()
        if mode not in ('ranking', 'mse'):
            raise ValueError(f"mode must be 'ranking' or 'mse', got {mode!r}")
        check_pairs(pairs)
        self.margin = margin
        self.loss_weight = loss_weight
        self.mode = mode
        self.pairs = pairs

    def forward(self, pred_loss: Tensor, target_loss: Tensor) -> Tensor:
        """Return ``loss_weight`` times the loss for predictions and targets of shape [B].

        Pairs with a non-finite target are left out (see :func:`finite_pairs`; :meth:`measure`
        counts such targets); so are such samples in ``'mse'``.
        """
        return self.measure(pred_loss, target_loss)[0]

    def measure(self, pred_loss: Tensor, target_loss: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """``(loss, accuracy, invalid)`` of one batch from one set of pairs: the loss as
        :meth:`forward`, the ranking accuracy as :meth:`accuracy` and the number of samples
        left out because their target is NaN or infinite, all tensors computed without host
        syncs (the training step logs the last two)."""
        if pred_loss.shape != target_loss.shape:
            raise ValueError(f'pred_loss and target_loss must have the same shape, got '
                             f'{tuple(pred_loss.shape)} and {tuple(target_loss.shape)}')
        target_loss = target_loss.detach()
        preds, targets, valid, finite = finite_pairs(pred_loss, target_loss, self.pairs)
        invalid = target_loss.shape[0] - finite.sum(dtype=pred_loss.dtype)
        later = targets[0] > targets[1]
        num_pairs = valid.sum()
        if self.mode == 'ranking':
            sign = later * 2. - 1.  # Eq. 2: +1 where i's loss is the larger, else -1 (ties too)
            # -sign * (p_i - p_j) + ξ, written sign * (p_j - p_i) + ξ: the same values, and
            # adding ξ needs no operation in the backward where subtracting from it negates.
            terms = F.relu(sign * (preds[1] - preds[0]) + self.margin)
            loss = (terms * valid).sum() / num_pairs.clamp_min(1)
        else:
            error = torch.where(finite, pred_loss - target_loss, pred_loss * 0.)
            loss = weighted_mean(error**2, finite.to(error.dtype))
        preds = [p.detach() for p in preds]
        if self.pairs == 'halves':
            agree = (preds[0] > preds[1]) == later
        else:
            agree = (torch.sign(preds[0] - preds[1]) == torch.sign(targets[0] - targets[1])) \
                + 0.5 * (preds[0] == preds[1])
        accuracy = (agree * valid).sum() / num_pairs
        if self.loss_weight != 1:  # x * 1 is x: λ = 1 costs no operation, forward or backward
            loss = loss * self.loss_weight
        return loss, accuracy, invalid

    def accuracy(self, pred_loss: Tensor, target_loss: Tensor) -> Tensor:
        """Fraction of the loss's pairs (finite targets only) whose order the prediction gets
        right; NaN when there is no pair. With ``'halves'`` a pair is right when ``pred_i >
        pred_j`` exactly when ``target_i > target_j`` (Eq. 2's sign); with ``'all'`` a tie in the
        prediction counts half, as in :func:`mmlearnloss.evaluation.ranking_accuracy`."""
        return self.measure(pred_loss.detach(), target_loss)[1]
