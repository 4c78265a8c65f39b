"""Recorders: context managers that replace a module's method for a block, to record what it
computes (:func:`kept_features`, :func:`kept_head_outputs`) or to give back what was recorded
instead of computing it again (:func:`extract_feat_as`, :func:`head_outputs_as`).

The batch loss runs once with the features and the heads' outputs kept; the replays and the
one-pass paths then take them from there instead of running the backbone and the heads again.
"""
from contextlib import contextmanager
from typing import Iterator, Optional, Sequence

from torch import nn

from .batches import map_tensors, slice_batch


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
