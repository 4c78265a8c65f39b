"""Pick the split writer of a dataset config by its dataset type."""
from collections.abc import Mapping

from mmlearnloss.utils import type_name
from .base import BaseSplitWriter, _resolve_dataset_class
from .coco import COCOSplitWriter
from .index import IndexSplitWriter
from .json_list import JsonListSplitWriter
from .voc import VOCSplitWriter

__all__ = ['SUPPORTED_DATASETS', 'build_split_writer']

#: What :func:`build_split_writer` knows, for error messages and docs.
SUPPORTED_DATASETS = (
    'VOCDataset and other mmdet XMLDataset subclasses -> VOCSplitWriter',
    'mmdet CocoDataset and its subclasses -> COCOSplitWriter',
    'mmpose MpiiDataset -> JsonListSplitWriter',
    'datasets reading OpenMMLab 2.0 json (mmengine BaseDataset.load_data_list) -> '
    'JsonListSplitWriter',
    'CIFAR10, CIFAR100, MNIST and other datasets without ann_file -> IndexSplitWriter',
)


def build_split_writer(dataset_cfg: dict) -> BaseSplitWriter:
    """Pick the split writer for a leaf dataset config by its dataset type.

    See :data:`SUPPORTED_DATASETS`. A type is looked up in the current default scope, then in
    mmdet, mmpose and mmpretrain; subclasses of a supported type get its writer.

    Raises:
        ValueError: the type is not supported (the message lists what is).
    """
    if not isinstance(dataset_cfg, Mapping) or 'type' not in dataset_cfg:
        raise TypeError(f'build_split_writer expects a dataset config dict with a "type", got '
                        f'{dataset_cfg!r}')
    dataset_type = dataset_cfg['type']
    cls = _resolve_dataset_class(dataset_type)
    names = {c.__name__ for c in cls.__mro__} if cls is not None else {type_name(dataset_type)}
    if 'XMLDataset' in names or 'VOCDataset' in names:
        return VOCSplitWriter(dataset_cfg)
    if 'CocoDataset' in names and 'BaseCocoStyleDataset' not in names:  # mmpose has one too
        return COCOSplitWriter(dataset_cfg)
    if 'MpiiDataset' in names:
        return JsonListSplitWriter(dataset_cfg)
    if names & {'CIFAR10', 'MNIST'} or not dataset_cfg.get('ann_file'):
        return IndexSplitWriter(dataset_cfg)
    if cls is not None and _reads_openmmlab_v2(cls) and \
            str(dataset_cfg['ann_file']).endswith('.json'):
        return JsonListSplitWriter(dataset_cfg)
    raise ValueError(f'No split writer for dataset type {dataset_type!r}. Supported:\n  ' +
                     '\n  '.join(SUPPORTED_DATASETS) +
                     '\nOr build a writer yourself: TASK_UTILS.build(dict(type='
                     '"mmlearnloss.<Writer>", dataset_cfg=...)).')


def _reads_openmmlab_v2(cls: type) -> bool:
    from mmengine.dataset import BaseDataset
    return getattr(cls, 'load_data_list', None) is BaseDataset.load_data_list
