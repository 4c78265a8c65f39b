"""What a replay must not change, and the conditions it runs under.

Replays run without gradients, with BatchNorm layers on their running statistics (a batch of one has
no usable batch statistics: :func:`batch_norms_frozen`), on copies of the buffers
(:func:`buffers_restored`) and with every random generator seeded (RoI samplers, DINO's denoising
noise, dropout) and restored after (:func:`mmlearnloss.utils.seeded_rng`), as if their process were
the whole world (:func:`process_local`): a replay is a function of its sample alone, changes no
model state and leaves training's random stream as it was. Whatever the loss does to its inputs, the
batch loss and each replay work on copies of the data samples (:func:`sample_copy`), and each replay
starts from the counters modules keep in plain attributes as the training step found them
(:func:`counters`, DDOD's positives per level). A loss that runs only in training mode, or whose
heads' forward reads the mode, gets its validation targets replayed in training mode without noise
(:func:`training_mode_without_noise`, :func:`heads_reading_training`).
"""
import inspect
from contextlib import contextmanager
from functools import lru_cache
from typing import Dict, Iterator, List, Optional, Tuple

import torch.distributed as dist
from mmengine.structures import BaseDataElement
from torch import nn


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
