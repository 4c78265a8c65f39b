"""Compatibility fixes applied when mmlearnloss is imported.

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``; torch >= 2.6 then loads with
``weights_only=True`` and refuses mmengine's own checkpoints, which hold numpy values and the
message hub's ``HistoryBuffer`` objects, so ``--resume`` fails. Importing mmlearnloss replaces
mmengine's local-file checkpoint loader by one that still loads with ``weights_only=True`` (no
code from a pickle runs) and allows exactly the types mmengine's checkpoints contain
(:data:`CHECKPOINT_SAFE_GLOBALS`). A file that needs any other type is refused with its name;
``MMLEARNLOSS_TRUST_CHECKPOINTS=1`` in the environment loads such files with full unpickling.
"""
import os
import os.path as osp
import pickle
import re
from typing import Any, Callable, List, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

#: Environment variable that, set to ``1``, loads checkpoints with full unpickling.
TRUST_ENV = 'MMLEARNLOSS_TRUST_CHECKPOINTS'


def _history_buffer_method(owner: Any, name: str) -> Callable:
    """``builtins.getattr`` as the weights-only unpickler sees it. A ``HistoryBuffer`` pickles
    its statistics methods as ``getattr(HistoryBuffer, 'mean')``; that, and nothing else (a
    general getattr would reach modules and their functions), is allowed."""
    method = owner.__dict__.get(name) if owner is HistoryBuffer else None
    if not callable(method) or name.startswith('_'):
        raise pickle.UnpicklingError(
            f'getattr({owner!r}, {name!r}) is not allowed: only the statistics methods of '
            f'mmengine HistoryBuffer are.')
    return getattr(owner, name)


# The functions numpy's own pickles call (numpy.core.multiarray in numpy 1, numpy._core in 2).
_np_reconstruct = np.ndarray.__reduce__(np.zeros(0))[0]
_np_scalar = np.float64(0).__reduce__()[0]

#: What mmengine's checkpoints hold beyond torch's default weights-only types: the message
#: hub's ``HistoryBuffer`` (with its statistics methods), numpy arrays, scalars and dtypes
#: (meta, message hub).
CHECKPOINT_SAFE_GLOBALS: List[Union[Callable, Tuple[Callable, str]]] = [
    HistoryBuffer,
    (_history_buffer_method, 'builtins.getattr'),
    np.ndarray,
    np.dtype,
    *sorted({type(np.dtype(t)) for t in np.sctypeDict.values()} - {np.dtype}, key=str),
    (_np_reconstruct, 'numpy.core.multiarray._reconstruct'),
    (_np_reconstruct, 'numpy._core.multiarray._reconstruct'),
    (_np_scalar, 'numpy.core.multiarray.scalar'),
    (_np_scalar, 'numpy._core.multiarray.scalar'),
]


def trusted() -> bool:
    """Whether the user trusts every checkpoint (``MMLEARNLOSS_TRUST_CHECKPOINTS=1``)."""
    return os.environ.get(TRUST_ENV) == '1'


def safe_load(filename: str, map_location=None) -> Any:
    """``torch.load(filename)`` with ``weights_only=True`` and :data:`CHECKPOINT_SAFE_GLOBALS`
    allowed; with ``MMLEARNLOSS_TRUST_CHECKPOINTS=1`` full unpickling instead.

    Raises:
        pickle.UnpicklingError: The file needs a type outside the allow-list; the message
            names it and the variable that trusts the file.
    """
    if trusted():
        return torch.load(filename, map_location=map_location, weights_only=False)
    # Only what is not allowed already: leaving the context removes what it added.
    already = torch.serialization.get_safe_globals()
    extra = [g for g in CHECKPOINT_SAFE_GLOBALS if g not in already]
    try:
        with torch.serialization.safe_globals(extra):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise pickle.UnpicklingError(_refusal(filename, str(error))) from None


def _refusal(filename: str, message: str) -> str:
    """Our message from torch's: the refused type, the unpickler's own reason (without
    torch's advice to pass weights_only=False) and the opt-in."""
    found = re.search(r'GLOBAL (\S+) (?:was not an allowed global|whose module)', message)
    what = found.group(1) if found else 'an object the weights-only unpickler refuses'
    text = message.split('WeightsUnpickler error:')[-1]
    parts = [part.strip() for part in text.split('\n\n') if part.strip()]
    detail = next((part for part in parts if not part.startswith(
        ('Weights only load failed', 'Check the documentation'))), text.strip())
    detail = detail.splitlines()[0].rstrip('.') if detail else 'refused'
    return (f'{filename} was not loaded: it needs {what}, which is none of the types '
            f'mmengine checkpoints hold, and unpickling it could run code (torch: {detail}). '
            f'If you trust this file, set {TRUST_ENV}=1 in the environment to load it with '
            f'full unpickling.')


def _load_local_checkpoint(filename, map_location=None, logger=None):
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_load(filename, map_location)


CheckpointLoader.register_scheme(prefixes='', force=True)(_load_local_checkpoint)
