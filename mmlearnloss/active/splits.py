"""Split writers: restrict a training dataset to given sample ids, in the dataset's own format.

Each active-learning stage trains on the labeled ids and scores (a subset of) the unlabeled pool.
Both are made by writing annotation files that the framework's own dataset class reads, and
returning a dataset config that points at them. One writer per annotation format, one interface:

- :meth:`BaseSplitWriter.sample_ids`: every sample id of the original annotation, in the order
  the dataset yields them; ids are unique strings.
- :meth:`BaseSplitWriter.write`: writes the annotation file(s) for exactly the given ids and returns
  a copy of the dataset config pointing at them. The dataset built from it yields those samples in
  the order of the ids (with ``test_mode=True``; in training a dataset may still drop samples by its
  own ``filter_cfg``, e.g. mmdet drops images without boxes).

Writers (all in ``TASK_UTILS``; :func:`build_split_writer` picks one by dataset type):

- :class:`VOCSplitWriter`: ImageSets/Main txt; id ``'VOC2007/000005'`` (folder/image id).
- :class:`COCOSplitWriter`: COCO json; id ``str(image id)``.
- :class:`JsonListSplitWriter`: mmpose MPII json list (id: index of the person entry) and
  OpenMMLab 2.0 json (id: index in ``data_list``).
- :class:`IndexSplitWriter`: datasets without annotation file (CIFAR): id ``str(index)``; the
  returned config sets ``indices`` (mmengine's ``BaseDataset`` keeps their order).

:class:`PoolSplitter` handles the wrapped configs the frameworks train on (mmdet VOC07+12 is
``RepeatDataset(ConcatDataset([VOC2007, VOC2012]))``): one writer per leaf dataset, the wrappers
kept around the written leaves. A concatenation yields its leaves one after the other, so its
``write`` also returns the order in which the built dataset yields the ids.

Files are validated before anything is written and written atomically (temporary file, then
``os.replace``), so a bad call leaves existing files untouched.
"""
import copy
import json
import os.path as osp
from collections import Counter
from collections.abc import Mapping
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

from mmlearnloss.active.state import atomic_write_text
from mmlearnloss.registry import TASK_UTILS

__all__ = [
    'BaseSplitWriter', 'VOCSplitWriter', 'COCOSplitWriter', 'JsonListSplitWriter',
    'IndexSplitWriter', 'PoolSplitter', 'build_split_writer', 'SUPPORTED_DATASETS'
]

#: What :func:`build_split_writer` knows, for error messages and docs.
SUPPORTED_DATASETS = (
    'VOCDataset and other mmdet XMLDataset subclasses -> VOCSplitWriter',
    'mmdet CocoDataset and its subclasses -> COCOSplitWriter',
    'mmpose MpiiDataset -> JsonListSplitWriter',
    'datasets reading OpenMMLab 2.0 json (mmengine BaseDataset.load_data_list) -> '
    'JsonListSplitWriter',
    'CIFAR10, CIFAR100, MNIST and other datasets without ann_file -> IndexSplitWriter',
)

# Frameworks whose registries are searched for a dataset type given without scope.
_FRAMEWORK_SCOPES = ('mmdet', 'mmpose', 'mmpretrain')
# Wrappers that hold a list of datasets and yield them one after the other.
_CONCAT_TYPES = ('ConcatDataset', )
# How many offending ids an error message lists.
_MAX_LISTED = 10


class BaseSplitWriter:
    """Interface of the split writers.

    Subclasses implement :meth:`_load_ids`, :meth:`_render` and :meth:`_point_cfg_at`, and set
    :attr:`extension` and :attr:`tag` (part of the written file name, so that the leaves of a
    concatenation get different files).

    Args:
        dataset_cfg (dict): Config of one (leaf) dataset, e.g. ``dict(type='VOCDataset',
            data_root=..., ann_file=..., data_prefix=..., pipeline=...)``. It is copied.
    """

    extension = '.json'

    def __init__(self, dataset_cfg: dict) -> None:
        if not isinstance(dataset_cfg, Mapping) or 'type' not in dataset_cfg:
            raise TypeError(f'{type(self).__name__} expects a dataset config dict with a "type", '
                            f'got {dataset_cfg!r}')
        self.dataset_cfg = copy.deepcopy(dataset_cfg)
        self._ids: Optional[List[str]] = None
        self._id_set: Optional[Set[str]] = None

    @property
    def tag(self) -> str:
        """Distinguishes this dataset's files from those of other leaves."""
        return _type_name(self.dataset_cfg['type'])

    def describe(self) -> str:
        """One line naming the dataset, for messages."""
        ann_file = self.dataset_cfg.get('ann_file')
        return f"{_type_name(self.dataset_cfg['type'])}(ann_file={ann_file!r})"

    def sample_ids(self) -> List[str]:
        """Every sample id of the original annotation, in the order the dataset yields them."""
        if self._ids is None:
            ids = self._load_ids()
            duplicates = _duplicates(ids)
            if duplicates:
                raise ValueError(f'{self.describe()} has duplicate sample ids '
                                 f'{_listed(duplicates)}; sample ids must be unique.')
            self._ids, self._id_set = ids, set(ids)
        return list(self._ids)

    def check_ids(self, ids: Sequence[str]) -> List[str]:
        """Validate ``ids`` for :meth:`write` and return them as a list.

        Raises:
            TypeError: an id is not a str.
            ValueError: ``ids`` is empty, has duplicates or ids unknown to the dataset.
        """
        ids = _checked_id_list(ids, self.describe())
        self.sample_ids()
        unknown = [i for i in ids if i not in self._id_set]
        if unknown:
            raise ValueError(f'{len(unknown)} of the ids to write are not samples of '
                             f'{self.describe()}: {_listed(unknown)}. {self._id_hint()}')
        return ids

    def out_path(self, out_dir: str, name: str) -> str:
        """The file :meth:`write` writes for ``name`` under ``out_dir``."""
        if not name or osp.basename(name) != name:
            raise ValueError(f'name must be a plain file name part like "stage_1_labeled", '
                             f'got {name!r}')
        return osp.join(osp.abspath(out_dir), f'{name}_{self.tag}{self.extension}')

    def write(self, ids: Sequence[str], out_dir: str, name: str) -> dict:
        """Write the annotation file for exactly ``ids`` and return a config that reads it.

        Args:
            ids (Sequence[str]): Sample ids (from :meth:`sample_ids`), in the order the new
                dataset must yield them.
            out_dir (str): Directory for the file (created if missing).
            name (str): Part of the file name, e.g. ``'stage_1_labeled'``.

        Returns:
            dict: A copy of the dataset config pointing at the written file.
        """
        ids = self.check_ids(ids)
        path = self.out_path(out_dir, name)
        atomic_write_text(path, self._render(ids))
        return self._point_cfg_at(copy.deepcopy(self.dataset_cfg), path, ids)

    # -- for subclasses --------------------------------------------------------------------------

    def _load_ids(self) -> List[str]:
        raise NotImplementedError

    def _render(self, ids: List[str]) -> str:
        raise NotImplementedError

    def _point_cfg_at(self, cfg: dict, path: str, ids: List[str]) -> dict:
        cfg['ann_file'] = path  # absolute: mmengine joins only relative paths with data_root
        return cfg

    def _id_hint(self) -> str:
        return f'Ids look like {self.sample_ids()[:3]}.'

    def _ann_path(self) -> str:
        """The original annotation file, resolved like mmengine's ``BaseDataset._join_prefix``."""
        from mmengine.fileio import exists, join_path
        from mmengine.utils import is_abs
        ann_file = self.dataset_cfg.get('ann_file')
        if not ann_file:
            raise ValueError(f'{type(self).__name__} needs dataset_cfg["ann_file"], got '
                             f'{ann_file!r} in {self.describe()}.')
        data_root = self.dataset_cfg.get('data_root')
        path = ann_file if is_abs(ann_file) or not data_root else join_path(data_root, ann_file)
        if not exists(path, backend_args=self.dataset_cfg.get('backend_args')):
            raise FileNotFoundError(
                f'Annotation file not found: {path} (dataset_cfg["ann_file"]={ann_file!r}, '
                f'data_root={data_root!r}). Check the dataset config of the training set.')
        return path

    def _read_text(self, path: str) -> str:
        from mmengine.fileio import get_text
        return get_text(path, backend_args=self.dataset_cfg.get('backend_args'))

    def _read_json(self, path: str):
        try:
            return json.loads(self._read_text(path))
        except json.JSONDecodeError as e:
            raise ValueError(f'Annotation file {path} of {self.describe()} is not valid JSON: '
                             f'{e}') from e


@TASK_UTILS.register_module()
class VOCSplitWriter(BaseSplitWriter):
    """Pascal VOC (mmdet ``XMLDataset``): an ImageSets/Main txt, one image id per line.

    Ids are ``'<VOC folder>/<image id>'`` (``'VOC2007/000005'``) so that VOC2007 and VOC2012 ids
    never clash; the folder is the last part of ``data_root + data_prefix['sub_data_root']``.
    The written txt is the new ``ann_file``; ``data_prefix`` is unchanged, so images and XMLs are
    found where they were.
    """

    extension = '.txt'

    def __init__(self, dataset_cfg: dict) -> None:
        super().__init__(dataset_cfg)
        self._ann_path()  # fail early on a missing file
        prefix = self.dataset_cfg.get('data_prefix') or {}
        sub_root = prefix.get('sub_data_root', '') if isinstance(prefix, Mapping) else ''
        data_root = self.dataset_cfg.get('data_root') or ''
        root = sub_root if osp.isabs(sub_root) else osp.join(data_root, sub_root)
        self.folder = osp.basename(osp.normpath(root)) if root else ''
        if self.folder in ('', '.', '..'):
            raise ValueError(
                f'Cannot name the VOC folder of {self.describe()}: data_root={data_root!r}, '
                f'data_prefix["sub_data_root"]={sub_root!r}. Set data_prefix=dict('
                f'sub_data_root="VOC2007/") as in mmdet\'s voc0712.py.')

    @property
    def tag(self) -> str:
        return self.folder

    def _load_ids(self) -> List[str]:
        lines = self._read_text(self._ann_path()).splitlines()
        return [f'{self.folder}/{line}' for line in (ln.strip() for ln in lines) if line]

    def _render(self, ids: List[str]) -> str:
        start = len(self.folder) + 1
        return ''.join(f'{i[start:]}\n' for i in ids)


@TASK_UTILS.register_module()
class COCOSplitWriter(BaseSplitWriter):
    """COCO json (mmdet ``CocoDataset``): the chosen images and their annotations.

    Ids are ``str(image['id'])``. ``CocoDataset`` yields images in the order of the json's
    ``images`` list, which the written file follows; every other top-level key (``categories``,
    ``info``, ``licenses``...) is kept as it is.
    """

    def __init__(self, dataset_cfg: dict) -> None:
        super().__init__(dataset_cfg)
        self._ann_path()
        self._coco: Optional[dict] = None

    @property
    def tag(self) -> str:
        return osp.splitext(osp.basename(self.dataset_cfg['ann_file']))[0]

    def _load_coco(self) -> dict:
        if self._coco is None:
            path = self._ann_path()
            coco = self._read_json(path)
            if not isinstance(coco, dict) or not isinstance(coco.get('images'), list):
                raise ValueError(f'{path} is not a COCO annotation file: expected a JSON object '
                                 'with an "images" list.')
            self._coco = coco
        return self._coco

    def _load_ids(self) -> List[str]:
        return [str(img['id']) for img in self._load_coco()['images']]

    def _render(self, ids: List[str]) -> str:
        coco = self._load_coco()
        images = {str(img['id']): img for img in coco['images']}
        chosen = set(ids)
        subset = {k: v for k, v in coco.items() if k not in ('images', 'annotations')}
        subset['images'] = [images[i] for i in ids]
        if 'annotations' in coco:
            subset['annotations'] = [
                ann for ann in coco['annotations'] if str(ann['image_id']) in chosen
            ]
        return json.dumps(subset, separators=(',', ':'))


@TASK_UTILS.register_module()
class JsonListSplitWriter(BaseSplitWriter):
    """A json list of samples: mmpose's MPII format, or OpenMMLab 2.0 format.

    - MPII (a list with one entry per person, mmpose ``MpiiDataset``, top-down mode): id is the
      entry's index in the original list. Entries that ``MpiiDataset`` drops (no joint coordinate
      above 0, or a non-positive scale) are not samples and get no id.
    - OpenMMLab 2.0 (``{'metainfo': ..., 'data_list': [...]}``): id is the index in
      ``data_list``; ``metainfo`` is kept.
    """

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
        entries = self._entries()
        subset = [entries[int(i)] for i in ids]
        data = self._load_data()
        if isinstance(data, dict):
            subset = dict(data, data_list=subset)
        return json.dumps(subset, separators=(',', ':'))


def _is_valid_mpii_entry(entry: dict) -> bool:
    """Mirror of mmpose's top-down ``_is_valid_instance`` for an MPII entry."""
    joints = [c for joint in entry.get('joints', []) for c in joint]
    return bool(joints) and max(joints) > 0 and float(entry.get('scale', 0)) > 0


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
        return f'{_type_name(self.dataset_cfg["type"])}_indices'

    def describe(self) -> str:
        cfg = self.dataset_cfg
        where = cfg.get('data_root') or cfg.get('data_prefix')
        return f"{_type_name(cfg['type'])}(data_root={where!r}, split={cfg.get('split')!r})"

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
    names = {c.__name__ for c in cls.__mro__} if cls is not None else {_type_name(dataset_type)}
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


def _resolve_dataset_class(dataset_type) -> Optional[type]:
    """The class of a dataset type: the default scope's registry first, then the frameworks'."""
    if isinstance(dataset_type, type):
        return dataset_type
    from mmengine.registry import DATASETS, DefaultScope
    if '.' in dataset_type:
        keys = [dataset_type]
    else:
        current = DefaultScope.get_current_instance()
        scopes = ([current.scope_name] if current is not None else []) + list(_FRAMEWORK_SCOPES)
        keys = [f'{scope}.{dataset_type}' for scope in dict.fromkeys(scopes)] + [dataset_type]
    for key in keys:
        try:
            cls = DATASETS.get(key)
        except Exception:  # a framework that is not installed, or an unknown name
            cls = None
        if isinstance(cls, type):
            return cls
    return None


class PoolSplitter:
    """Split a (possibly wrapped) training dataset config by sample ids.

    Leaves are the datasets inside the wrappers: ``ConcatDataset(datasets=[...])`` yields its
    leaves one after the other; single-dataset wrappers (``RepeatDataset``,
    ``ClassBalancedDataset``...) are kept around the written leaves, or dropped for scoring.
    Each leaf gets the writer :func:`build_split_writer` picks.

    Args:
        dataset_cfg (dict): The training dataset config (``train_dataloader.dataset``).
    """

    def __init__(self, dataset_cfg: dict) -> None:
        self.dataset_cfg = copy.deepcopy(dataset_cfg)
        self.writers: List[BaseSplitWriter] = [
            build_split_writer(leaf) for leaf in _leaves(self.dataset_cfg)
        ]
        self._owner: Optional[Dict[str, int]] = None

    def sample_ids(self) -> List[str]:
        """Ids of all leaves, leaf after leaf, each in its dataset's order."""
        ids = []
        for writer in self.writers:
            ids.extend(writer.sample_ids())
        if self._owner is None:
            owner: Dict[str, int] = {}
            for index, writer in enumerate(self.writers):
                for i in writer.sample_ids():
                    if i in owner:
                        raise ValueError(
                            f'Sample id {i!r} is in two datasets: '
                            f'{self.writers[owner[i]].describe()} and {writer.describe()}; ids '
                            'must be unique across the datasets of a concatenation.')
                    owner[i] = index
            self._owner = owner
        return ids

    def write(self,
              ids: Sequence[str],
              out_dir: str,
              name: str,
              wrappers: bool = True) -> Tuple[dict, List[str]]:
        """Write the split for ``ids`` and return a config with the original nesting.

        Args:
            ids (Sequence[str]): Sample ids from :meth:`sample_ids`.
            out_dir (str): Directory for the annotation files.
            name (str): Part of the file names, e.g. ``'stage_1_labeled'``.
            wrappers (bool): Keep single-dataset wrappers (``RepeatDataset``...). Use False for a
                dataset that is iterated once in order (scoring). Concatenations are always kept;
                one left with a single dataset is replaced by it.

        Returns:
            tuple[dict, list[str]]: The config, and the ids in the order the dataset built from it
            yields them (leaf after leaf; within a leaf, in the order of ``ids``). With a
            ``RepeatDataset`` kept, this order is one pass of the repetition.
        """
        return self._write(ids, out_dir, name, wrappers, overrides={})

    def pool_cfg(self, ids: Sequence[str], out_dir: str, name: str,
                 pipeline: list) -> Tuple[dict, List[str]]:
        """Like ``write(..., wrappers=False)``, for scoring: every leaf gets ``pipeline`` (e.g. the
        val pipeline), ``test_mode=True`` and ``filter_cfg=None``, so no dataset filters samples
        (that would break the mapping between ids and the order of the samples). ``filter_cfg``
        goes because mmdet's XMLDataset asserts ``bbox_min_size`` is unset in test mode."""
        return self._write(
            ids, out_dir, name, wrappers=False,
            overrides=dict(pipeline=copy.deepcopy(list(pipeline)), test_mode=True,
                           filter_cfg=None))

    def _write(self, ids: Sequence[str], out_dir: str, name: str, wrappers: bool,
               overrides: dict) -> Tuple[dict, List[str]]:
        ids = _checked_id_list(ids, 'the training dataset')
        self.sample_ids()
        unknown = [i for i in ids if i not in self._owner]
        if unknown:
            examples = [w.sample_ids()[:2] for w in self.writers]
            raise ValueError(f'{len(unknown)} of the ids to write are not samples of the training '
                             f'dataset: {_listed(unknown)}. Ids look like {examples}.')
        per_leaf: List[List[str]] = [[] for _ in self.writers]
        for i in ids:
            per_leaf[self._owner[i]].append(i)
        names = [name] * len(self.writers)
        paths = [w.out_path(out_dir, name) for w in self.writers]
        if len(set(paths)) < len(paths):  # leaves with the same tag
            names = [f'{name}_{index}' for index in range(len(self.writers))]
        leaf_cfgs = []
        for writer, leaf_ids, leaf_name in zip(self.writers, per_leaf, names):
            if not leaf_ids:
                leaf_cfgs.append(None)
                continue
            leaf_cfg = writer.write(leaf_ids, out_dir, leaf_name)
            leaf_cfg.update(copy.deepcopy(overrides))
            leaf_cfgs.append(leaf_cfg)
        cfg = _rebuild(self.dataset_cfg, iter(leaf_cfgs), wrappers)
        ordered = [i for leaf_ids in per_leaf for i in leaf_ids]
        return cfg, ordered


def _node_kind(node: Mapping) -> str:
    """'concat', 'wrapper' (one inner dataset) or 'leaf'."""
    if _type_name(node.get('type', '')) in _CONCAT_TYPES:
        return 'concat'
    if isinstance(node.get('datasets'), (list, tuple)):
        raise ValueError(f'Unsupported dataset wrapper {node.get("type")!r}: of the wrappers of '
                         f'several datasets only {list(_CONCAT_TYPES)} can be split.')
    if isinstance(node.get('dataset'), Mapping):
        return 'wrapper'
    return 'leaf'


def _leaves(node: Mapping) -> List[Mapping]:
    kind = _node_kind(node)
    if kind == 'concat':
        return [leaf for child in node['datasets'] for leaf in _leaves(child)]
    if kind == 'wrapper':
        return _leaves(node['dataset'])
    return [node]


def _rebuild(node: Mapping, leaf_cfgs: Iterator[Optional[dict]],
             wrappers: bool) -> Optional[dict]:
    """The config ``node`` with its leaves replaced, in order, by ``leaf_cfgs`` (None: dropped)."""
    kind = _node_kind(node)
    if kind == 'concat':
        children = [_rebuild(child, leaf_cfgs, wrappers) for child in node['datasets']]
        children = [child for child in children if child is not None]
        if len(children) <= 1:
            return children[0] if children else None
        return _replaced(node, 'datasets', children)
    if kind == 'wrapper':
        child = _rebuild(node['dataset'], leaf_cfgs, wrappers)
        if child is None or not wrappers:
            return child
        return _replaced(node, 'dataset', child)
    return next(leaf_cfgs)


def _replaced(node: Mapping, key: str, value) -> dict:
    new = copy.deepcopy(node)
    new[key] = value
    return new


def _type_name(dataset_type) -> str:
    if isinstance(dataset_type, type):
        return dataset_type.__name__
    return str(dataset_type).split('.')[-1]


def _checked_id_list(ids: Sequence[str], where: str) -> List[str]:
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
        raise TypeError(f'ids must be a sequence of str, got {type(ids).__name__}')
    ids = list(ids)
    if not ids:
        raise ValueError(f'No ids to write for {where}: a split needs at least one sample.')
    not_str = [i for i in ids if not isinstance(i, str)]
    if not_str:
        raise TypeError(f'Sample ids must be str, got {_listed(not_str)} for {where}.')
    duplicates = _duplicates(ids)
    if duplicates:
        raise ValueError(f'Duplicate ids to write for {where}: {_listed(duplicates)}; each sample '
                         'may appear once.')
    return ids


def _duplicates(ids: Sequence[str]) -> List[str]:
    return [i for i, n in Counter(ids).items() if n > 1]


def _listed(items: Sequence) -> str:
    shown = ', '.join(repr(i) for i in items[:_MAX_LISTED])
    more = f' and {len(items) - _MAX_LISTED} more' if len(items) > _MAX_LISTED else ''
    return f'[{shown}]{more}'
