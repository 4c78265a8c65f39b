"""The interface of the split writers, and what they share.

Each active-learning stage trains on the labeled ids and scores (a subset of) the unlabeled pool.
Both are made by writing annotation files that the framework's own dataset class reads, and
returning a dataset config that points at them. One writer per annotation format, one interface:

- :meth:`BaseSplitWriter.sample_ids`: every sample id of the original annotation, in the order
  the dataset yields them; ids are unique strings.
- :meth:`BaseSplitWriter.write`: writes the annotation file(s) for exactly the given ids and returns
  a copy of the dataset config pointing at them. The dataset built from it yields those samples in
  the order of the ids (with ``test_mode=True``; in training a dataset may still drop samples by its
  own ``filter_cfg``, e.g. mmdet drops images without boxes).

Files are validated before anything is written and written atomically (temporary file, then
``os.replace``), so a bad call leaves existing files untouched.

Human labels (``mmlearnloss.annotation.query``): every writer also knows where a sample's image is
(:meth:`BaseSplitWriter.image_path`), how to read an annotation file returned by annotators for
queried samples (:meth:`BaseSplitWriter.read_returned`), a fingerprint of a sample's current
annotation (to notice edits of labeled samples) and takes the returned annotations as overrides
(:meth:`BaseSplitWriter.set_annotations`): later splits then carry the human labels. VOC keeps its
labels in per-image XML files, which annotators write in place, so it has nothing to override.
"""
import copy
import hashlib
import json
import os.path as osp
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Protocol, Sequence, Set, Tuple

from mmlearnloss.utils import atomic_write_text, checked_id_list, duplicates, listed, type_name

__all__ = ['BaseSplitWriter', 'ReturnedAnnotations', 'SplitPool']

# Frameworks whose registries are searched for a dataset type given without scope.
_FRAMEWORK_SCOPES = ('mmdet', 'mmpose', 'mmpretrain')


@dataclass
class ReturnedAnnotations:
    """What an annotation file returned by annotators holds, as read by one writer.

    Args:
        annotations (dict): Sample id -> the annotation to use for it from now on (the json entry;
            None where the annotation lives in a file of its own, as VOC's XMLs).
        unknown (list[str]): Entries that are not samples of the dataset, as the file names them.
        duplicates (list[str]): Samples the file holds more than once.
        unlabeled (dict): Sample id -> why its returned annotation does not label it.
    """

    annotations: Dict[str, Any] = field(default_factory=dict)
    unknown: List[str] = field(default_factory=list)
    duplicates: List[str] = field(default_factory=list)
    unlabeled: Dict[str, str] = field(default_factory=dict)


class BaseSplitWriter:
    """Interface of the split writers.

    Subclasses implement :meth:`_load_ids`, :meth:`_render` and :meth:`_point_cfg_at`, and set
    :attr:`extension` and :attr:`tag` (part of the written file name, so that the leaves of a
    concatenation get different files). Registered in ``TASK_UTILS``, a writer says which datasets
    it splits (:meth:`serves`, :attr:`priority`, :attr:`supports`) and
    :func:`~mmlearnloss.annotation.formats.build_split_writer` finds it: a new format is one new
    class.

    Args:
        dataset_cfg (dict): Config of one (leaf) dataset, e.g. ``dict(type='VOCDataset',
            data_root=..., ann_file=..., data_prefix=..., pipeline=...)``. It is copied.
    """

    extension = '.json'
    #: The order in which ``build_split_writer`` asks the registered writers whether they
    #: :meth:`serve <serves>` a dataset, lowest first. Those that serve datasets by their files
    #: rather than their type (OpenMMLab 2.0 json, no annotation file) come last, so that a
    #: writer for a dataset type is asked before them.
    priority = 50
    #: What the writer serves, one line each, for the message of a dataset no writer serves.
    supports: Tuple[str, ...] = ()

    @classmethod
    def serves(cls, dataset_cls: Optional[type], dataset_cfg: dict) -> bool:
        """Whether this writer splits the dataset of ``dataset_cfg``.

        Args:
            dataset_cls (type, optional): The class of ``dataset_cfg['type']``; None where no
                registry knows the type (its framework is not installed).
            dataset_cfg (dict): Config of one (leaf) dataset.
        """
        return False

    def __init__(self, dataset_cfg: dict) -> None:
        if not isinstance(dataset_cfg, Mapping) or 'type' not in dataset_cfg:
            raise TypeError(f'{type(self).__name__} expects a dataset config dict with a "type", '
                            f'got {dataset_cfg!r}')
        self.dataset_cfg = copy.deepcopy(dataset_cfg)
        self._ids: Optional[List[str]] = None
        self._id_set: Optional[Set[str]] = None
        # Returned human annotations by sample id; they replace the original entries in writes.
        self._overrides: Dict[str, Any] = {}

    @property
    def tag(self) -> str:
        """Distinguishes this dataset's files from those of other leaves."""
        return type_name(self.dataset_cfg['type'])

    def describe(self) -> str:
        """One line naming the dataset, for messages."""
        ann_file = self.dataset_cfg.get('ann_file')
        return f"{type_name(self.dataset_cfg['type'])}(ann_file={ann_file!r})"

    def sample_ids(self) -> List[str]:
        """Every sample id of the original annotation, in the order the dataset yields them."""
        if self._ids is None:
            ids = self._load_ids()
            repeated = duplicates(ids)
            if repeated:
                raise ValueError(f'{self.describe()} has duplicate sample ids '
                                 f'{listed(repeated)}; sample ids must be unique.')
            self._ids, self._id_set = ids, set(ids)
        return list(self._ids)

    def check_ids(self, ids: Sequence[str]) -> List[str]:
        """Validate ``ids`` for :meth:`write` and return them as a list.

        Raises:
            TypeError: an id is not a str.
            ValueError: ``ids`` is empty, has duplicates or ids unknown to the dataset.
        """
        ids = checked_id_list(ids, self.describe())
        self.sample_ids()
        unknown = [i for i in ids if i not in self._id_set]
        if unknown:
            raise ValueError(f'{len(unknown)} of the ids to write are not samples of '
                             f'{self.describe()}: {listed(unknown)}. {self._id_hint()}')
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

    # -- human labels (mmlearnloss.annotation.query) ----------------------------------------------

    def image_path(self, sample_id: str) -> str:
        """The image file of a sample, resolved as the dataset resolves it (absolute if local)."""
        raise NotImplementedError(f'{type(self).__name__} does not know the image files of '
                                  f'{self.describe()}.')

    def fingerprint(self, sample_id: str) -> Optional[str]:
        """A hash of the sample's current annotation (None: the format cannot tell)."""
        return None

    def read_returned(self, path: str, queried: Sequence[str]) -> ReturnedAnnotations:
        """Read an annotation file returned for the ``queried`` samples of this dataset.

        The file has the format of the query file :meth:`write` wrote for them. Nothing is
        validated against the query here beyond mapping the file's entries to sample ids; the
        caller compares the ids with the query.
        """
        raise NotImplementedError(
            f'{self.describe()} has no annotation file that annotators could return '
            f'({type(self).__name__}); use the simulated oracle, which takes the labels the '
            'dataset already has.')

    def set_annotations(self, annotations: Mapping) -> None:
        """Use ``annotations`` (sample id -> entry, from :meth:`read_returned`) from now on:
        :meth:`write` emits them instead of the original entries."""
        if not annotations:
            return
        ids = self.check_ids(list(annotations))
        self._overrides.update((i, copy.deepcopy(annotations[i])) for i in ids)

    def return_instructions(self, query_file: str, returned_file: str) -> str:
        """One paragraph telling annotators what to do with ``query_file``."""
        return f'Annotate the samples of {query_file} and save the file as {returned_file}.'

    def _prefix(self, key: str) -> str:
        """``data_prefix[key]`` joined with ``data_root`` as mmengine's BaseDataset does."""
        from mmengine.fileio import join_path
        from mmengine.utils import is_abs
        prefix = (self.dataset_cfg.get('data_prefix') or {}).get(key, '')
        data_root = self.dataset_cfg.get('data_root')
        if prefix and not is_abs(prefix) and data_root:
            return join_path(data_root, prefix)
        return prefix or (data_root or '')

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


class SplitPool(Protocol):
    """What the query and Label Studio code needs of the training pool: one split writer per
    leaf dataset of a (possibly wrapped) dataset config. The active loop's ``PoolSplitter`` is
    one; it is named by this interface here so that ``annotation/`` never imports ``active/``."""

    writers: List[BaseSplitWriter]

    def sample_ids(self) -> List[str]:
        ...

    def write(self, ids: Sequence[str], out_dir: str, name: str,
              wrappers: bool = True) -> Tuple[dict, List[str]]:
        ...

    def out_paths(self, out_dir: str, name: str) -> List[str]:
        ...

    def leaf_index(self, sample_id: str) -> int:
        ...

    def split_by_leaf(self, ids: Sequence[str]) -> List[List[str]]:
        ...

    def image_path(self, sample_id: str) -> str:
        ...

    def fingerprints(self, ids: Sequence[str]) -> Dict[str, str]:
        ...

    def set_annotations(self, annotations: Mapping) -> None:
        ...


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


def _type_names(dataset_cls: Optional[type], dataset_cfg: dict) -> Set[str]:
    """The class names of the dataset's type and its bases; the type's own name where its class
    is unknown."""
    if dataset_cls is not None:
        return {klass.__name__ for klass in dataset_cls.__mro__}
    return {type_name(dataset_cfg['type'])}


def _local_abs(path: str) -> str:
    """Absolute path for local files; URLs of storage backends are left as they are."""
    return path if '://' in path else osp.abspath(path)


def _hash(obj) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode('utf-8')).hexdigest()
