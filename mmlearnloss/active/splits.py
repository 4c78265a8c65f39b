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

Human labels (``mmlearnloss.active.oracle``): every writer also knows where a sample's image is
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
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

from mmlearnloss.active.state import atomic_write_text
from mmlearnloss.registry import TASK_UTILS

__all__ = [
    'BaseSplitWriter', 'VOCSplitWriter', 'COCOSplitWriter', 'JsonListSplitWriter',
    'IndexSplitWriter', 'PoolSplitter', 'ReturnedAnnotations', 'build_split_writer',
    'SUPPORTED_DATASETS'
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
        # Returned human annotations by sample id; they replace the original entries in writes.
        self._overrides: Dict[str, Any] = {}

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


    # -- human labels (mmlearnloss.active.oracle) --------------------------------------------------

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
        self.root = root  # where JPEGImages/ and Annotations/ are
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

    def image_path(self, sample_id: str) -> str:
        subdir = self.dataset_cfg.get('img_subdir', 'JPEGImages')
        return _local_abs(osp.join(self.root, subdir, f'{self._image_id(sample_id)}.jpg'))

    def annotation_path(self, sample_id: str) -> str:
        """The sample's XML file: annotators write the labels of a queried image there."""
        subdir = self.dataset_cfg.get('ann_subdir', 'Annotations')
        return _local_abs(osp.join(self.root, subdir, f'{self._image_id(sample_id)}.xml'))

    def fingerprint(self, sample_id: str) -> Optional[str]:
        path = self.annotation_path(sample_id)
        if not osp.isfile(path):
            return 'missing'
        with open(path, 'rb') as f:
            return hashlib.sha1(f.read()).hexdigest()

    def read_returned(self, path: str, queried: Sequence[str]) -> ReturnedAnnotations:
        """A returned ImageSets list; the labels are the XMLs in the Annotations folder."""
        self.sample_ids()
        returned = ReturnedAnnotations()
        seen: Set[str] = set()
        for line in (ln.strip() for ln in self._read_text(path).splitlines()):
            if not line:
                continue
            sample_id = f'{self.folder}/{line}'
            if sample_id not in self._id_set:
                returned.unknown.append(sample_id)
            elif sample_id in seen:
                returned.duplicates.append(sample_id)
            else:
                seen.add(sample_id)
                returned.annotations[sample_id] = None
                problem = self._xml_problem(sample_id)
                if problem:
                    returned.unlabeled[sample_id] = problem
        return returned

    def set_annotations(self, annotations: Mapping) -> None:
        if annotations:
            self.check_ids(list(annotations))  # the labels are the XML files themselves

    def return_instructions(self, query_file: str, returned_file: str) -> str:
        annotations = osp.join(self.root, self.dataset_cfg.get('ann_subdir', 'Annotations'))
        return (f'{self.folder}: the images listed in {query_file} (ImageSets format). Write '
                f'each one\'s labels, at least one <object> with a class name and a <bndbox>, to '
                f'{_local_abs(annotations)}/<image id>.xml (Pascal VOC XML), then copy the list '
                f'to {returned_file}.')

    def _image_id(self, sample_id: str) -> str:
        prefix = f'{self.folder}/'
        if not sample_id.startswith(prefix):
            raise ValueError(f'{sample_id!r} is not a sample id of {self.describe()}: ids look '
                             f'like {prefix}<image id>.')
        return sample_id[len(prefix):]

    def _classes(self) -> Sequence[str]:
        metainfo = self.dataset_cfg.get('metainfo') or {}
        if metainfo.get('classes'):
            return metainfo['classes']
        cls = _resolve_dataset_class(self.dataset_cfg['type'])
        return getattr(cls, 'METAINFO', {}).get('classes', ())

    def _xml_problem(self, sample_id: str) -> Optional[str]:
        """Why the sample's XML does not label it (None: it does)."""
        path = self.annotation_path(sample_id)
        if not osp.isfile(path):
            return f'no annotation file {path}'
        try:
            objects = ET.parse(path).getroot().findall('object')
        except ET.ParseError as e:
            return f'{path} is not valid XML ({e})'
        if not objects:
            return f'{path} has no <object>'
        classes = set(self._classes())
        for obj in objects:
            name = (obj.findtext('name') or '').strip()
            if classes and name not in classes:
                return f'{path} has an object of class {name!r}, not a class of the dataset'
            box = obj.find('bndbox')
            try:
                xmin, ymin, xmax, ymax = (float(box.findtext(k))
                                          for k in ('xmin', 'ymin', 'xmax', 'ymax'))
            except (AttributeError, TypeError, ValueError):
                return f'{path} has an object ({name!r}) without a numeric <bndbox>'
            if xmax <= xmin or ymax <= ymin:
                return f'{path} has an empty box for {name!r}'
        return None


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
        subset['images'] = [
            self._overrides[i]['image'] if i in self._overrides else images[i] for i in ids
        ]
        if 'annotations' in coco or self._overrides:
            subset['annotations'] = [
                ann for ann in coco.get('annotations', [])
                if str(ann['image_id']) in chosen and str(ann['image_id']) not in self._overrides
            ] + [ann for i in ids if i in self._overrides
                 for ann in self._overrides[i]['annotations']]
        return json.dumps(subset, separators=(',', ':'))

    def image_path(self, sample_id: str) -> str:
        image = self._image(sample_id)
        return _local_abs(osp.join(self._prefix('img'), image['file_name']))

    def fingerprint(self, sample_id: str) -> Optional[str]:
        return _hash(dict(image=self._image(sample_id), annotations=self._annotations(sample_id)))

    def read_returned(self, path: str, queried: Sequence[str]) -> ReturnedAnnotations:
        """A COCO json holding the queried images with all their annotations."""
        coco = self._read_json(path)
        if not isinstance(coco, dict) or not isinstance(coco.get('images'), list):
            raise ValueError(f'{path} is not a COCO annotation file: expected a JSON object with '
                             'an "images" list.')
        if coco.get('categories') != self._load_coco().get('categories'):
            raise ValueError(f'{path} has other categories than {self._ann_path()}; annotate with '
                             'the categories of the dataset and keep its "categories" list.')
        self.sample_ids()
        queried = set(queried)
        anns_of: Dict[str, list] = {}
        for ann in coco.get('annotations', []):
            anns_of.setdefault(str(ann.get('image_id')), []).append(ann)
        # Annotation ids must stay unique in later splits (mmdet asserts it).
        taken = {ann['id']: str(ann['image_id']) for i in self._ids if i not in queried
                 for ann in self._annotations(i)}
        category_ids = {c['id'] for c in coco.get('categories', [])}
        returned = ReturnedAnnotations()
        for image in coco['images']:
            sample_id = str(image.get('id'))
            if sample_id not in self._id_set:
                returned.unknown.append(sample_id)
                continue
            if sample_id in returned.annotations:
                returned.duplicates.append(sample_id)
                continue
            anns = anns_of.get(sample_id, [])
            returned.annotations[sample_id] = dict(image=image, annotations=anns)
            problem = None
            if not anns:
                problem = 'no annotations'
            for ann in anns:
                if ann.get('category_id') not in category_ids:
                    problem = f'annotation {ann.get("id")} has unknown category ' \
                              f'{ann.get("category_id")!r}'
                elif not ann.get('bbox') or len(ann['bbox']) != 4:
                    problem = f'annotation {ann.get("id")} has no [x, y, w, h] bbox'
                elif ann.get('id') in taken:
                    problem = f'annotation id {ann.get("id")} is used by image ' \
                              f'{taken[ann.get("id")]} already'
            if problem:
                returned.unlabeled[sample_id] = problem
        known_images = {str(img.get('id')) for img in coco['images']}
        returned.unknown += sorted({i for i in anns_of if i not in known_images})
        return returned

    def return_instructions(self, query_file: str, returned_file: str) -> str:
        return (f'{self.tag}: the images of {query_file} (COCO json, with any annotations they '
                f'had). Annotate every image (at least one annotation each, categories as in '
                f'the file, annotation ids not used by other images) and save the json as '
                f'{returned_file}.')

    def _image(self, sample_id: str) -> dict:
        if sample_id in self._overrides:
            return self._overrides[sample_id]['image']
        if not hasattr(self, '_image_index'):
            self._image_index = {str(img['id']): img for img in self._load_coco()['images']}
        return self._image_index[sample_id]

    def _annotations(self, sample_id: str) -> list:
        if sample_id in self._overrides:
            return self._overrides[sample_id]['annotations']
        if not hasattr(self, '_ann_index'):
            self._ann_index: Dict[str, list] = {}
            for ann in self._load_coco().get('annotations', []):
                self._ann_index.setdefault(str(ann['image_id']), []).append(ann)
        return self._ann_index.get(sample_id, [])


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
        subset = [self._entry(i) for i in ids]
        data = self._load_data()
        if isinstance(data, dict):
            subset = dict(data, data_list=subset)
        return json.dumps(subset, separators=(',', ':'))

    def image_path(self, sample_id: str) -> str:
        entry = self._entry(sample_id)
        if self._is_mpii():
            return _local_abs(osp.join(self._prefix('img'), entry['image']))
        # mmengine's BaseDataset joins data_prefix[key] with the entry's value of the same key.
        return _local_abs(osp.join(self._prefix('img_path'), entry.get('img_path', '')))

    def fingerprint(self, sample_id: str) -> Optional[str]:
        return _hash(self._entry(sample_id))

    def read_returned(self, path: str, queried: Sequence[str]) -> ReturnedAnnotations:
        """A json list (or OpenMMLab 2.0 file) with the queried entries, labels filled in.

        Entries are matched to samples by image (``image`` in MPII, ``img_path`` in OpenMMLab
        2.0); the k-th returned entry of an image is its k-th queried sample (several people
        can share an image), then its samples that were not queried.
        """
        data = self._read_json(path)
        entries = data if isinstance(data, list) else (data or {}).get('data_list')
        if not isinstance(entries, list) or isinstance(data, list) != self._is_mpii():
            kind = 'a json list (MPII format)' if self._is_mpii() else \
                'an OpenMMLab 2.0 json ({"metainfo": ..., "data_list": [...]})'
            raise ValueError(f'{path} is not {kind}, the format of the query file.')
        self.sample_ids()
        candidates: Dict[str, List[str]] = {}
        queried_set = set(queried)
        for i in list(queried) + [i for i in self._ids if i not in queried_set]:
            if i in self._id_set:
                candidates.setdefault(self._image_key(self._original_entry(i)), []).append(i)
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
        if self._is_mpii():
            what = ('fill in "joints" (16 [x, y], 1-based pixels) and "joints_vis" (1 for the '
                    'joints you marked) of every entry, keep its "image", "center" and "scale"')
        else:
            what = 'fill in the labels ("instances" or "gt_label") of every entry, keep its ' \
                   '"img_path"'
        return f'{self.tag}: the samples of {query_file}; {what}, and save the file as ' \
               f'{returned_file}.'

    def _is_mpii(self) -> bool:
        return isinstance(self._load_data(), list)

    def _original_entry(self, sample_id: str) -> dict:
        return self._entries()[int(sample_id)]

    def _entry(self, sample_id: str) -> dict:
        if sample_id in self._overrides:
            return self._overrides[sample_id]
        return self._original_entry(sample_id)

    def _image_key(self, entry: dict) -> Optional[str]:
        key = entry.get('image') if self._is_mpii() else entry.get('img_path')
        return str(key) if key is not None else None

    def _label_problem(self, sample_id: str, entry: dict) -> Optional[str]:
        if not self._is_mpii():
            if entry.get('instances') or 'gt_label' in entry:
                return None
            return 'no "instances" and no "gt_label"'
        original = self._original_entry(sample_id)
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


def _local_abs(path: str) -> str:
    """Absolute path for local files; URLs of storage backends are left as they are."""
    return path if '://' in path else osp.abspath(path)


def _hash(obj) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode('utf-8')).hexdigest()


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

    def image_path(self, sample_id: str) -> str:
        return ''  # the images live inside the dataset's own files (CIFAR's pickled batches)


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
        names = self._leaf_names(out_dir, name)
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


    def _leaf_names(self, out_dir: str, name: str) -> List[str]:
        names = [name] * len(self.writers)
        paths = [w.out_path(out_dir, name) for w in self.writers]
        if len(set(paths)) < len(paths):  # leaves with the same tag
            names = [f'{name}_{index}' for index in range(len(self.writers))]
        return names

    # -- human labels (mmlearnloss.active.oracle) --------------------------------------------------

    def out_paths(self, out_dir: str, name: str) -> List[str]:
        """The file :meth:`write` writes for each leaf under ``out_dir`` (leaf order)."""
        return [w.out_path(out_dir, leaf_name)
                for w, leaf_name in zip(self.writers, self._leaf_names(out_dir, name))]

    def leaf_index(self, sample_id: str) -> int:
        """Index in :attr:`writers` of the leaf dataset that holds ``sample_id``."""
        self.sample_ids()
        if sample_id not in self._owner:
            raise ValueError(f'{sample_id!r} is not a sample of the training dataset.')
        return self._owner[sample_id]

    def split_by_leaf(self, ids: Sequence[str]) -> List[List[str]]:
        """``ids`` grouped by leaf (leaf order), keeping their order within a leaf."""
        per_leaf: List[List[str]] = [[] for _ in self.writers]
        for i in ids:
            per_leaf[self.leaf_index(i)].append(i)
        return per_leaf

    def image_path(self, sample_id: str) -> str:
        """The sample's image file (see :meth:`BaseSplitWriter.image_path`)."""
        return self.writers[self.leaf_index(sample_id)].image_path(sample_id)

    def fingerprints(self, ids: Sequence[str]) -> Dict[str, str]:
        """Hash of each sample's current annotation, for the ids whose format can tell."""
        found = {}
        for i in ids:
            value = self.writers[self.leaf_index(i)].fingerprint(i)
            if value is not None:
                found[i] = value
        return found

    def set_annotations(self, annotations: Mapping) -> None:
        """Use the returned annotations (sample id -> entry) in every later :meth:`write`."""
        per_leaf = self.split_by_leaf(list(annotations))
        for writer, leaf_ids in zip(self.writers, per_leaf):
            if leaf_ids:
                writer.set_annotations({i: annotations[i] for i in leaf_ids})


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
