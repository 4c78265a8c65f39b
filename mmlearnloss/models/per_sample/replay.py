"""Per-sample target losses and uncertainties.

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

Replays run without gradients, with BatchNorm layers on their running statistics (a batch of
one has no usable batch statistics), on copies of the buffers and with every random generator
seeded (RoI samplers, DINO's denoising noise, dropout) and restored after: a replay is a
function of its sample alone, changes no model state and leaves training's random stream as it
was. Whatever the loss does to its inputs, the batch loss and each replay work on copies of the
data samples (:func:`sample_copy`), and each replay starts from the counters modules keep in
plain attributes as the training step found them (:func:`counters`, DDOD's positives per
level). A loss that runs only in training mode, or whose heads' forward reads the mode, gets its
validation targets replayed in training mode without noise
(:meth:`ReplayAdapter.validation_targets`).

This module is that engine. :mod:`.one_pass` reads the per-sample losses from the batch loss
where the framework's computation already holds them; :mod:`.families` adds what truly differs
per family (build-time fixes, whether samples carry ground truth, the one-pass path, the entropy
strategy's uncertainty from :mod:`.entropy`), picked by the architecture's class or its nearest
registered base class (``architectures``) in :data:`mmlearnloss.registry.PER_SAMPLE`, or named
by a config: ``LearningLoss(per_sample='ReplayAdapter')``.
"""
import inspect
import random
from contextlib import contextmanager, nullcontext
from functools import lru_cache
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.distributed as dist
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement
from torch import Tensor, nn

from mmlearnloss.registry import PER_SAMPLE

LossDict = Dict[str, object]


def map_tensors(fn, tree):
    """``tree`` with ``fn`` applied to every tensor nested in its tuples, lists and dicts."""
    if isinstance(tree, Tensor):
        return fn(tree)
    if isinstance(tree, (tuple, list)):
        return type(tree)(map_tensors(fn, item) for item in tree)
    if isinstance(tree, dict):
        return {key: map_tensors(fn, value) for key, value in tree.items()}
    return tree


def slice_batch(feats, i: int):
    """Sample ``i`` of batch-first tensors (nested in tuples, lists, dicts), batch dim kept."""
    return map_tensors(lambda tensor: tensor[i:i + 1], feats)


def batch_sizes(feats) -> List[int]:
    """The first dimension of every tensor nested in ``feats``."""
    if isinstance(feats, Tensor):
        return [feats.shape[0]] if feats.dim() else [0]
    if isinstance(feats, (tuple, list)):
        return [n for f in feats for n in batch_sizes(f)]
    if isinstance(feats, dict):
        return [n for f in feats.values() for n in batch_sizes(f)]
    return []


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


@contextmanager
def replay_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Run the block with every RNG seeded to ``seed`` and restore the global streams after.

    Random samplers (RPN/RoI ``RandomSampler``, DINO's denoising noise, dropout) then make a
    replayed loss a function of its sample alone, and training's own random stream is untouched.
    """
    devices = []
    if device.type == 'cuda':
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    np_state, py_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=devices):
        torch.default_generator.manual_seed(seed)
        for index in devices:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


@contextmanager
def process_local() -> Iterator[None]:
    """Run the block as if this process were the whole world: ``torch.distributed`` reports
    no process group (world size 1, rank 0).

    A per-sample loss is the sample's alone: losses that average their normalisers over the
    ranks (mmdet's ``reduce_mean`` in FCOS, ATSS, GFL, YOLOX, the DETR family, ...) would mix in
    other ranks' samples, add a collective per sample, and wait forever where one rank
    replays alone (pre-annotations, a rank's last batch).
    """
    if not (dist.is_available() and dist.is_initialized()):
        yield
        return
    saved = dist.is_initialized, dist.get_world_size, dist.get_rank
    dist.is_initialized = lambda: False
    dist.get_world_size = lambda group=None: 1
    dist.get_rank = lambda group=None: 0
    try:
        yield
    finally:
        dist.is_initialized, dist.get_world_size, dist.get_rank = saved


@contextmanager
def methods_replaced(name: str, methods: dict) -> Iterator[None]:
    """Give each module in ``methods`` the method ``name`` (``'forward'``, ``'extract_feat'``)
    from it for the block, as an instance attribute: ``nn.Module.__call__`` and direct
    ``self.<name>`` calls both use it."""
    previous = {module: module.__dict__.get(name) for module in methods}
    for module, method in methods.items():
        setattr(module, name, method)
    try:
        yield
    finally:
        for module, method in previous.items():
            delattr(module, name)
            if method is not None:
                setattr(module, name, method)


def extract_feat_as(model: nn.Module, fn):
    """Replace ``model.extract_feat`` by ``fn`` for the duration of the block."""
    return methods_replaced('extract_feat', {model: fn})


@contextmanager
def buffers_restored(model: nn.Module) -> Iterator[None]:
    """Keep the block's changes to buffers (counters, statistics) out of the model.

    The block runs on copies of the buffers, so the originals, which the batch loss's autograd
    graph may hold (BatchNorm's running statistics), are not even touched in place: restoring
    them in place afterwards would break that graph's backward. BatchNorm layers in eval mode
    (the replays freeze them, :func:`batch_norms_frozen`, before this block) never write their
    buffers and keep their own: a copy each would be hundreds of operations a batch for
    nothing (a ResNet or hourglass).
    """
    originals = [(module, name, buf) for module in model.modules()
                 if module.training or not isinstance(module, nn.modules.batchnorm._BatchNorm)
                 for name, buf in module._buffers.items() if buf is not None]
    for module, name, buf in originals:
        module._buffers[name] = buf.clone()
    try:
        yield
    finally:
        for module, name, buf in originals:
            module._buffers[name] = buf


_NUMBERS = (int, float)  # not bool: flags are settings, not counts


def counters(model: nn.Module) -> Dict[Tuple[nn.Module, str], object]:
    """The numbers and lists of numbers that the modules of ``model`` keep in plain attributes
    (lists copied): state a loss may update outside the buffers. mmdet's ``DDODHead`` adds each
    level's positives to ``cls_num_pos_samples_per_level`` at every loss call and weighs the
    levels by them. PyTorch's own layers are skipped: they keep configuration only."""
    found = {}
    for module in model.modules():
        if type(module).__module__.startswith('torch.'):
            continue
        for name, value in vars(module).items():
            kind = type(value)
            if kind in _NUMBERS:
                found[(module, name)] = value
            elif kind is list and value and all(type(v) in _NUMBERS for v in value):
                found[(module, name)] = list(value)
    return found


@contextmanager
def counters_restored(model: nn.Module, start: Optional[dict] = None) -> Iterator[None]:
    """Keep the block's changes to :func:`counters` out of the model. The block starts from
    copies of ``start`` (an earlier :func:`counters`) when given, from the model's own else."""
    start = counters(model) if start is None else start
    own = {(module, name): vars(module)[name] for module, name in start
           if name in vars(module)}
    for (module, name), value in start.items():
        vars(module)[name] = list(value) if type(value) is list else value
    try:
        yield
    finally:
        for (module, name), value in own.items():
            vars(module)[name] = value


def sample_copy(sample):
    """``sample`` (a data sample) with itself and every data element nested in it
    (``gt_instances``, ``gt_instance_labels``, ...) new containers; tensors, arrays and masks
    are shared.

    A loss that sets a field of its samples (RTMDet-Ins's head replaces ``gt_instances.masks``
    by a tensor) sets the copy's: the batch loss and each replay work on copies, so none sees
    what another changed, and the caller's samples (the evaluator's, in validation) stay as
    they were. No zoo loss changes a shared tensor in place (the zoo tests compare samples).
    """
    if not isinstance(sample, BaseDataElement):
        return sample
    copied = sample.clone()
    for name, value in sample.items():
        if isinstance(value, BaseDataElement):
            setattr(copied, name, sample_copy(value))
    return copied


@contextmanager
def kept_features(model: nn.Module) -> Iterator[list]:
    """Keep, in the yielded list, the output of every ``model.extract_feat`` call of the block."""
    calls = []
    extract_feat = model.extract_feat

    def recording(*args, **kwargs):
        calls.append(extract_feat(*args, **kwargs))
        return calls[-1]

    with extract_feat_as(model, recording):
        yield calls


@contextmanager
def kept_head_outputs(model: nn.Module, feats: list,
                      heads: Optional[Sequence[nn.Module]] = None) -> Iterator[dict]:
    """Keep, in the yielded dict, the output of each direct submodule of ``model`` (a head;
    only those of ``heads`` if given) called on the first kept features ``feats[0]`` (see
    :func:`kept_features`), by module.

    Only calls on the features alone count (``head(feats)``): a head given more (CondInst's
    mask head, its positives) computes something a replay would compute otherwise.
    Wraps ``forward`` rather than hooking ``__call__``: heads call ``self.forward`` directly too
    (mmpose's flip test). Outputs are detached copies: a step may post-process them in place.
    """
    outputs = {}

    def keeping(module, forward):
        def keep(*args, **kwargs):
            output = forward(*args, **kwargs)
            if module not in outputs and feats and len(args) == 1 and not kwargs \
                    and args[0] is feats[0]:
                outputs[module] = map_tensors(lambda t: t.detach().clone(), output)
            return output
        return keep

    with methods_replaced('forward', {module: keeping(module, module.forward)
                                      for module in (model.children() if heads is None
                                                     else heads)}):
        yield outputs


@contextmanager
def head_outputs_as(outputs: dict, feats, i: Optional[int] = None) -> Iterator[None]:
    """Heads called on ``feats`` return their kept ``outputs`` (sample ``i`` of them, or all if
    ``i`` is None) instead of running again; called on anything else, they run."""

    def reusing(forward, output):
        def reuse(*args, **kwargs):
            if args and args[0] is feats:
                return output
            return forward(*args, **kwargs)
        return reuse

    with methods_replaced('forward', {
            module: reusing(module.forward, output if i is None else slice_batch(output, i))
            for module, output in outputs.items()}):
        yield


def batch_independent(module: nn.Module) -> bool:
    """Whether ``module``'s training-mode output for a sample depends on that sample alone
    and draws nothing at random: no BatchNorm normalising by the batch, no dropout."""
    return not any(
        sub.training and (isinstance(sub, (nn.modules.batchnorm._BatchNorm,
                                           nn.modules.dropout._DropoutNd))
                          or 'Drop' in type(sub).__name__)  # mmcv's DropPath, DropBlock
        for sub in module.modules())


@contextmanager
def batch_norms_frozen(model: nn.Module) -> Iterator[None]:
    """BatchNorm layers in eval mode (running statistics) for the block.

    A batch of one sample has no usable batch statistics (a 1x1 map of one sample has none at
    all: SSDLite's last level raises), so a replayed sample is normalised as at inference.
    """
    training = [m for m in model.modules()
                if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    for module in training:
        module.eval()
    try:
        yield
    finally:
        for module in training:
            module.train()


def heads_reading_training(model: nn.Module) -> List[str]:
    """The heads of ``model`` (direct submodules with a ``loss``) whose forward code reads
    ``self.training``. Their eval-mode outputs may not be what their loss takes: mmdet's
    FCOS-style heads with ``norm_on_bbox`` (CondInst's) scale their boxes by the stride in eval
    mode only, SOLO's head upsamples and squashes its masks there, VFNet's, RepPoints' and
    YOLACT's return other tensors."""
    return [name for name, head in model.named_children()
            if callable(getattr(head, 'loss', None)) and _forward_reads_training(type(head))]


@lru_cache(maxsize=None)
def _forward_reads_training(klass: type) -> bool:
    for name in dir(klass):
        method = getattr(klass, name, None)
        if not name.startswith('forward') or not inspect.isfunction(method):
            continue
        try:
            if 'self.training' in inspect.getsource(method):
                return True
        except (OSError, TypeError):  # no source (built in, compiled)
            continue
    return False


def _is_noise(module: nn.Module) -> bool:
    """Whether ``module`` draws random numbers in training mode: dropout of every kind,
    ``nn.MultiheadAttention`` (its attention dropout follows its own ``training``), drop-path
    and DropBlock."""
    return isinstance(module, (nn.modules.dropout._DropoutNd, nn.MultiheadAttention)) or any(
        word in type(module).__name__ for word in ('Dropout', 'DropPath', 'DropBlock'))


@contextmanager
def training_mode_without_noise(model: nn.Module) -> Iterator[None]:
    """Training mode for the block, as far as a loss reads it, without what makes training
    noisy: BatchNorm on its running statistics, dropout and drop-path off. Every module's mode
    is as before after it.

    For losses that run only in training mode (mmdet Deformable DETR and DINO build their loss
    inputs there; VFNet's, RepPoints' and YOLACT's heads return what their loss takes there
    only): their validation targets are computed so, on the features of an eval-mode pass,
    which these layers make the same.
    """
    modes = [(module, module.training) for module in model.modules()]
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) or _is_noise(module):
            module.training = False
    try:
        yield
    finally:
        for module, mode in modes:
            module.training = mode


@PER_SAMPLE.register_module()
class ReplayAdapter:
    """Per-sample losses by replaying the architecture's ``loss`` on each sample's features.

    Supports any architecture whose ``loss(inputs, data_samples)`` calls
    ``self.extract_feat(inputs)`` once and computes the rest from its output. Costs one pass of
    everything after ``extract_feat`` per sample, without gradients.
    """

    #: Names of the architecture classes this adapter is picked for (their subclasses too).
    architectures: Tuple[str, ...] = ()

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

    def has_targets(self, data_samples) -> bool:
        """Whether the samples carry the ground truth the loss needs (not so at inference)."""
        return data_samples is not None and len(data_samples) > 0

    def gt_frame(self, transforms: Sequence) -> str:
        """In which frame an evaluation pipeline of ``transforms`` delivers the ground truth:
        ``'input'`` (the network's, as in training) or ``'original'`` (the image file's, to be
        mapped by :meth:`in_input_frame` before a loss is computed on it)."""
        return 'input'

    def in_input_frame(self, data_samples: list) -> list:
        """``data_samples`` with their ground truth mapped from the original to the input
        frame, as copies: the evaluator still reads the originals."""
        return data_samples

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

    def one_pass(self, model: nn.Module) -> Optional[Callable]:
        """For families whose batch loss already holds each sample's terms: a context manager
        factory that, around ``model.loss``, records them and yields a function of the batch
        size returning the per-sample losses [B], equal to the replay's (or None where what it
        recorded cannot be read per sample: the replay then runs). None: replay."""
        return None

    def path(self, model: nn.Module) -> str:
        """Which computation gives ``model``'s per-sample losses, for the build log."""
        if self.one_pass(model):
            return 'one pass: read from the batch loss'
        return 'replay: the loss after extract_feat, once per sample'

    def replay(self, model: nn.Module, inputs, data_samples, feats,
               head_outputs: Optional[dict] = None) -> Tensor:
        """Each sample's total loss computed alone from its slice of ``feats``: by the
        family's :meth:`one_pass` where it has one, else by :meth:`replay_each`.

        ``head_outputs`` (from :func:`kept_head_outputs`): heads' outputs on ``feats``, which
        the replays slice instead of running those heads again; in training mode only those of
        :func:`batch_independent` heads.
        """
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
                    replay_rng(self.seed, _device_of(inputs, feats)), \
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
                            replay_rng(self.seed, device), buffers_restored(model), \
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

    def uncertainty(self, model: nn.Module, inputs, data_samples) -> Tensor:
        raise NotImplementedError(
            f'No entropy is defined for {describe(model)}: use the random, coreset or '
            f'learning_loss strategy. {register_hint(model)} with an `uncertainty` method.')


def _device_of(inputs, feats) -> torch.device:
    tensor = inputs if isinstance(inputs, Tensor) else feats
    while not isinstance(tensor, Tensor):
        tensor = next(iter(tensor.values() if isinstance(tensor, dict) else tensor))
    return tensor.device
