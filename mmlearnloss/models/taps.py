"""Feature taps: forward hooks on named submodules, active only inside a recording context."""
import difflib
import re
from contextlib import contextmanager
from typing import Iterator, List, Optional, Sequence, Tuple

from torch import Tensor, nn

_SPEC = re.compile(r'^(?P<name>[A-Za-z0-9_.]+)(\[(?P<index>-?\d+)\])?$')


class TapOutputError(TypeError):
    """A tapped module gave something the loss prediction head cannot pool."""


class TapsComplete(Exception):
    """Raised from a hook to end a forward pass once every tap has recorded."""


def parse_tap(spec: str) -> Tuple[str, Optional[int]]:
    """Split ``'neck[0]'`` into ``('neck', 0)`` and ``'backbone.layer1'`` into (name, None)."""
    match = _SPEC.match(spec.strip()) if isinstance(spec, str) else None
    if match is None:
        raise ValueError(f"Tap {spec!r} is not a module name with an optional index, "
                         f"e.g. 'backbone.layer4' or 'neck[0]'")
    index = match.group('index')
    return match.group('name'), None if index is None else int(index)


def default_taps(model: nn.Module) -> List[str]:
    """``['neck']`` when the model has a neck (its outputs are what its head sees), else
    ``['backbone']``."""
    if isinstance(getattr(model, 'neck', None), nn.Module):
        return ['neck']
    if isinstance(getattr(model, 'backbone', None), nn.Module):
        return ['backbone']
    raise ValueError(f'{type(model).__name__} has neither a neck nor a backbone submodule, so '
                     f'there is no default tap: set taps, e.g. taps=["layer4"]')


class FeatureTaps:
    """Records the outputs of named submodules of ``model`` during a forward pass.

    Each tap is a dotted module name as in ``model.named_modules()``. A module whose output is a
    tuple or list contributes the element at ``[index]``, or all its elements when no index is
    given. Unknown names fail here, at build time, with the closest existing names.

    Hooks exist only inside :meth:`record`, so passes outside it record (and keep) nothing.

    Args:
        model (nn.Module): The network to tap.
        taps (Sequence[str]): Tap specs, e.g. ``['backbone.layer1', 'neck[0]']``.
    """

    def __init__(self, model: nn.Module, taps: Sequence[str]):
        if isinstance(taps, str):
            taps = [taps]
        if not taps:
            raise ValueError('taps must name at least one submodule, e.g. taps=["backbone"]')
        modules = dict(model.named_modules())
        self.specs: List[Tuple[str, Optional[int]]] = []
        for spec in taps:
            name, index = parse_tap(spec)
            if name not in modules:
                close = difflib.get_close_matches(name, [n for n in modules if n], n=5,
                                                  cutoff=0.5)
                hint = f' Closest names: {close}.' if close else ''
                raise ValueError(f'Tap {spec!r}: {type(model).__name__} has no submodule '
                                 f'named {name!r}.{hint}')
            self.specs.append((name, index))
        self._modules = modules
        self._outputs: dict = {}

    @property
    def names(self) -> List[str]:
        return [name if index is None else f'{name}[{index}]' for name, index in self.specs]

    @contextmanager
    def record(self, stop_when_complete: bool = False) -> Iterator['FeatureTaps']:
        """Register the hooks for the duration of the block.

        Args:
            stop_when_complete (bool): Raise :class:`TapsComplete` as soon as every tapped
                module has run, so a pass goes no deeper than the deepest tap. The caller
                catches it (see :meth:`run_until_complete`).
        """
        self._outputs = {}
        wanted = {name for name, _ in self.specs}
        handles = []

        def make_hook(name):

            def hook(module, args, output):
                # A module called twice in one pass (shared weights) keeps its first output.
                self._outputs.setdefault(name, output)
                if stop_when_complete and wanted.issubset(self._outputs):
                    raise TapsComplete

            return hook

        try:
            for name in wanted:
                handles.append(self._modules[name].register_forward_hook(make_hook(name)))
            yield self
        finally:
            for handle in handles:
                handle.remove()
            # Drop the references so recorded maps do not outlive the pass.
            self._outputs = {}

    def run_until_complete(self, fn, *args, **kwargs) -> List[Tensor]:
        """Call ``fn`` with the taps recording, stop it as soon as every tap has an output and
        return the recorded maps (see :meth:`outputs`)."""
        with self.record(stop_when_complete=True):
            try:
                fn(*args, **kwargs)
            except TapsComplete:
                pass
            return self.outputs()

    def outputs(self) -> List[Tensor]:
        """The maps recorded so far in the current :meth:`record` block, in tap order, tuple
        outputs expanded."""
        self._check_complete()
        feats: List[Tensor] = []
        for name, index in self.specs:
            out = self._outputs[name]
            if index is None:
                feats.extend(_poolable(name, out))
            elif isinstance(out, (tuple, list)):
                feats.extend(_poolable(f'{name}[{index}]', out[index]))
            else:
                raise ValueError(f'Tap {name}[{index}]: {name!r} returns a single '
                                 f'{type(out).__name__}, not a tuple; drop the index.')
        return feats

    def _check_complete(self) -> None:
        missing = [name for name, _ in self.specs if name not in self._outputs]
        if missing:
            raise RuntimeError(f'Taps {missing} recorded nothing: these modules did not run in '
                               f'the forward pass. Tap modules that the forward pass calls.')


def _poolable(tap: str, out) -> List[Tensor]:
    """``out`` as maps the head can pool (tensors [B, C, ...]): itself, or the maps of a
    tuple/list it holds (a dense head's per-level outputs), else an error naming the tap."""
    if isinstance(out, Tensor) and out.dim() >= 2:
        return [out]
    if isinstance(out, (tuple, list)) and out:
        return [f for k, o in enumerate(out) for f in _poolable(f'{tap}[{k}]', o)]
    what = (f'a tensor of shape {tuple(out.shape)}, which has no channel dimension'
            if isinstance(out, Tensor) else f'a value of type {type(out).__name__}')
    raise TapOutputError(f'Tap {tap!r} gave {what}; the loss prediction head pools tensors of '
                         f'shape [B, C, ...]. Tap a submodule that returns such a tensor (or a '
                         f'tuple/list of them), e.g. one of its children.')
