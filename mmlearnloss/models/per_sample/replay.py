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
was.

This module is that engine. :mod:`.one_pass` reads the per-sample losses from the batch loss
where the framework's computation already holds them; :mod:`.families` adds what truly differs
per family (build-time fixes, whether samples carry ground truth, the one-pass path, the entropy
strategy's uncertainty from :mod:`.entropy`), picked by the architecture's class or its nearest
registered base class (``architectures``) in :data:`mmlearnloss.registry.PER_SAMPLE`, or named
by a config: ``LearningLoss(per_sample='ReplayAdapter')``.
"""
import random
from contextlib import contextmanager, nullcontext
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.distributed as dist
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
def kept_head_outputs(model: nn.Module, feats: list) -> Iterator[dict]:
    """Keep, in the yielded dict, the output of each direct submodule of ``model`` (a head)
    called on the first kept features ``feats[0]`` (see :func:`kept_features`), by module.

    Wraps ``forward`` rather than hooking ``__call__``: heads call ``self.forward`` directly too
    (mmpose's flip test). Outputs are copied: a predict step may post-process them in place.
    """
    outputs = {}

    def keeping(module, forward):
        def keep(*args, **kwargs):
            output = forward(*args, **kwargs)
            if module not in outputs and feats and args and args[0] is feats[0]:
                outputs[module] = map_tensors(Tensor.clone, output)
            return output
        return keep

    with methods_replaced('forward', {module: keeping(module, module.forward)
                                      for module in model.children()}):
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
        without ``per_sample``)."""
        one_pass = self.one_pass(model) if per_sample else None
        with kept_features(model) as calls, \
                (one_pass(model) if one_pass else nullcontext()) as per_image:
            try:
                losses = model.loss(inputs, data_samples)
            except Exception as exc:
                if model.training:
                    raise
                raise RuntimeError(
                    f'{describe(model)}.loss fails in eval mode ({type(exc).__name__}: {exc}). '
                    f'Some architectures (mmdet Deformable DETR, DINO) build their '
                    f'loss inputs only in training mode: validate them without target losses, '
                    f'LearningLoss(val_target_loss=False).') from exc
        if len(calls) != 1:
            raise RuntimeError(
                f'{describe(model)}.loss called extract_feat {len(calls)} times; per-sample '
                f'losses replay `loss` on one call\'s features. {register_hint(model)}.')
        if not per_sample:
            return losses, None
        targets = per_image(len(data_samples)) if one_pass else None
        if targets is not None:
            return losses, targets.detach()
        with torch.no_grad():
            targets = self.replay(model, inputs, data_samples, calls[0])
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

        ``head_outputs`` (from :func:`kept_head_outputs`, eval mode only): heads' outputs on
        ``feats``, which the replays slice instead of running those heads again.
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
                    batch_norms_frozen(model), buffers_restored(model), process_local(), \
                    one_pass(model) as per_image:
                model.loss(inputs, data_samples)
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
        for i in range(num):
            sample_feats = slice_batch(feats, i)
            try:
                with extract_feat_as(model, lambda *args, **kwargs: sample_feats), \
                        head_outputs_as(head_outputs, sample_feats, i), \
                        replay_rng(self.seed, _device_of(inputs, feats)), \
                        batch_norms_frozen(model), buffers_restored(model), process_local():
                    per_sample.append(total_loss(model.loss(inputs[i:i + 1], [data_samples[i]])))
            except Exception as exc:
                hint = '' if model.training else (
                    ' If it needs training mode (mmdet Deformable DETR, DINO), validate without '
                    'target losses: LearningLoss(val_target_loss=False).')
                raise RuntimeError(
                    f'Cannot compute the per-sample loss of {describe(model)}: its loss failed '
                    f'on sample {i} alone ({type(exc).__name__}: {exc}). '
                    f'{register_hint(model)}.{hint}') from exc
        return torch.stack(per_sample)

    def uncertainty(self, model: nn.Module, inputs, data_samples) -> Tensor:
        raise NotImplementedError(
            f'No entropy is defined for {describe(model)}: use the random, coreset or '
            f'learning_loss strategy. {register_hint(model)} with an `uncertainty` method.')


def _device_of(inputs, feats) -> torch.device:
    tensor = inputs if isinstance(inputs, Tensor) else feats
    while not isinstance(tensor, Tensor):
        tensor = next(iter(tensor.values() if isinstance(tensor, dict) else tensor))
    return tensor.device
