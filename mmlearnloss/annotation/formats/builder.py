"""Pick the split writer of a dataset config: the first registered writer that serves it."""
from collections.abc import Mapping
from typing import List, Type

from mmlearnloss.registry import TASK_UTILS
from .base import BaseSplitWriter, _resolve_dataset_class

__all__ = ['split_writers', 'supported_datasets', 'build_split_writer']


def split_writers() -> List[Type[BaseSplitWriter]]:
    """The split writers registered in :data:`~mmlearnloss.registry.TASK_UTILS`, in the order
    :func:`build_split_writer` asks them: by :attr:`~BaseSplitWriter.priority`, then by name."""
    writers = {cls for cls in TASK_UTILS.module_dict.values()
               if isinstance(cls, type) and issubclass(cls, BaseSplitWriter)}
    return sorted(writers, key=lambda cls: (cls.priority, cls.__name__))


def supported_datasets() -> List[str]:
    """What :func:`build_split_writer` knows, one line per kind of dataset and its writer."""
    return [f'{what} -> {writer.__name__}' for writer in split_writers()
            for what in writer.supports]


def build_split_writer(dataset_cfg: dict) -> BaseSplitWriter:
    """The split writer of a leaf dataset config: the first of :func:`split_writers` that
    :meth:`~BaseSplitWriter.serves` it.

    See :func:`supported_datasets`. A type is looked up in the current default scope, then in
    mmdet, mmpose and mmpretrain; the writers match subclasses of the types they serve.

    Raises:
        ValueError: no writer serves the type (the message lists what is supported).
    """
    if not isinstance(dataset_cfg, Mapping) or 'type' not in dataset_cfg:
        raise TypeError(f'build_split_writer expects a dataset config dict with a "type", got '
                        f'{dataset_cfg!r}')
    dataset_type = dataset_cfg['type']
    dataset_cls = _resolve_dataset_class(dataset_type)
    for writer in split_writers():
        if writer.serves(dataset_cls, dataset_cfg):
            return writer(dataset_cfg)
    raise ValueError(f'No split writer for dataset type {dataset_type!r}. Supported:\n  ' +
                     '\n  '.join(supported_datasets()) +
                     '\nOr build a writer yourself: TASK_UTILS.build(dict(type='
                     '"mmlearnloss.<Writer>", dataset_cfg=...)), or register one that '
                     'serves the type.')
