"""The interface between the ``LearningLoss`` wrapper and an architecture family: each sample's
loss, the entropy strategy's uncertainty, and what differs per family around them.

:class:`~.replay.ReplayAdapter` computes the losses for every architecture whose ``loss`` starts
with ``self.extract_feat``; the family adapters (:mod:`.families`) subclass it. An adapter is
picked by the architecture's class or its nearest registered base class (``architectures``) in
:data:`mmlearnloss.registry.PER_SAMPLE`, or named by a config:
``LearningLoss(per_sample='ReplayAdapter')``.
"""
from typing import Dict, List, Optional, Sequence, Tuple

from torch import Tensor, nn

LossDict = Dict[str, object]


def register_hint(model: nn.Module) -> str:
    """How to give ``model`` its own per-sample computation, for error messages."""
    name = type(model).__name__
    return (f'Register an adapter for {name}: a ReplayAdapter subclass with '
            f'architectures=(\'{name}\', ) in mmlearnloss.registry.PER_SAMPLE, or name one with '
            f'LearningLoss(per_sample=...)')


def describe(model: nn.Module) -> str:
    """``'FasterRCNN (rpn_head: RPNHead, roi_head: StandardRoIHead)'``, for error messages."""
    heads = [f'{name}: {type(m).__name__}' for name, m in model.named_children()
             if name.endswith('head')]
    return f'{type(model).__name__} ({", ".join(heads) or "no head"})'


class PerSampleAdapter:
    """What the ``LearningLoss`` wrapper asks of an architecture family.

    The wrapper calls :meth:`prepare` and :meth:`path` once when it is built, :meth:`loss` at
    each training step, :meth:`has_targets`, :meth:`in_input_frame` and
    :meth:`validation_targets` in validation (:meth:`gt_frame` once, on the evaluation
    pipeline), :meth:`num_instances` for ``LearningLoss(target='instances')``, and
    :meth:`uncertainty` for the entropy strategy.
    """

    #: Names of the architecture classes this adapter is picked for (their subclasses too).
    architectures: Tuple[str, ...] = ()

    def prepare(self, model: nn.Module) -> None:
        """Called once when the model is wrapped: fail early if the computation cannot work."""

    def path(self, model: nn.Module) -> str:
        """Which computation gives ``model``'s per-sample losses, for the build log."""
        raise NotImplementedError(f'{type(self).__name__} names no per-sample computation.')

    def loss(self, model: nn.Module, inputs, data_samples,
             per_sample: bool = True) -> Tuple[LossDict, Optional[Tensor]]:
        """The architecture's loss dict (with gradients) and the per-sample losses [B] (None
        without ``per_sample``)."""
        raise NotImplementedError(f'{type(self).__name__} computes no per-sample losses.')

    def validation_targets(self, model: nn.Module, inputs, data_samples, feats,
                           head_outputs: Optional[dict] = None) -> Tensor:
        """The per-sample losses [B] of a predict (validation) pass, from its kept ``feats``
        and ``head_outputs``, without gradients and changing nothing."""
        raise NotImplementedError(
            f'{type(self).__name__} computes no validation target losses.')

    def has_targets(self, data_samples) -> bool:
        """Whether the samples carry the ground truth the loss needs (not so at inference)."""
        return data_samples is not None and len(data_samples) > 0

    def num_instances(self, data_samples) -> List[int]:
        """Each sample's annotated instances (boxes, people), at least 1: the length of its
        ``gt_instances`` (mmdet, mmpose), else 1 (a classification label)."""
        counts = []
        for sample in data_samples:
            instances = sample.get('gt_instances') if hasattr(sample, 'get') else None
            counts.append(max(len(instances), 1) if instances is not None else 1)
        return counts

    def gt_frame(self, transforms: Sequence) -> str:
        """In which frame an evaluation pipeline of ``transforms`` delivers the ground truth:
        ``'input'`` (the network's, as in training) or ``'original'`` (the image file's, to be
        mapped by :meth:`in_input_frame` before a loss is computed on it)."""
        return 'input'

    def in_input_frame(self, data_samples: list) -> list:
        """``data_samples`` with their ground truth mapped from the original to the input
        frame, as copies: the evaluator still reads the originals."""
        return data_samples

    def frame_matters(self, data_samples: list) -> bool:
        """Whether the ground truth of ``data_samples`` differs between the original and the
        input frame, so that a loss on it needs to know which one it is in."""
        return False

    def uncertainty(self, model: nn.Module, inputs, data_samples) -> Tensor:
        """Each sample's uncertainty [B] for the entropy strategy."""
        raise NotImplementedError(
            f'No entropy is defined for {describe(model)}: use the random, coreset or '
            f'learning_loss strategy. {register_hint(model)} with an `uncertainty` method.')
