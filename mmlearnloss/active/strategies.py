"""Active-learning selection strategies: which unlabeled samples to label next.

Every strategy has one interface, :meth:`BaseStrategy.select`: given the ids of the scored pool, the
number ``k`` to label and (if the strategy needs them) one value per pool sample, return ``k`` ids,
most informative first. A strategy declares what the loop must collect for it:

- ``needs``: the per-sample model output for the pool: ``None`` (random), ``'pred_loss'`` (the
  loss prediction head's l̂), ``'uncertainty'`` (e.g. the entropy of the class posterior) or
  ``'features'`` (penultimate features, ``[N, D]``); in simulations, ``'target_loss'`` (the real
  loss, from the annotations: the oracle).
- ``needs_labeled``: whether the same output is also needed for the labeled set (core-set).

A strategy that needs several outputs names them in a tuple (``('pred_loss', 'features')``); its
``values`` are then a dict keyed by those names, and the first one is the per-sample score the loop
records with the selection.

Selection is deterministic: ties go to the sample that comes first in ``pool_ids`` and the only
randomness comes from a generator seeded with ``seed``, never from the global RNG.

Each strategy is registered in ``TASK_UTILS`` under its class name and the short name configs use
(``'random'``, ``'entropy'``, ``'coreset'``, ``'learning_loss'``, ``'diverse_learning_loss'``,
``'oracle_loss'``):
``strategy='learning_loss'`` or ``strategy=dict(type='mmlearnloss.LearningLossStrategy')``, built
by :func:`build_strategy`.
"""
import logging
import math
from collections.abc import Mapping
from contextlib import contextmanager
from typing import Hashable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.logging import print_log
from torch import Tensor

from mmlearnloss.registry import TASK_UTILS

__all__ = [
    'BaseStrategy', 'RandomStrategy', 'TopScoreStrategy', 'EntropyStrategy', 'LearningLossStrategy',
    'CoresetStrategy', 'DiverseLearningLossStrategy', 'k_center_greedy', 'resolve_device',
    'build_strategy'
]

ValuesLike = Union[Tensor, np.ndarray, Sequence[float]]

# Elements of a block of rows processed at once (16 MB of float32): bounds the temporaries of the
# distances to the labeled set and of the squared norms, whatever N.
_DISTANCE_BLOCK_ELEMENTS = 1 << 22
# On a GPU: the size of the buffer that streams the rows that do not fit and holds a block of
# distances to the labeled set.
_DEVICE_BLOCK_BYTES = 256 << 20
# On the CPU: the elements of a block of a step's [N] updates, below torch's grain size (32768).
_CPU_UPDATE_ELEMENTS = 1 << 14
MIB = 1 << 20
CPU = torch.device('cpu')


class BaseStrategy:
    """Interface of the selection strategies.

    Subclasses set :attr:`needs` / :attr:`needs_labeled` and implement :meth:`select_indices`;
    :meth:`select` validates the inputs, so every strategy fails the same way on bad ones.
    """

    #: Per-sample model output the loop must collect for the scored pool (None: nothing), or a
    #: tuple of outputs: ``values`` is then a dict keyed by them.
    needs: Optional[Union[str, Tuple[str, ...]]] = None
    #: Whether that output is also needed for the labeled set.
    needs_labeled: bool = False

    def select(self,
               pool_ids: Sequence[Hashable],
               k: int,
               values: Optional[ValuesLike] = None,
               labeled_values: Optional[ValuesLike] = None,
               seed: int = 0) -> List[Hashable]:
        """Return ``k`` ids from ``pool_ids`` (no duplicates), most informative first.

        Args:
            pool_ids (Sequence): Ids of the scored unlabeled samples (str, or int for index-based
                datasets such as CIFAR); returned as given.
            k (int): How many samples to label.
            values (Tensor | dict, optional): ``values[i]`` belongs to ``pool_ids[i]``: ``[N]``
                scores or ``[N, D]`` features, as :attr:`needs` says; a dict of such tensors keyed
                by name when :attr:`needs` is a tuple. Ignored when :attr:`needs` is None.
            labeled_values (Tensor | dict, optional): The same output for the labeled set
                (``[M, D]``), used when :attr:`needs_labeled` is True.
            seed (int): Seed of the strategy's own generator. Defaults to 0.

        Returns:
            list: ``k`` distinct ids of ``pool_ids``.
        """
        num_samples = _check_pool(pool_ids, k)
        name = type(self).__name__
        if self.needs is None:
            values = None
        elif isinstance(self.needs, str):
            values = _check_values(values, num_samples, self.needs, name)
        else:
            values = {need: _check_values(v, num_samples, need, name)
                      for need, v in _check_mapping(values, self.needs, name, 'values').items()}
        if self.needs_labeled and labeled_values is not None:
            if isinstance(self.needs, str):
                labeled_values = _as_tensor(labeled_values)
                _check_no_nan(labeled_values, 'labeled_values')
            else:
                labeled_values = {
                    need: _as_tensor(v) for need, v in
                    _check_mapping(labeled_values, self.needs, name, 'labeled_values').items()}
                for need, v in labeled_values.items():
                    _check_no_nan(v, f'labeled_values[{need!r}]')
        else:
            labeled_values = None
        indices = self.select_indices(num_samples, k, values, labeled_values, seed)
        return [pool_ids[i] for i in indices.tolist()]

    def select_indices(self, num_samples: int, k: int, values: Optional[Tensor],
                       labeled_values: Optional[Tensor], seed: int) -> Tensor:
        """Return the ``[k]`` positions in the pool to label, most informative first.

        Called by :meth:`select` with validated inputs (``values`` has ``num_samples`` rows and no
        NaN, ``1 <= k <= num_samples``).
        """
        raise NotImplementedError

    @property
    def name(self) -> str:
        """Short name (``'learning_loss'``...) for logs and result files: the name the class is
        registered under besides its own; the class name else."""
        cls = type(self)
        short = [name for name, registered in TASK_UTILS.module_dict.items()
                 if registered is cls and name != cls.__name__]
        return short[0] if short else cls.__name__

    def __repr__(self) -> str:
        return f'{type(self).__name__}(needs={self.needs!r}, needs_labeled={self.needs_labeled})'


@TASK_UTILS.register_module(name=['RandomStrategy', 'random'])
class RandomStrategy(BaseStrategy):
    """Label ``k`` pool samples drawn uniformly without replacement (the paper's baseline)."""

    needs = None

    def select_indices(self, num_samples, k, values, labeled_values, seed):
        generator = torch.Generator().manual_seed(seed)
        return torch.randperm(num_samples, generator=generator)[:k]


class TopScoreStrategy(BaseStrategy):
    """Label the ``k`` pool samples with the HIGHEST score; ties go to the earlier pool sample."""

    def select_indices(self, num_samples, k, values, labeled_values, seed):
        if values.dim() != 1:
            raise ValueError(f'{type(self).__name__} expects one {self.needs!r} score per pool '
                             f'sample, shape [{num_samples}], got shape {list(values.shape)}')
        # Stable descending sort: equal scores keep pool order.
        _, order = torch.sort(values, descending=True, stable=True)
        return order[:k]


@TASK_UTILS.register_module(name=['EntropyStrategy', 'entropy'])
class EntropyStrategy(TopScoreStrategy):
    """Label the most uncertain samples: top-k of the ``'uncertainty'`` values.

    The loop supplies the uncertainty (for classification the entropy of the class posterior); the
    strategy only ranks it, so it serves every task that can produce one number per sample.
    """

    needs = 'uncertainty'


@TASK_UTILS.register_module(name=['LearningLossStrategy', 'learning_loss'])
class LearningLossStrategy(TopScoreStrategy):
    """Label the samples with the highest predicted loss l̂ (Yoo & Kweon, CVPR 2019)."""

    needs = 'pred_loss'


@TASK_UTILS.register_module(name=['OracleLossStrategy', 'oracle_loss'])
class OracleLossStrategy(TopScoreStrategy):
    """Label the samples with the highest REAL loss: learning loss with a perfect module.

    For simulations only: the loop computes each pool sample's real loss from its annotations
    (``'target_loss'``, what the model's module learns: ``LearningLoss(target=...)``), which a
    pool awaiting annotation does not have. What it selects is the best that ranking by the
    module's target can do, whatever the module: where it does not beat random, no module will.
    """

    needs = 'target_loss'


@TASK_UTILS.register_module(name=['CoresetStrategy', 'coreset'])
class CoresetStrategy(BaseStrategy):
    """Core-set selection by k-Center-Greedy on features (Sener & Savarese, ICLR 2018).

    Repeatedly labels the pool sample farthest (Euclidean) from its nearest center, the centers
    being the labeled samples and those already picked. With no labeled set the first pick is a
    pool sample drawn with ``seed``. See :func:`k_center_greedy` for cost and memory.

    Args:
        device (str): Where the selection runs: ``'auto'`` (default: this process's GPU when
            CUDA is available, else the CPU), ``'cuda'``, ``'cuda:N'`` or ``'cpu'``. Both paths
            pick the same samples up to ties; asking for a GPU without CUDA logs one line and
            runs on the CPU.
    """

    needs = 'features'
    needs_labeled = True

    def __init__(self, device: str = 'auto'):
        self.device = _checked_device(device)

    def select_indices(self, num_samples, k, values, labeled_values, seed):
        if values.dim() != 2:
            raise ValueError(f'CoresetStrategy expects features of shape [N, D] with '
                             f'N={num_samples} pool samples, got shape {list(values.shape)}')
        if labeled_values is not None and labeled_values.numel() == 0:
            labeled_values = None
        if labeled_values is not None and (labeled_values.dim() != 2
                                           or labeled_values.shape[1] != values.shape[1]):
            raise ValueError(f'labeled_values must be [M, D] features with the pool\'s '
                             f'D={values.shape[1]}, got shape {list(labeled_values.shape)}')
        return k_center_greedy(values, k, centers=labeled_values, seed=seed, device=self.device)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(device={self.device!r})'


@TASK_UTILS.register_module(name=['DiverseLearningLossStrategy', 'diverse_learning_loss'])
class DiverseLearningLossStrategy(BaseStrategy):
    """High predicted losses, spread out: k-Center-Greedy among the top predicted losses.

    Beyond the paper. Learning loss labels the ``k`` highest predicted losses, which can be ``k``
    near-copies of one hard case. This strategy keeps the ``ceil(candidate_factor * k)`` highest
    predicted losses as candidates, labels the highest of them first, then repeatedly the
    candidate farthest (Euclidean, pooled deepest tap, as :class:`CoresetStrategy`) from those
    already picked. ``candidate_factor=1`` is plain learning loss (in another order); a factor
    reaching the whole scored subset is core-set on it, started at its highest loss. It needs only
    what learning loss and core-set need, so it serves every task they serve.

    Args:
        candidate_factor (float): Candidates per sample to label (>= 1). Defaults to 3.
        device (str): Where the k-Center-Greedy step runs, as in :class:`CoresetStrategy`.
    """

    needs = ('pred_loss', 'features')

    def __init__(self, candidate_factor: float = 3.0, device: str = 'auto'):
        if not candidate_factor >= 1:
            raise ValueError(f'candidate_factor must be >= 1 (candidates per sample to label), '
                             f'got {candidate_factor!r}')
        self.candidate_factor = float(candidate_factor)
        self.device = _checked_device(device)

    def select_indices(self, num_samples, k, values, labeled_values, seed):
        pred_loss, features = values['pred_loss'], values['features']
        if pred_loss.dim() != 1:
            raise ValueError(f'DiverseLearningLossStrategy expects one pred_loss per pool sample, '
                             f'shape [{num_samples}], got shape {list(pred_loss.shape)}')
        if features.dim() != 2:
            raise ValueError(f'DiverseLearningLossStrategy expects features of shape [N, D] with '
                             f'N={num_samples} pool samples, got shape {list(features.shape)}')
        num_candidates = min(num_samples, math.ceil(self.candidate_factor * k))
        # Stable descending sort: equal losses keep pool order, as in LearningLossStrategy.
        candidates = torch.sort(pred_loss, descending=True, stable=True).indices[:num_candidates]
        picked = k_center_greedy(features[candidates], k, first=0, device=self.device)
        return candidates[picked]

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(candidate_factor={self.candidate_factor:g}, '
                f'device={self.device!r})')


def k_center_greedy(features: Tensor,
                    k: int,
                    centers: Optional[Tensor] = None,
                    seed: int = 0,
                    first: Optional[int] = None,
                    device: str = 'cpu') -> Tensor:
    """Greedy k-center selection; returns the ``[k]`` indices of ``features`` picked, in order.

    Each step picks the point with the largest distance to its nearest center and makes it a center.
    Ties go to the lowest index. Distances are squared Euclidean, ``|a|² - 2ab + |b|²`` with the
    squared norms computed once (same argmax as Euclidean), in float32. Memory beyond the inputs is
    O(N): a running min-distance vector and one distance vector per step, never an N×N matrix; the
    initial distances to ``centers`` are computed in blocks of rows. Time is one ``[N, D]`` mat-vec
    per pick (100k x 512, K=1000: about 20 s on 2 CPU cores, see
    tools/benchmarks/kcenter_benchmark.py).

    On a GPU the same steps run on the device, in the same order, so the picks are the CPU's up to
    ties (rounding may order two equal distances differently). The features are copied to the GPU
    once if they fit in 80% of its free memory; otherwise the rows that fit stay there and the rest
    are streamed through in blocks each step (slower, never out of memory).

    Args:
        features (Tensor): ``[N, D]`` points to choose from.
        k (int): Number of points to pick, ``1 <= k <= N``.
        centers (Tensor, optional): ``[M, D]`` initial centers (the labeled set). If None or empty,
            the first pick is a point drawn uniformly with a generator seeded with ``seed``.
        seed (int): Seed for that first pick. Defaults to 0.
        first (int, optional): Without ``centers``, the index of the first pick instead of a
            random one.
        device (str): ``'cpu'`` (default), ``'cuda'``, ``'cuda:N'`` or ``'auto'`` (this
            process's GPU if CUDA is available, else the CPU). A GPU asked for without CUDA logs
            one line and runs on the CPU.

    Returns:
        Tensor: ``[k]`` int64 indices (on the CPU), no duplicates.
    """
    num_points = features.shape[0]
    if not 1 <= k <= num_points:
        raise ValueError(f'k_center_greedy asked for k={k} of {num_points} points')
    if centers is not None and centers.shape[0] == 0:
        centers = None
    first_index = None
    if centers is None and first is not None:
        if not 0 <= first < num_points:
            raise ValueError(f'k_center_greedy: first={first} is not an index of the '
                             f'{num_points} points')
        first_index = int(first)
    elif centers is None:
        generator = torch.Generator().manual_seed(seed)
        first_index = int(torch.randint(num_points, (1, ), generator=generator))
    run_on = resolve_device(device)
    picked = _k_center_greedy_on_device(features, k, centers, first_index, run_on)
    if picked is None:  # too little GPU memory even for the [N] vectors
        picked = _k_center_greedy_on_device(features, k, centers, first_index, CPU)
    return picked


def _k_center_greedy_on_device(features: Tensor,
                               k: int,
                               centers: Optional[Tensor],
                               first_index: Optional[int],
                               device: torch.device,
                               max_device_bytes: Optional[int] = None) -> Optional[Tensor]:
    """:func:`k_center_greedy` on ``device`` (the CPU or a GPU); ``first_index`` is the first
    pick, None (exactly when there are centers) to start from the point farthest from them.

    Rows of ``features`` that fit in ``max_device_bytes`` (default: 80% of a GPU's free memory,
    unbounded on the CPU), after the ``[N]`` vectors, the centers and two block buffers, are
    copied to the device once; the others are copied through a block buffer at every step.
    Returns None, after one log line, when not even those fit: the caller then runs on the CPU.
    """
    features = features.detach()
    num_points, dim = features.shape
    row_bytes = 4 * dim
    on_cpu = device.type == 'cpu'
    if max_device_bytes is None:
        max_device_bytes = 1 << 62 if on_cpu else int(0.8 * torch.cuda.mem_get_info(device)[0])
    # The distances to the centers in 16 MB blocks on the CPU (RSS), 256 MB on a GPU.
    center_block = _DISTANCE_BLOCK_ELEMENTS if on_cpu else _DEVICE_BLOCK_BYTES // 4
    block_rows = min(num_points, max(1, _DEVICE_BLOCK_BYTES // row_bytes))
    num_centers = 0 if centers is None else centers.shape[0]
    # [N] float32 vectors (squared norms, running minimum, one step's distances), the centers,
    # a block of distances to them and the buffer that streams the rows that do not fit.
    overhead = 3 * 4 * num_points + num_centers * row_bytes + 2 * _DEVICE_BLOCK_BYTES
    resident_rows = min(num_points, max(0, (max_device_bytes - overhead) // row_bytes))
    if overhead > max_device_bytes:
        _log_once(f'k-Center-Greedy: {num_points} x {dim} features leave too little free memory '
                  f'on {device} ({max_device_bytes / MIB:.0f} MiB usable); running on the CPU.')
        return None
    with _exact_float32(device):
        # Contiguous rows: one BLAS layout for the mat-vecs, whatever the caller's strides.
        resident = features[:resident_rows].to(device=device, dtype=torch.float32).contiguous()
        streamed = features[resident_rows:].to(device='cpu', dtype=torch.float32)
        buffer = (torch.empty(block_rows, dim, device=device)
                  if resident_rows < num_points else None)

        def segments():
            """``(rows, points on the device)`` covering all points, in order."""
            if resident_rows:
                yield slice(0, resident_rows), resident
            for start in range(0, streamed.shape[0], block_rows):
                rows = min(block_rows, streamed.shape[0] - start)
                buffer[:rows].copy_(streamed[start:start + rows])
                yield slice(resident_rows + start, resident_rows + start + rows), buffer[:rows]

        squared_norms = torch.empty(num_points, device=device)
        for rows, points in segments():
            squared_norms[rows] = _squared_norms(points)
        if centers is not None:
            centers = centers.detach().to(device=device, dtype=torch.float32).contiguous()
            min_distance = torch.empty(num_points, device=device)
            for rows, points in segments():
                min_distance[rows] = _min_squared_distance(points, squared_norms[rows], centers,
                                                           center_block)
            del centers
        else:
            min_distance = torch.full((num_points, ), float('inf'), device=device)

        distance = torch.empty(num_points, device=device)
        # A step's [N] updates in blocks: one on a GPU; on the CPU blocks below torch's grain
        # size, which it runs in this thread, where a thread barrier per operation cost more
        # than the mat-vec on a busy CPU (64 vs 24 ms per pick, 100k x 512 on 2 cores).
        update_rows = _CPU_UPDATE_ELEMENTS if on_cpu else num_points
        updates = [slice(start, start + update_rows) for start in range(0, num_points, update_rows)]
        picked = []
        for step in range(k):
            # Ties go to the lowest index: argmax returns the first maximum on every device.
            index = (first_index if step == 0 and first_index is not None else
                     int(torch.argmax(min_distance)))
            picked.append(index)
            if step == k - 1:
                break
            center = (resident[index] if index < resident_rows else
                      streamed[index - resident_rows].to(device))
            # Squared distance of every point to the new center, then the running minimum. A
            # plain mv (the one pass over the [N, D] features, memory-bound) beats addmv here.
            for rows, points in segments():
                torch.mv(points, center, out=distance[rows])
            norm = squared_norms[index]
            for rows in updates:
                block, nearest = distance[rows], min_distance[rows]
                # Clamped so that rounding cannot order exact duplicates: equal distances tie on
                # index.
                block.mul_(-2).add_(squared_norms[rows]).add_(norm).clamp_min_(0)
                torch.minimum(nearest, block, out=nearest)
            # A picked point is never picked again, even if k exceeds the distinct points.
            min_distance[index] = -float('inf')
    return torch.tensor(picked, dtype=torch.long)


def resolve_device(device: Union[str, torch.device]) -> torch.device:
    """The device a selection runs on: ``'auto'`` is this process's GPU when CUDA is available,
    else the CPU; a GPU asked for without CUDA logs one line and gives the CPU."""
    if device == 'auto':
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    resolved = _parse_device(device)
    if resolved.type == 'cuda' and not torch.cuda.is_available():
        _log_once(f'k-Center-Greedy: device={str(device)!r} asked for, but CUDA is not '
                  f'available; running on the CPU.')
        return CPU
    if resolved.type == 'cuda' and resolved.index is None:
        resolved = torch.device('cuda', torch.cuda.current_device())
    return resolved


def _checked_device(device: Union[str, torch.device]) -> Union[str, torch.device]:
    """``device`` as given, once known to be ``'auto'`` or a CPU or CUDA device."""
    if device != 'auto':
        _parse_device(device)
    return device


def _parse_device(device: Union[str, torch.device]) -> torch.device:
    """``device`` as a CPU or CUDA torch.device; a clear error for anything else."""
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        resolved = None
    if resolved is None or resolved.type not in ('cpu', 'cuda'):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return resolved


@contextmanager
def _exact_float32(device: torch.device) -> Iterator[None]:
    """float32 matrix products without TF32 on the GPU, as on the CPU (same picks)."""
    if device.type != 'cuda':
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved


_LOGGED = set()


def _log_once(message: str) -> None:
    if message not in _LOGGED:
        _LOGGED.add(message)
        print_log(message, logger='current', level=logging.WARNING)


def _min_squared_distance(points: Tensor, squared_norms: Tensor, centers: Tensor,
                          block_elements: int = None) -> Tensor:
    """``[N]`` squared distance of each point to its nearest center, in blocks of rows of at most
    ``block_elements`` distances, on the points' device."""
    block_elements = block_elements or _DISTANCE_BLOCK_ELEMENTS
    center_norms = _squared_norms(centers)
    rows = min(points.shape[0], max(1, block_elements // centers.shape[0]))
    # One block buffer reused with out=: a fresh block per iteration fragments the heap and the
    # freed blocks stay resident (measured: +16 MB of RSS per block).
    buffer = points.new_empty(rows, centers.shape[0])
    min_distance = points.new_empty(points.shape[0])
    for start in range(0, points.shape[0], rows):
        block = slice(start, start + rows)
        distance = buffer[:min(rows, points.shape[0] - start)]
        # |c|² - 2 x·c for the block, then + |x|².
        torch.addmm(center_norms, points[block], centers.T, alpha=-2, out=distance)
        distance.add_(squared_norms[block, None])
        torch.amin(distance, dim=1, out=min_distance[block])
    return min_distance.clamp_min_(0)


def _squared_norms(points: Tensor) -> Tensor:
    """``[N]`` sums of squares (exact for small integers, unlike a squared norm), in blocks."""
    rows = min(points.shape[0], max(1, _DISTANCE_BLOCK_ELEMENTS // max(1, points.shape[1])))
    buffer = points.new_empty(rows, points.shape[1])
    norms = points.new_empty(points.shape[0])
    for start in range(0, points.shape[0], rows):
        block = slice(start, start + rows)
        squares = buffer[:min(rows, points.shape[0] - start)]
        torch.mul(points[block], points[block], out=squares)
        torch.sum(squares, dim=1, out=norms[block])
    return norms


def _check_pool(pool_ids: Sequence[Hashable], k: int) -> int:
    """Validate the pool and ``k``; return the pool size."""
    num_samples = len(pool_ids)
    if num_samples == 0:
        raise ValueError(f'the pool is empty: there are no unlabeled samples to select K={k} '
                         'from (is everything labeled already?)')
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f'K must be an int number of samples to label, got {k!r}')
    if k <= 0:
        raise ValueError(f'K must be a positive number of samples to label, got K={k}')
    if k > num_samples:
        raise ValueError(f'asked for K={k} but the pool has only {num_samples} unlabeled samples; '
                         'lower K or score a larger subset of the pool')
    num_unique = len(set(pool_ids))
    if num_unique != num_samples:
        raise ValueError(f'pool_ids has {num_samples - num_unique} duplicate ids among '
                         f'{num_samples}; each unlabeled sample must appear once')
    return num_samples


def _check_mapping(values, needs: Tuple[str, ...], strategy: str, name: str) -> dict:
    """The values of a strategy that needs several outputs: a dict with each of them."""
    if values is None:
        raise ValueError(f'{strategy} needs {" and ".join(map(repr, needs))} of each pool sample, '
                         f'got {name}=None')
    if not isinstance(values, Mapping):
        raise ValueError(f'{strategy} needs {name} as a dict with {list(needs)}, got '
                         f'{type(values).__name__}')
    missing = [need for need in needs if need not in values]
    if missing:
        raise ValueError(f'{strategy} needs {list(needs)} in {name}; missing {missing} (got '
                         f'{sorted(values)})')
    return {need: values[need] for need in needs}


def _check_values(values: Optional[ValuesLike], num_samples: int, needs: str,
                  strategy: str) -> Tensor:
    """Validate the per-sample values of the pool; return them as a CPU tensor."""
    if values is None:
        raise ValueError(f'{strategy} needs the {needs!r} of each of the {num_samples} pool '
                         'samples, got values=None')
    values = _as_tensor(values)
    if values.dim() == 0 or values.shape[0] != num_samples:
        raise ValueError(f'values must have one row per pool sample: got shape '
                         f'{list(values.shape)} for {num_samples} pool ids')
    _check_no_nan(values, 'values')
    return values


def _check_no_nan(values: Tensor, name: str) -> None:
    # The sum is NaN if any entry is: a reduction, no [N, D] mask unless there is a NaN to count.
    if values.is_floating_point() and values.numel() and torch.isnan(values.sum()):
        num_nan = int(torch.isnan(values).sum())
        if num_nan:
            raise ValueError(f'{name} contain {num_nan} NaN entries (of {values.numel()}); '
                             'the model diverged or the scoring pass is broken')


def _as_tensor(values: ValuesLike) -> Tensor:
    if isinstance(values, Tensor):
        return values.detach().cpu()
    return torch.as_tensor(np.asarray(values))


def build_strategy(cfg: Union[str, dict, BaseStrategy]) -> BaseStrategy:
    """Build a strategy from its registered name, a config dict or a strategy (returned as is).

    A name is looked up in mmlearnloss's ``TASK_UTILS`` whatever the default scope (mmdet,
    mmpose...): a short name, a class name, ``'mmlearnloss.<Name>'``, or ``'<scope>.<Name>'`` of a
    strategy another package registers.

    Examples:
        >>> build_strategy('learning_loss')
        >>> build_strategy(dict(type='diverse_learning_loss', candidate_factor=3))
        >>> build_strategy(dict(type='mmlearnloss.CoresetStrategy'))
        >>> build_strategy(dict(type='coreset'))
    """
    if isinstance(cfg, BaseStrategy):
        return cfg
    if isinstance(cfg, str):
        cfg = dict(type=cfg)
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(f'a strategy is given by a name ({", ".join(_strategy_names())}) or a cfg '
                        f'dict with a "type" key, got {cfg!r}')
    cfg, strategy_type = dict(cfg), cfg['type']
    if isinstance(strategy_type, str):
        cfg['type'] = TASK_UTILS.get(strategy_type)
        if cfg['type'] is None:
            raise ValueError(f'unknown strategy {strategy_type!r}; known: {_strategy_names()}, '
                             'also as mmlearnloss.<name>')
    strategy = TASK_UTILS.build(cfg)
    if not isinstance(strategy, BaseStrategy):
        raise TypeError(f'{strategy_type!r} built a {type(strategy).__name__}, not a BaseStrategy')
    return strategy


def _strategy_names() -> List[str]:
    """The names of the strategies registered in mmlearnloss's ``TASK_UTILS``."""
    return sorted(name for name, cls in TASK_UTILS.module_dict.items()
                  if isinstance(cls, type) and issubclass(cls, BaseStrategy))
