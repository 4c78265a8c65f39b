"""Batch-first tensor trees (tensors nested in tuples, lists and dicts, as features, head outputs
and loss arguments are): a sample's slice of them, and their batch sizes."""
from typing import List

from torch import Tensor


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
