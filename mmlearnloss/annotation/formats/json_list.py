"""Json lists of samples: mmpose's MPII format and OpenMMLab 2.0 json (``data_list``)."""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mmlearnloss.registry import TASK_UTILS
from .base import BaseSplitWriter, ReturnedAnnotations, _hash, _local_abs, _type_names

__all__ = ['JsonListSplitWriter']


@TASK_UTILS.register_module()
class JsonListSplitWriter(BaseSplitWriter):
    """A json list of samples: mmpose's MPII format, or OpenMMLab 2.0 format.

    - MPII (a list with one entry per person, mmpose ``MpiiDataset``, top-down mode): id is the
      entry's index in the original list. Entries that ``MpiiDataset`` drops (no joint coordinate
      above 0, or a non-positive scale) are not samples and get no id.
    - OpenMMLab 2.0 (``{'metainfo': ..., 'data_list': [...]}``): id is the index in
      ``data_list``; ``metainfo`` is kept.
    """

    # After the writers of dataset types: any dataset reading OpenMMLab 2.0 json is served here.
    priority = 70
    supports = ('mmpose MpiiDataset',
                'datasets reading OpenMMLab 2.0 json (mmengine BaseDataset.load_data_list)')

    @classmethod
    def serves(cls, dataset_cls, dataset_cfg):
        if 'MpiiDataset' in _type_names(dataset_cls, dataset_cfg):
            return True
        from mmengine.dataset import BaseDataset
        return (dataset_cls is not None
                and getattr(dataset_cls, 'load_data_list', None) is BaseDataset.load_data_list
                and str(dataset_cfg.get('ann_file') or '').endswith('.json'))

    def __init__(self, dataset_cfg: dict) -> None:
        super().__init__(dataset_cfg)
        self._ann_path()
        # Entries that depend on positions in the original file cannot follow a subset.
        for key, why in (('headbox_file', 'holds head boxes indexed by entry position'),
                         ('bbox_file', 'replaces the annotated boxes by detections')):
            if self.dataset_cfg.get(key):
                raise ValueError(f'{self.describe()} sets {key}={self.dataset_cfg[key]!r}, which '
                                 f'{why}; only a training set can be split, remove {key}.')
        if self.dataset_cfg.get('data_mode', 'topdown') != 'topdown':
            raise ValueError(f'{self.describe()} has data_mode='
                             f'{self.dataset_cfg["data_mode"]!r}: its samples are images, not '
                             'the json entries this writer splits; use data_mode="topdown".')
        self._data = None

    @property
    def tag(self) -> str:
        return osp.splitext(osp.basename(self.dataset_cfg['ann_file']))[0]

    def _load_data(self):
        if self._data is None:
            path = self._ann_path()
            data = self._read_json(path)
            is_v2 = isinstance(data, dict) and isinstance(data.get('data_list'), list) \
                and 'metainfo' in data
            if not (isinstance(data, list) or is_v2):
                raise ValueError(f'{path} is neither a json list (MPII format) nor an OpenMMLab '
                                 '2.0 annotation ({"metainfo": ..., "data_list": [...]}).')
            self._data = data
        return self._data

    def _entries(self) -> list:
        data = self._load_data()
        return data if isinstance(data, list) else data['data_list']

    def _load_ids(self) -> List[str]:
        entries = self._entries()
        if isinstance(self._load_data(), list):
            return [str(i) for i, entry in enumerate(entries) if _is_valid_mpii_entry(entry)]
        return [str(i) for i in range(len(entries))]

    def _render(self, ids: List[str]) -> str:
        subset = [self.entry(i) for i in ids]
        data = self._load_data()
        if isinstance(data, dict):
            subset = dict(data, data_list=subset)
        return json.dumps(subset, separators=(',', ':'))

    def image_path(self, sample_id: str) -> str:
        entry = self.entry(sample_id)
        if self.is_mpii():
            return _local_abs(osp.join(self._prefix('img'), entry['image']))
        # mmengine's BaseDataset joins data_prefix[key] with the entry's value of the same key.
        return _local_abs(osp.join(self._prefix('img_path'), entry.get('img_path', '')))

    def fingerprint(self, sample_id: str) -> Optional[str]:
        return _hash(self.entry(sample_id))

    def read_returned(self, path: str, queried: Sequence[str]) -> ReturnedAnnotations:
        """A json list (or OpenMMLab 2.0 file) with the queried entries, labels filled in.

        Entries are matched to samples by image (``image`` in MPII, ``img_path`` in OpenMMLab
        2.0); the k-th returned entry of an image is its k-th queried sample (several people
        can share an image), then its samples that were not queried.
        """
        data = self._read_json(path)
        entries = data if isinstance(data, list) else (data or {}).get('data_list')
        if not isinstance(entries, list) or isinstance(data, list) != self.is_mpii():
            kind = 'a json list (MPII format)' if self.is_mpii() else \
                'an OpenMMLab 2.0 json ({"metainfo": ..., "data_list": [...]})'
            raise ValueError(f'{path} is not {kind}, the format of the query file.')
        self.sample_ids()
        candidates: Dict[str, List[str]] = {}
        queried_set = set(queried)
        for i in list(queried) + [i for i in self._ids if i not in queried_set]:
            if i in self._id_set:
                candidates.setdefault(self._image_key(self.original_entry(i)), []).append(i)
        returned = ReturnedAnnotations()
        for entry in entries:
            key = self._image_key(entry) if isinstance(entry, dict) else None
            if key not in candidates:
                returned.unknown.append(str(key) if key is not None else repr(entry)[:60])
            elif not candidates[key]:
                returned.duplicates.append(key)
            else:
                sample_id = candidates[key].pop(0)
                returned.annotations[sample_id] = entry
                problem = self._label_problem(sample_id, entry)
                if problem:
                    returned.unlabeled[sample_id] = problem
        return returned

    def return_instructions(self, query_file: str, returned_file: str) -> str:
        if self.is_mpii():
            what = ('fill in "joints" (16 [x, y], 1-based pixels) and "joints_vis" (1 for the '
                    'joints you marked) of every entry, keep its "image", "center" and "scale"')
        else:
            what = 'fill in the labels ("instances" or "gt_label") of every entry, keep its ' \
                   '"img_path"'
        return f'{self.tag}: the samples of {query_file}; {what}, and save the file as ' \
               f'{returned_file}.'

    def is_mpii(self) -> bool:
        """Whether the file is an MPII json list (else OpenMMLab 2.0 json)."""
        return isinstance(self._load_data(), list)

    def metainfo(self) -> dict:
        """The ``metainfo`` of an OpenMMLab 2.0 file (empty for MPII)."""
        data = self._load_data()
        return (data.get('metainfo') or {}) if isinstance(data, dict) else {}

    def original_entry(self, sample_id: str) -> dict:
        """The sample's entry in the original file."""
        return self._entries()[int(sample_id)]

    def entry(self, sample_id: str) -> dict:
        """The sample's entry as :meth:`write` emits it: the returned one once set."""
        if sample_id in self._overrides:
            return self._overrides[sample_id]
        return self.original_entry(sample_id)

    def _image_key(self, entry: dict) -> Optional[str]:
        key = entry.get('image') if self.is_mpii() else entry.get('img_path')
        return str(key) if key is not None else None

    def _label_problem(self, sample_id: str, entry: dict) -> Optional[str]:
        if not self.is_mpii():
            if entry.get('instances') or 'gt_label' in entry:
                return None
            return 'no "instances" and no "gt_label"'
        original = self.original_entry(sample_id)
        num_joints = len(original.get('joints', []))
        joints, visible = entry.get('joints'), entry.get('joints_vis')
        try:
            joints = [[float(x), float(y)] for x, y in joints]
            visible = [int(v) for v in visible]
        except (TypeError, ValueError):
            return 'joints must be [[x, y], ...] and joints_vis a list of 0/1'
        if len(joints) != num_joints or len(visible) != num_joints:
            return f'{len(joints)} joints and {len(visible)} joints_vis, expected {num_joints}'
        if not any(v > 0 and min(xy) > 0 for v, xy in zip(visible, joints)):
            return 'no visible joint (joints_vis all 0 or joints not filled in)'
        if not _is_valid_mpii_entry(entry):
            return 'scale is not positive'
        return None


def _is_valid_mpii_entry(entry: dict) -> bool:
    """Mirror of mmpose's top-down ``_is_valid_instance`` for an MPII entry."""
    joints = [c for joint in entry.get('joints', []) for c in joint]
    return bool(joints) and max(joints) > 0 and float(entry.get('scale', 0)) > 0
