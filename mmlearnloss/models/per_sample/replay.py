"""Per-sample target losses by replay: the architecture's own loss on each sample alone.

The loss prediction module learns from the real loss of every sample, so the architecture's
batch loss has to be taken apart per sample. One mechanism does it for every architecture whose
``loss`` starts with ``self.extract_feat`` (mmpretrain classifiers, every mmdet single-stage,
two-stage and DETR-family detector, mmpose top-down estimators): the batch loss is computed
once, as in training, while the output of ``extract_feat`` is kept; then, for each sample, the
architecture's own ``loss`` runs again on that sample alone with ``extract_feat`` returning the
sample's slice of the kept features (no backbone recomputation). What belongs to which sample
thus comes from the framework's own computation, never from the layout of a loss dict.

A sample's target is therefore its loss computed alone. Where the framework averages over the
batch (classifiers, mmpose heatmap and regression heads) the targets average to its loss; where
it sums over the batch (mmpose SimCC's ``KLDiscretLoss``) they sum to it; where it normalises by
the batch's positives or boxes (detectors) each is the image's loss as if it were the only image
of its batch.

This module is that engine: :class:`ReplayAdapter`, the :class:`~.adapter.PerSampleAdapter`
that every family adapter (:mod:`.families`) extends. The replays take the features and head
outputs the batch loss kept (:mod:`.recorders`) and change no model state, nor training's random
stream (:mod:`.isolation`); where the framework's computation already holds each sample's terms,
:mod:`.one_pass` reads them from the batch loss instead.
"""
from contextlib import nullcontext
from typing import Callable, Optional, Tuple

import torch
from mmengine.logging import print_log
from torch import Tensor, nn

from mmlearnloss.registry import PER_SAMPLE
from mmlearnloss.utils import seeded_rng
from .adapter import LossDict, PerSampleAdapter, describe, register_hint
from .batches import batch_sizes, slice_batch
from .isolation import (batch_norms_frozen, buffers_restored, counters, counters_restored,
                        heads_reading_training, process_local, sample_copy,
                        training_mode_without_noise)
from .one_pass import OnePass
from .recorders import (batch_independent, extract_feat_as, head_outputs_as, kept_features,
                        kept_head_outputs)


def total_loss(losses: LossDict) -> Tensor:
    """Sum the entries whose key contains 'loss', as mmengine's ``BaseModel.parse_losses``."""
    terms = []
    for key, value in losses.items():
        if 'loss' not in key:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        terms.extend(v.mean() for v in values)
    if not terms:
        raise ValueError(f'The loss dict has no entry whose key contains "loss": {list(losses)}')
    return sum(terms)


@PER_SAMPLE.register_module()
class ReplayAdapter(PerSampleAdapter):
    """Per-sample losses by replaying the architecture's ``loss`` on each sample's features.

    Supports any architecture whose ``loss(inputs, data_samples)`` calls
    ``self.extract_feat(inputs)`` once and computes the rest from its output. Costs one pass of
    everything after ``extract_feat`` per sample, without gradients.
    """

    #: The family's one-pass paths (an entry of :data:`~.one_pass.ONE_PASS`), tried in order;
    #: none: the replay.
    one_passes: Tuple[OnePass, ...] = ()

    #: Seed of every replay's random generators: a replay is a function of its sample alone.
    seed = 0

    #: Whether validation targets are replayed in training mode: set by
    #: :meth:`validation_targets` on the first batch that needs it.
    loss_in_training_mode = False

    def prepare(self, model: nn.Module) -> None:
        """Called once when the model is wrapped: fail early if the mechanism cannot work."""
        missing = [name for name in ('extract_feat', 'loss') if not callable(
            getattr(model, name, None))]
        if missing:
            raise TypeError(
                f'{describe(model)} has no {" or ".join(missing)}: mmlearnloss computes '
                f'per-sample losses by replaying `loss(inputs, data_samples)` on each sample\'s '
                f'slice of `extract_feat(inputs)`. {register_hint(model)} (its `loss` returns '
                f'the loss dict and a [B] tensor).')

    def loss(self, model: nn.Module, inputs, data_samples,
             per_sample: bool = True) -> Tuple[LossDict, Optional[Tensor]]:
        """The architecture's loss dict (with gradients) and the per-sample losses [B] (None
        without ``per_sample``).

        Where replays follow, the batch loss works on copies of the samples
        (:func:`sample_copy`) and the replays start from the counters as the batch loss found
        them (:func:`counters`): a sample's loss is its own, whatever the batch loss changed.
        One-pass families (none changes its samples or counts) skip both.
        """
        one_pass = self.one_pass(model) if per_sample else None
        replays = per_sample and one_pass is None
        start = counters(model) if replays else None
        batch_samples = [sample_copy(sample) for sample in data_samples] if replays \
            else data_samples
        # The replays take their slice of the batch's head outputs where a head computes each
        # sample's alone (in training mode, BatchNorm would normalise by the batch).
        reusable = [head for head in model.children()
                    if not model.training or batch_independent(head)] if replays else []
        with kept_features(model) as calls, \
                kept_head_outputs(model, calls, reusable) as outputs, \
                (one_pass(model) if one_pass else nullcontext()) as per_image:
            try:
                losses = model.loss(inputs, batch_samples)
            except Exception as exc:
                if model.training:
                    raise
                raise RuntimeError(
                    f'{describe(model)}.loss fails in eval mode ({type(exc).__name__}: {exc}). '
                    f'Some losses run only in training mode (mmdet Deformable DETR, DINO, '
                    f'VFNet, RepPoints, YOLACT): call it in training mode. Validation target '
                    f'losses (LearningLoss.predict) are computed in training mode without noise '
                    f'by themselves where the loss needs it.') from exc
        if len(calls) != 1:
            raise RuntimeError(
                f'{describe(model)}.loss called extract_feat {len(calls)} times; per-sample '
                f'losses replay `loss` on one call\'s features. {register_hint(model)}.')
        if not per_sample:
            return losses, None
        targets = per_image(len(data_samples)) if one_pass else None
        if targets is not None:
            return losses, targets.detach()
        with torch.no_grad(), counters_restored(model, start):
            targets = self.replay(model, inputs, data_samples, calls[0], outputs)
        return losses, targets

    def one_pass_for(self, model: nn.Module) -> Optional[OnePass]:
        """The first of :attr:`one_passes` whose check ``model`` passes, or None."""
        return next((found for found in self.one_passes if found.check(model)), None)

    def one_pass(self, model: nn.Module) -> Optional[Callable]:
        """For families whose batch loss already holds each sample's terms: a context manager
        factory that, around ``model.loss``, records them and yields a function of the batch
        size returning the per-sample losses [B], equal to the replay's (or None where what it
        recorded cannot be read per sample: the replay then runs). None: replay."""
        found = self.one_pass_for(model)
        return found.recorder if found else None

    def path(self, model: nn.Module) -> str:
        """Which computation gives ``model``'s per-sample losses, for the build log."""
        found = self.one_pass_for(model)
        if found:
            return found.path
        return 'replay: the loss after extract_feat, once per sample'

    def replay(self, model: nn.Module, inputs, data_samples, feats,
               head_outputs: Optional[dict] = None) -> Tensor:
        """Each sample's total loss computed alone from its slice of ``feats``: by the
        family's one pass where it has one (:meth:`one_pass_for`), else by :meth:`replay_each`.

        ``head_outputs`` (from :func:`kept_head_outputs`): heads' outputs on ``feats``, which
        the replays slice instead of running those heads again; in training mode only those of
        :func:`batch_independent` heads.
        """
        found = self.one_pass_for(model)
        if found and found.on_kept_features:
            # seeded as a replay: a head's dropout (MobileNetV3) leaves training's stream alone
            with head_outputs_as(head_outputs or {}, feats), seeded_rng(self.seed, inputs.device):
                targets = found.on_kept_features(model, feats, data_samples)
            if targets is not None:
                return targets
        num = len(data_samples)
        wrong = sorted(set(batch_sizes(feats)) - {num})
        if wrong:
            raise RuntimeError(f'{type(model).__name__}.extract_feat returned maps whose first '
                               f'dimension is {wrong}, not the batch size {num}; per-sample '
                               f'losses need batch-first features.')
        one_pass = self.one_pass(model)
        if one_pass:
            # The batch loss once, on the kept features and head outputs, its terms read per
            # sample, under the replay's conditions.
            with extract_feat_as(model, lambda *args, **kwargs: feats), \
                    head_outputs_as(head_outputs or {}, feats), \
                    seeded_rng(self.seed, _device_of(inputs, feats)), \
                    batch_norms_frozen(model), buffers_restored(model), \
                    counters_restored(model), process_local(), one_pass(model) as per_image:
                model.loss(inputs, [sample_copy(sample) for sample in data_samples])
                targets = per_image(num)
            if targets is not None:
                return targets
        return self.replay_each(model, inputs, data_samples, feats, head_outputs)

    def replay_each(self, model: nn.Module, inputs, data_samples, feats,
                    head_outputs: Optional[dict] = None) -> Tensor:
        """:meth:`replay` by running ``loss`` once per sample: the reference of every path."""
        num = len(data_samples)
        # Only batch-first outputs can be sliced per sample.
        head_outputs = {module: output for module, output in (head_outputs or {}).items()
                        if batch_sizes(output) and set(batch_sizes(output)) == {num}}
        per_sample = []
        start = counters(model)  # once: each sample starts from them
        device = _device_of(inputs, feats)
        # Once per batch: BatchNorm frozen, a world of one. Per sample: the random streams,
        # buffers and counters each replay starts from.
        with batch_norms_frozen(model), process_local():
            for i in range(num):
                sample_feats = slice_batch(feats, i)
                try:
                    with extract_feat_as(model, lambda *args, **kwargs: sample_feats), \
                            head_outputs_as(head_outputs, sample_feats, i), \
                            seeded_rng(self.seed, device), buffers_restored(model), \
                            counters_restored(model, start):
                        per_sample.append(total_loss(
                            model.loss(inputs[i:i + 1], [sample_copy(data_samples[i])])))
                except Exception as exc:
                    raise RuntimeError(
                        f'Cannot compute the per-sample loss of {describe(model)}: its loss '
                        f'failed on sample {i} alone in '
                        f'{"training" if model.training else "eval"} mode '
                        f'({type(exc).__name__}: {exc}). {register_hint(model)}.') from exc
        return torch.stack(per_sample)

    def validation_targets(self, model: nn.Module, inputs, data_samples, feats,
                           head_outputs: Optional[dict] = None) -> Tensor:
        """:meth:`replay` for a predict (validation) pass, on its kept ``feats`` and
        ``head_outputs``: in eval mode, or in training mode without noise where the loss needs
        it (:func:`training_mode_without_noise`: no gradients, BatchNorm on running
        statistics, dropout off, buffers and counters restored, the heads run again).

        The loss needs training mode where it fails in eval mode (mmdet Deformable DETR and
        DINO build their loss inputs in training mode only) or where a head's forward reads
        ``self.training`` (:func:`heads_reading_training`: their eval outputs are not what
        their loss takes). Found on the first batch and kept.
        """
        if model.training:
            return self.replay(model, inputs, data_samples, feats, head_outputs)
        reading = [] if self.loss_in_training_mode else heads_reading_training(model)
        eval_error = None
        if not self.loss_in_training_mode and not reading:
            try:
                return self.replay(model, inputs, data_samples, feats, head_outputs)
            except Exception as exc:  # retried in training mode below
                eval_error = exc
        try:
            with training_mode_without_noise(model):
                targets = self.replay(model, inputs, data_samples, feats)
        except Exception as exc:
            if eval_error is None:
                raise
            raise RuntimeError(
                f'Cannot compute the validation target losses of {describe(model)}: its loss '
                f'fails in eval mode ({eval_error.__cause__ or eval_error}) and in training '
                f'mode without noise ({exc.__cause__ or exc}). {register_hint(model)}, or '
                f'validate without target losses: LearningLoss(val_target_loss=False).') from exc
        if not self.loss_in_training_mode:
            self.loss_in_training_mode = True
            cause = eval_error.__cause__ or eval_error if eval_error is not None else None
            why = (f'its loss fails in eval mode ({type(cause).__name__}: {cause})'
                   if cause is not None else
                   f'the forward of {", ".join(reading)} reads self.training')
            print_log(f'LearningLoss: validation target losses of {describe(model)} are '
                      f'computed in training mode without noise (no gradients, BatchNorm on '
                      f'running statistics, dropout off, nothing updated): {why}.',
                      logger='current')
        return targets


def _device_of(inputs, feats) -> torch.device:
    tensor = inputs if isinstance(inputs, Tensor) else feats
    while not isinstance(tensor, Tensor):
        tensor = next(iter(tensor.values() if isinstance(tensor, dict) else tensor))
    return tensor.device
