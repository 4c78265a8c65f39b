"""COCO json: the split is a COCO json with the chosen images and their annotations."""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mmlearnloss.registry import TASK_UTILS
from .base import BaseSplitWriter, ReturnedAnnotations, _hash, _local_abs, _type_names

__all__ = ['COCOSplitWriter']


@TASK_UTILS.register_module()
class COCOSplitWriter(BaseSplitWriter):
    """COCO json (mmdet ``CocoDataset``): the chosen images and their annotations.

    Ids are ``str(image['id'])``. ``CocoDataset`` yields images in the order of the json's
    ``images`` list, which the written file follows; every other top-level key (``categories``,
    ``info``, ``licenses``...) is kept as it is.
    """

    priority = 20
    supports = ('mmdet CocoDataset and its subclasses', )

    @classmethod
    def serves(cls, dataset_cls, dataset_cfg):
        names = _type_names(dataset_cls, dataset_cfg)
        # mmpose has a CocoDataset too, whose samples are persons, not images.
        return 'CocoDataset' in names and 'BaseCocoStyleDataset' not in names

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

    def categories(self) -> List[dict]:
        """The ``categories`` of the original annotation file."""
        return list(self._load_coco().get('categories', []))

    def max_annotation_id(self) -> int:
        """The largest annotation id of the original file (0 without annotations): ids above it
        clash with no image's."""
        return max([ann['id'] for ann in self._load_coco().get('annotations', [])] + [0])

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
