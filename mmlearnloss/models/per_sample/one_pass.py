"""Per-sample losses read from the batch loss itself, where the framework's computation already
holds each sample's terms: no replay per sample."""
import inspect
from contextlib import contextmanager
from typing import Callable, Iterator, Optional

import torch
from torch import Tensor, nn

from .replay import batch_sizes, describe, methods_replaced, slice_batch


def uses_cls_head_loss(model: nn.Module) -> bool:
    """Whether ``model.loss`` is ImageClassifier's and its head's loss is ClsHead's, with a loss
    module that takes ``reduction_override``: then one pass gives exact per-sample losses."""
    head = getattr(model, 'head', None)
    bases = {klass.__name__: klass for klass in type(model).__mro__ + type(head).__mro__}
    if 'ImageClassifier' not in bases or 'ClsHead' not in bases:
        return False
    loss_module = getattr(head, 'loss_module', None)
    return (type(model).loss is bases['ImageClassifier'].loss
            and type(head).loss is bases['ClsHead'].loss
            and type(head)._get_loss is bases['ClsHead']._get_loss
            and loss_module is not None
            and 'reduction_override' in inspect.signature(loss_module.forward).parameters)


def _is_framework_method(obj, base_name: str, *names: str) -> bool:
    """Whether ``obj``'s class derives from the class ``base_name`` and takes each method of
    ``names`` from it unchanged (a subclass that overrides one computes something else)."""
    base = next((k for k in type(obj).__mro__ if k.__name__ == base_name), None)
    return base is not None and all(
        getattr(type(obj), name, None) is getattr(base, name, None) for name in names)


def computes_ssd_loss(model: nn.Module) -> bool:
    """Whether ``model``'s loss is exactly mmdet's SSD loss: ``SingleStageDetector.loss`` on an
    ``SSDHead`` whose loss, targets and per-image terms are the framework's."""
    head = getattr(model, 'bbox_head', None)
    return (head is not None and _is_framework_method(model, 'SingleStageDetector', 'loss')
            and _is_framework_method(head, 'BaseDenseHead', 'loss')
            and _is_framework_method(head, 'SSDHead', 'loss_by_feat', 'loss_by_feat_single')
            and _is_framework_method(head, 'AnchorHead', 'get_targets', '_get_targets_single'))


@contextmanager
def ssd_image_terms(model: nn.Module) -> Iterator[Callable[[int], Tensor]]:
    """Record the per-image terms of mmdet's SSD loss around ``model.loss``.

    ``SSDHead.loss_by_feat`` already computes the loss image by image
    (``loss_by_feat_single``, hard negative mining included), each term divided by the batch's
    positives ``A``. Alone, image i would be divided by its own positives ``a_i`` (its sampling
    result's ``avg_factor``, recorded from ``_get_targets_single``): its loss is
    ``cls_i * A / a_i + bbox_i * (A + eps) / (a_i + eps)``, eps being mmdet's
    ``weight_reduce_loss`` guard. Yields a function of the batch size returning that [B].
    """
    head = model.bbox_head
    factors, terms = [], []
    targets_single, loss_single = head._get_targets_single, head.loss_by_feat_single

    def recording_targets(*args, **kwargs):
        out = targets_single(*args, **kwargs)
        factors.append(out[-1].avg_factor)  # the image's SamplingResult
        return out

    def recording_loss(*args, avg_factor, **kwargs):
        loss_cls, loss_bbox = loss_single(*args, avg_factor=avg_factor, **kwargs)
        terms.append((loss_cls, loss_bbox, avg_factor))
        return loss_cls, loss_bbox

    def per_image(num: int) -> Tensor:
        if len(factors) != num or len(terms) != num:
            raise RuntimeError(
                f'{describe(model)}: the SSD loss computed {len(terms)} image terms and '
                f'{len(factors)} targets for a batch of {num}; per-sample losses read one each.')
        cls = torch.cat([loss_cls.reshape(1) for loss_cls, _, _ in terms])
        bbox = torch.stack([loss_bbox for _, loss_bbox, _ in terms])
        batch = float(terms[0][2])
        own = cls.new_tensor([float(f) for f in factors])
        eps = torch.finfo(torch.float32).eps
        return cls * batch / own + bbox * (batch + eps) / (own + eps)

    with methods_replaced('_get_targets_single', {head: recording_targets}), \
            methods_replaced('loss_by_feat_single', {head: recording_loss}):
        yield per_image


#: mmpose heads whose ``loss`` is the head's forward plus ``loss_module`` on batch-first tensors
#: (once, or once per stage for CPMHead), nothing else entering the loss.
POSE_HEADS = ('HeatmapHead', 'CPMHead', 'SimCCHead', 'RTMCCHead', 'RegressionHead', 'RLEHead')


def computes_pose_head_loss(model: nn.Module) -> bool:
    """Whether ``model``'s loss is mmpose's ``TopdownPoseEstimator.loss`` on a head of
    :data:`POSE_HEADS` that takes its ``loss`` from it unchanged."""
    head = getattr(model, 'head', None)
    return (head is not None and getattr(head, 'loss_module', None) is not None
            and _is_framework_method(model, 'TopdownPoseEstimator', 'loss')
            and any(_is_framework_method(head, name, 'loss') for name in POSE_HEADS))


@contextmanager
def pose_loss_terms(model: nn.Module) -> Iterator[Callable[[int], Optional[Tensor]]]:
    """Record the calls of an mmpose head's ``loss_module`` around ``model.loss``.

    The head's forward runs once for the batch; its loss module is then called on each
    sample's slice of what it was given (predictions, targets, keypoint weights), which is the
    sample's loss computed alone, without running the head again: a few operations per sample.
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
            return torch.stack([
                sum(forward(*slice_batch(args, i), **slice_batch(kwargs, i)).reshape(())
                    for forward, args, kwargs in calls) for i in range(num)])

    with methods_replaced('forward', {module: recording(module.forward) for module in modules}):
        yield per_sample
