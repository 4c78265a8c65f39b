"""Datasets without an annotation file (CIFAR): the split is the config's ``indices``."""
import copy
import json
from typing import List

from mmlearnloss.registry import TASK_UTILS
from mmlearnloss.utils import type_name
from .base import _FRAMEWORK_SCOPES, BaseSplitWriter, _resolve_dataset_class, _type_names

__all__ = ['IndexSplitWriter']


@TASK_UTILS.register_module()
class IndexSplitWriter(BaseSplitWriter):
    """Datasets without an annotation file (mmpretrain CIFAR10/CIFAR100): split by index.

    Ids are ``str(index)`` into the dataset's full data list (the ``indices`` already in the config,
    if any, define which indices exist). The returned config sets ``indices=[...]`` in the order
    of the ids: mmengine's ``BaseDataset._get_unserialized_subset`` keeps that order. The indices
    are also written to a json file under ``out_dir`` for the record.

    Building the ids needs the dataset's length, so :meth:`sample_ids` builds the dataset once
    (with an empty pipeline).
    """

    # Asked last: it also serves any dataset without an annotation file.
    priority = 80
    supports = ('CIFAR10, CIFAR100, MNIST and other datasets without ann_file', )

    @classmethod
    def serves(cls, dataset_cls, dataset_cfg):
        return bool({'CIFAR10', 'MNIST'} & _type_names(dataset_cls, dataset_cfg)) or \
            not dataset_cfg.get('ann_file')

    def __init__(self, dataset_cfg: dict) -> None:
        super().__init__(dataset_cfg)
        if self.dataset_cfg.get('filter_cfg'):
            # mmengine applies indices after filter_data, and filtering may depend on test_mode,
            # so the same index could mean different samples in training and in scoring.
            raise ValueError(f'{self.describe()} sets filter_cfg={self.dataset_cfg["filter_cfg"]!r}'
                             '; indices count after filtering, so splitting it by index is not '
                             'reliable. Remove filter_cfg or use an annotation-file writer.')

    @property
    def tag(self) -> str:
        return f'{type_name(self.dataset_cfg["type"])}_indices'

    def describe(self) -> str:
        cfg = self.dataset_cfg
        where = cfg.get('data_root') or cfg.get('data_prefix')
        return f"{type_name(cfg['type'])}(data_root={where!r}, split={cfg.get('split')!r})"

    def _load_ids(self) -> List[str]:
        cfg = copy.deepcopy(self.dataset_cfg)
        dataset_type, indices = cfg.pop('type'), cfg.pop('indices', None)
        cfg.pop('_scope_', None)  # added by mmengine to configs inherited across packages
        cls = _resolve_dataset_class(dataset_type)
        if cls is None:
            raise ValueError(f'Cannot find dataset type {dataset_type!r} in the registries of '
                             f'{list(_FRAMEWORK_SCOPES)}; import its package first.')
        cfg.update(pipeline=[], lazy_init=False, serialize_data=False)
        positions = list(range(len(cls(**cfg))))
        if indices is None:
            return [str(i) for i in positions]
        if isinstance(indices, int):
            return [str(i) for i in (positions[:indices] if indices >= 0 else positions[indices:])]
        return [str(positions[i]) for i in indices]

    def _render(self, ids: List[str]) -> str:
        return json.dumps([int(i) for i in ids])

    def _point_cfg_at(self, cfg: dict, path: str, ids: List[str]) -> dict:
        cfg['indices'] = [int(i) for i in ids]
        return cfg

    def image_path(self, sample_id: str) -> str:
        return ''  # the images live inside the dataset's own files (CIFAR's pickled batches)
