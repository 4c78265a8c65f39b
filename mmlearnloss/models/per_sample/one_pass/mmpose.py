"""mmpose's one pass: each sample's term of a top-down head's loss module, from the batch pass."""
import warnings
from contextlib import contextmanager
from typing import Callable, Iterator, Optional

import torch
from torch import Tensor, nn
from torch.utils._pytree import tree_flatten, tree_unflatten

from ..batches import batch_sizes, slice_batch
from ..recorders import methods_replaced
from .framework import is_framework_method

#: mmpose heads whose ``loss`` is the head's forward plus ``loss_module`` on batch-first tensors
#: (once, or once per stage for CPMHead), nothing else entering the loss.
POSE_HEADS = ('HeatmapHead', 'CPMHead', 'SimCCHead', 'RTMCCHead', 'RegressionHead', 'RLEHead')


def computes_pose_head_loss(model: nn.Module) -> bool:
    """Whether ``model``'s loss is mmpose's ``TopdownPoseEstimator.loss`` on a head of
    :data:`POSE_HEADS` that takes its ``loss`` from it unchanged."""
    head = getattr(model, 'head', None)
    return (head is not None and getattr(head, 'loss_module', None) is not None
            and is_framework_method(model, 'TopdownPoseEstimator', 'loss')
            and any(is_framework_method(head, name, 'loss') for name in POSE_HEADS))


@contextmanager
def pose_loss_terms(model: nn.Module) -> Iterator[Callable[[int], Optional[Tensor]]]:
    """Record the calls of an mmpose head's ``loss_module`` around ``model.loss``.

    The head's forward runs once for the batch; its loss module is then run on each sample's
    slice of what it was given (predictions, targets, keypoint weights), which is the sample's
    loss computed alone, without running the head again: vectorised over the samples
    (:func:`each_sample`), a few operations for the whole batch.
    Yields a function of the batch size returning [B], or None if a call was given anything
    not batch-first.
    """
    loss_module = model.head.loss_module
    modules = list(loss_module) if isinstance(loss_module, nn.ModuleList) else [loss_module]
    calls = []

    def recording(forward):
        def record(*args, **kwargs):
            calls.append((forward, args, kwargs))
            return forward(*args, **kwargs)
        return record

    def per_sample(num: int) -> Optional[Tensor]:
        if not calls or any(set(batch_sizes((args, kwargs))) != {num}
                            for _, args, kwargs in calls):
            return None
        with torch.no_grad():
            return sum(each_sample(forward, args, kwargs, num) for forward, args, kwargs in calls)

    with methods_replaced('forward', {module: recording(module.forward) for module in modules}):
        yield per_sample


def each_sample(loss_fn: Callable, args: tuple, kwargs: dict, num: int) -> Tensor:
    """[B] values of ``loss_fn`` on each sample's slice (batch dim kept) of its batch-first
    tensor arguments: one vectorised call for the whole batch (``torch.func.vmap``), or the
    slices one by one where vmap cannot run the loss (Python control flow on tensor values)."""
    leaves, spec = tree_flatten((args, kwargs))
    where = [k for k, leaf in enumerate(leaves) if isinstance(leaf, Tensor)]

    def alone(*sample: Tensor) -> Tensor:
        filled = list(leaves)
        for k, tensor in zip(where, sample):
            filled[k] = tensor
        sample_args, sample_kwargs = tree_unflatten(filled, spec)
        return loss_fn(*sample_args, **sample_kwargs).reshape(())

    try:
        # Each vmapped call sees [1, ...]: the sample's slice with its batch dim. An operation
        # vmap has no batching rule for (kl_div: SimCC's loss) it runs sample by sample, with
        # the same values; its warning about that says nothing a user can act on.
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', message='There is a performance drop because we '
                                    'have not yet implemented the batching rule')
            return torch.func.vmap(alone)(*(leaves[k].unsqueeze(1) for k in where))
    except RuntimeError:
        return torch.stack([
            loss_fn(*slice_batch(args, i), **slice_batch(kwargs, i)).reshape(())
            for i in range(num)])
