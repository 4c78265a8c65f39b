"""Pascal VOC: the split is an ImageSets/Main txt; the labels are the per-image XML files."""
import hashlib
import os.path as osp
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Dict, List, Optional, Sequence, Set

from mmlearnloss.registry import TASK_UTILS
from .base import (BaseSplitWriter, ReturnedAnnotations, _local_abs, _resolve_dataset_class,
                   _type_names)

__all__ = ['VOCSplitWriter', 'voc_annotation_xml']


@TASK_UTILS.register_module()
class VOCSplitWriter(BaseSplitWriter):
    """Pascal VOC (mmdet ``XMLDataset``): an ImageSets/Main txt, one image id per line.

    Ids are ``'<VOC folder>/<image id>'`` (``'VOC2007/000005'``) so that VOC2007 and VOC2012 ids
    never clash; the folder is the last part of ``data_root + data_prefix['sub_data_root']``.
    The written txt is the new ``ann_file``; ``data_prefix`` is unchanged, so images and XMLs are
    found where they were.
    """

    extension = '.txt'
    priority = 10
    supports = ('VOCDataset and other mmdet XMLDataset subclasses', )

    @classmethod
    def serves(cls, dataset_cls, dataset_cfg):
        return bool({'XMLDataset', 'VOCDataset'} & _type_names(dataset_cls, dataset_cfg))

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
        return _local_abs(osp.join(self.root, subdir, f'{self.image_id(sample_id)}.jpg'))

    def annotation_path(self, sample_id: str) -> str:
        """The sample's XML file: annotators write the labels of a queried image there."""
        subdir = self.dataset_cfg.get('ann_subdir', 'Annotations')
        return _local_abs(osp.join(self.root, subdir, f'{self.image_id(sample_id)}.xml'))

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

    def image_id(self, sample_id: str) -> str:
        """The image id of a sample, its id without the folder: ``'000005'``."""
        prefix = f'{self.folder}/'
        if not sample_id.startswith(prefix):
            raise ValueError(f'{sample_id!r} is not a sample id of {self.describe()}: ids look '
                             f'like {prefix}<image id>.')
        return sample_id[len(prefix):]

    def classes(self) -> Sequence[str]:
        """The class names: ``metainfo['classes']`` of the config, else the dataset class's."""
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
        classes = set(self.classes())
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


def voc_annotation_xml(folder: str, image_id: str, width: int, height: int, objects: List[dict],
                       source: Optional[Dict[str, str]] = None) -> str:
    """A PASCAL VOC annotation XML (tab-indented, no declaration) of one RGB image
    ``<image_id>.jpg``, as the real VOC files lay it out.

    Args:
        folder (str): The ``<folder>`` text, the year folder (``'VOC2007'``).
        image_id (str): The image id; ``<filename>`` is ``<image_id>.jpg``.
        width (int): Image width in pixels.
        height (int): Image height in pixels.
        objects (list[dict]): ``name`` and ``bbox=[xmin, ymin, xmax, ymax]`` in VOC's own
            numbers (the 1-based pixels the box covers), written as they are.
        source (dict, optional): Texts of the ``<source>`` element's children, in order.
    """
    ann = ET.Element('annotation')
    ET.SubElement(ann, 'folder').text = folder
    ET.SubElement(ann, 'filename').text = f'{image_id}.jpg'
    if source is not None:
        node = ET.SubElement(ann, 'source')
        for key, text in source.items():
            ET.SubElement(node, key).text = text
    size = ET.SubElement(ann, 'size')
    ET.SubElement(size, 'width').text = str(width)
    ET.SubElement(size, 'height').text = str(height)
    ET.SubElement(size, 'depth').text = '3'
    ET.SubElement(ann, 'segmented').text = '0'
    for obj in objects:
        node = ET.SubElement(ann, 'object')
        ET.SubElement(node, 'name').text = obj['name']
        ET.SubElement(node, 'pose').text = 'Unspecified'
        ET.SubElement(node, 'truncated').text = '0'
        ET.SubElement(node, 'difficult').text = '0'
        bndbox = ET.SubElement(node, 'bndbox')
        for key, value in zip(('xmin', 'ymin', 'xmax', 'ymax'), obj['bbox']):
            ET.SubElement(bndbox, key).text = str(value)
    ET.indent(ann, space='\t')
    return ET.tostring(ann, encoding='unicode') + '\n'
