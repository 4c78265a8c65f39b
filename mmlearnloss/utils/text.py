"""Short texts for messages: a list cut to its first items, a dataset type's name."""
from typing import Callable, Sequence

__all__ = ['listed', 'type_name']


def listed(items: Sequence, limit: int = 10, show: Callable[[object], str] = repr) -> str:
    """``"['a', 'b'] and 3 more"``: the first ``limit`` items, each written by ``show``."""
    shown = ', '.join(show(i) for i in items[:limit])
    more = f' and {len(items) - limit} more' if len(items) > limit else ''
    return f'[{shown}]{more}'


def type_name(dataset_type) -> str:
    """The class name of a registry type: a class, ``'VOCDataset'`` or ``'mmdet.VOCDataset'``."""
    if isinstance(dataset_type, type):
        return dataset_type.__name__
    return str(dataset_type).split('.')[-1]
