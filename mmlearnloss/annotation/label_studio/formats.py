"""Label Studio <-> the dataset's annotation format: one :class:`LabelStudioFormat` per kind.

Each format gives the labeling config's control tag (``RectangleLabels`` of the dataset's classes
for detection (VOC, COCO), ``KeyPointLabels`` with the joints for MPII, ``Choices`` for
classification (OpenMMLab 2.0 json with ``gt_label``)), turns a plain prediction into Label Studio
result items (the pre-annotation), and turns an annotation's result items back into the sample's
entry in the dataset's format and the returned files of a query. Each format says which split
writers it :meth:`~LabelStudioFormat.serves`; :func:`label_studio_format` picks the registered
format (:data:`~mmlearnloss.registry.LABEL_STUDIO_FORMATS`) that serves a pool's writers, so
another format is one more registered class. It reads the dataset only through the split writers'
public methods.

Boxes. A Label Studio rectangle is continuous: ``x``, ``y``, ``width``, ``height`` in percent of
``original_width`` / ``original_height``, from the top-left corner of the first pixel (0) to the
bottom-right corner of the last (the image's width). A VOC XML box is 1-based inclusive pixels, so
``xmin..xmax`` covers ``[xmin - 1, xmax]``; mmdet loads it as ``[xmin - 1, ymin - 1, xmax - 1,
ymax - 1]``, so a predicted box ``[x0, y0, x1, y1]`` is the rectangle ``[x0, y0, x1 + 1, y1 + 1]``
and a rectangle comes back as ``xmin = round(x0) + 1``, ``xmax = round(x1)``. A COCO box
``[x, y, w, h]`` is continuous already (mmdet loads ``[x, y, x + w, y + h]``): the rectangle as
it is, back to 0.01 px. Everything is clamped to the image; a box equal to the dataset's (drawn,
or predicted as mmdet loaded it) comes back with the same numbers.

Joints. mmpose loads MPII's ``joints`` as they are (only the centre is made 0-based), so a joint
is the point at the same pixel coordinates both ways, back to 0.001 px.
"""
from __future__ import annotations

import copy
import json
import os
import os.path as osp
import shutil
from typing import Any, Dict, List, Optional, Sequence, Tuple
from xml.sax.saxutils import quoteattr

from mmlearnloss.registry import LABEL_STUDIO_FORMATS
from mmlearnloss.utils import atomic_write_text
from ..formats import (BaseSplitWriter, COCOSplitWriter, JsonListSplitWriter, SplitPool,
                       VOCSplitWriter)
from ..formats.voc import voc_annotation_xml
from ..query import RETURNED_DIR

__all__ = [
    'FROM_NAME', 'TO_NAME', 'MPII_JOINTS', 'LabelStudioFormat', 'BoxesFormat', 'VOCBoxesFormat',
    'COCOBoxesFormat', 'KeypointsFormat', 'ChoicesFormat', 'label_studio_format'
]

#: mmpose's MPII joint order.
MPII_JOINTS = ('right_ankle', 'right_knee', 'right_hip', 'left_hip', 'left_knee', 'left_ankle',
               'pelvis', 'thorax', 'upper_neck', 'head_top', 'right_wrist', 'right_elbow',
               'right_shoulder', 'left_shoulder', 'left_elbow', 'left_wrist')
# Names of the labeling config's tags.
FROM_NAME, TO_NAME = 'label', 'image'


class LabelStudioFormat:
    """How one kind of annotation maps to Label Studio: config, pre-annotations, conversion back.

    Args:
        pool (SplitPool): The training pool the query comes from.
    """

    #: Label Studio result type this format reads and writes.
    result_type = ''
    #: What the format labels, for the message of a pool that no format serves.
    supports = ''

    @classmethod
    def serves(cls, writer: BaseSplitWriter) -> bool:
        """Whether this format labels the samples of ``writer``'s dataset."""
        return False

    def __init__(self, pool: SplitPool) -> None:
        self.pool = pool

    def labels(self) -> List[str]:
        """The label values of the config (class or joint names)."""
        raise NotImplementedError

    def control(self) -> str:
        """The config's control tag for :meth:`labels`."""
        raise NotImplementedError

    def instructions(self) -> str:
        raise NotImplementedError

    def prediction_result(self, prediction: dict, width: int, height: int,
                          score_threshold: float) -> List[dict]:
        """Label Studio result items for one sample's plain prediction: a dict with
        ``bboxes``, ``labels``, ``scores`` (detection), ``keypoints``, ``keypoint_scores``
        (pose) or ``label``, ``score`` (classification), as the active loop's
        ``plain_prediction`` writes it."""
        raise NotImplementedError

    def entry(self, sample_id: str, results: List[dict]) -> Tuple[Any, Optional[str]]:
        """The sample's annotation in the dataset's format from an annotation's result items,
        and why it does not label the sample (None: it does)."""
        raise NotImplementedError

    def write_returned(self, query_dir: str, leaves: List[dict], entries: Dict[str, Any]) -> None:
        """Write the returned files of the query (``returned/<query file>`` per leaf)."""
        raise NotImplementedError

    def hint(self, sample_id: str) -> str:
        """What the task is about, shown above the image."""
        return self.instructions()

    # -- helpers
    def _of_type(self, results: List[dict]) -> List[dict]:
        return [r for r in results or [] if r.get('type') == self.result_type]

    @staticmethod
    def _returned_path(query_dir: str, leaf: dict) -> str:
        return osp.join(query_dir, RETURNED_DIR, leaf['file'])


class BoxesFormat(LabelStudioFormat):
    """Detection: ``RectangleLabels`` of the dataset's classes (see the module docstring for the
    coordinates). Subclasses say how the dataset's boxes map to rectangles."""

    result_type = 'rectanglelabels'
    #: Added to a loaded (or predicted) box's x1, y1 to reach the rectangle's right / bottom edge.
    edge = 0

    def control(self) -> str:
        return _control('RectangleLabels', self.labels())

    def instructions(self) -> str:
        return ('Draw a box around every object of the listed classes; correct, relabel or delete '
                'the model\'s boxes.')

    def from_rectangle(self, x0: float, y0: float, x1: float,
                       y1: float) -> Optional[List[float]]:
        """The dataset's ``[x0, y0, x1, y1]`` of a clamped rectangle (pixels); None: empty."""
        raise NotImplementedError

    def prediction_result(self, prediction, width, height, score_threshold):
        classes, results = self.labels(), []
        for box, label, score in zip(prediction.get('bboxes', []), prediction.get('labels', []),
                                     prediction.get('scores', [])):
            if score < score_threshold or not 0 <= label < len(classes):
                continue
            x0, y0, x1, y1 = _clamp([box[0], box[1], box[2] + self.edge, box[3] + self.edge],
                                    width, height)
            if x1 <= x0 or y1 <= y0:
                continue
            results.append(_result(self.result_type, (width, height), score, x=100 * x0 / width,
                                   y=100 * y0 / height, width=100 * (x1 - x0) / width,
                                   height=100 * (y1 - y0) / height, rotation=0,
                                   rectanglelabels=[classes[label]]))
        return results

    def entry(self, sample_id, results):
        classes, boxes = set(self.labels()), []
        for result in self._of_type(results):
            value = result.get('value', {})
            names = value.get('rectanglelabels') or value.get('labels') or []
            width, height = result.get('original_width'), result.get('original_height')
            if len(names) != 1 or names[0] not in classes:
                return None, f'a box has the labels {names}, expected one of the dataset\'s classes'
            if not width or not height:
                return None, 'a box has no original_width / original_height'
            if value.get('rotation'):
                return None, f'a box of {names[0]!r} is rotated; draw boxes without rotation'
            x0, y0 = value['x'] * width / 100, value['y'] * height / 100
            x1, y1 = x0 + value['width'] * width / 100, y0 + value['height'] * height / 100
            x0, y0, x1, y1 = _clamp([x0, y0, x1, y1], width, height)
            bbox = self.from_rectangle(x0, y0, x1, y1)
            if bbox is None:
                return None, (f'a box of {names[0]!r} is too small ({x1 - x0:.1f} x '
                              f'{y1 - y0:.1f} px in the image); draw it around the object')
            boxes.append(dict(name=names[0], bbox=bbox, width=width, height=height))
        if not boxes:
            return None, 'no box'
        return boxes, None


@LABEL_STUDIO_FORMATS.register_module()
class VOCBoxesFormat(BoxesFormat):
    """VOC XMLs: 1-based inclusive pixel boxes, read by mmdet minus 1."""

    edge = 1
    supports = 'VOC (boxes)'

    @classmethod
    def serves(cls, writer):
        return isinstance(writer, VOCSplitWriter)

    def labels(self) -> List[str]:
        return list(self.pool.writers[0].classes())

    def from_rectangle(self, x0, y0, x1, y1):
        # The pixels the rectangle covers, 1-based: the first right of x0, the last left of x1.
        xmin, ymin, xmax, ymax = round(x0) + 1, round(y0) + 1, round(x1), round(y1)
        # mmdet reads xmax - xmin as the width: one pixel would be an empty box.
        return None if xmax <= xmin or ymax <= ymin else [xmin, ymin, xmax, ymax]

    def write_returned(self, query_dir, leaves, entries):
        # VOC's labels are the per-image XMLs, written in place; the first version of each is
        # kept under returned/replaced/ (it is the dataset's, and labels nothing but a placeholder
        # in a real unlabeled pool).
        for leaf in leaves:
            writer = self.pool.writers[leaf['leaf']]
            for sample_id in leaf['ids']:
                path = writer.annotation_path(sample_id)
                backup = osp.join(query_dir, RETURNED_DIR, 'replaced', f'{sample_id}.xml')
                if osp.isfile(path) and not osp.isfile(backup):
                    os.makedirs(osp.dirname(backup), exist_ok=True)
                    shutil.copy2(path, backup)
                atomic_write_text(path, _voc_xml(writer.folder, writer.image_id(sample_id),
                                                 entries[sample_id]))
            with open(osp.join(query_dir, leaf['file']), encoding='utf-8') as f:
                atomic_write_text(self._returned_path(query_dir, leaf), f.read())


@LABEL_STUDIO_FORMATS.register_module()
class COCOBoxesFormat(BoxesFormat):
    """COCO json: continuous ``[x, y, w, h]`` boxes, read by mmdet as ``[x, y, x + w, y + h]``."""

    supports = 'COCO (boxes)'

    @classmethod
    def serves(cls, writer):
        return isinstance(writer, COCOSplitWriter)

    def labels(self) -> List[str]:
        return [c['name'] for c in self.pool.writers[0].categories()]

    def from_rectangle(self, x0, y0, x1, y1):
        # 0.01 px, as COCO's own files: the percent round trip leaves 2.9999999999999996.
        box = [round(v, 2) for v in (x0, y0, x1, y1)]
        return None if box[2] - box[0] < 1 or box[3] - box[1] < 1 else box

    def write_returned(self, query_dir, leaves, entries):
        for leaf in leaves:
            self._write_coco(self.pool.writers[leaf['leaf']], query_dir, leaf, entries)

    def _write_coco(self, writer: COCOSplitWriter, query_dir: str, leaf: dict,
                    entries: dict) -> None:
        with open(osp.join(query_dir, leaf['file']), encoding='utf-8') as f:
            coco = json.load(f)
        category = {c['name']: c['id'] for c in coco.get('categories', [])}
        # New annotation ids above every id of the dataset, so none clashes with another image's.
        next_id = 1 + writer.max_annotation_id()
        annotations = []
        for image in coco['images']:
            for box in entries[str(image['id'])]:
                x0, y0, x1, y1 = box['bbox']
                w, h = round(x1 - x0, 2), round(y1 - y0, 2)
                annotations.append(dict(id=next_id, image_id=image['id'],
                                        category_id=category[box['name']], iscrowd=0,
                                        bbox=[x0, y0, w, h], area=round(w * h, 4)))
                next_id += 1
        coco['annotations'] = annotations
        atomic_write_text(self._returned_path(query_dir, leaf), json.dumps(coco))


@LABEL_STUDIO_FORMATS.register_module()
class KeypointsFormat(LabelStudioFormat):
    """MPII json list (mmpose): ``KeyPointLabels`` with the 16 joints; one task per person."""

    result_type = 'keypointlabels'
    supports = 'MPII json (joints)'

    @classmethod
    def serves(cls, writer):
        return isinstance(writer, JsonListSplitWriter) and writer.is_mpii()

    def labels(self) -> List[str]:
        return list(MPII_JOINTS)

    def control(self) -> str:
        return _control('KeyPointLabels', self.labels())

    def instructions(self) -> str:
        return ('Mark every visible joint of the person around the given centre; move the '
                'model\'s points where they are wrong and delete those of hidden joints.')

    def hint(self, sample_id):
        entry = self.pool.writers[self.pool.leaf_index(sample_id)].entry(sample_id)
        x, y = entry.get('center', (0, 0))
        return f'{self.instructions()} Person centred at x={x:.0f}, y={y:.0f}.'

    def prediction_result(self, prediction, width, height, score_threshold):
        points = prediction.get('keypoints') or []
        scores = prediction.get('keypoint_scores') or [1.0] * len(points)
        results = []
        for name, (x, y), score in zip(MPII_JOINTS, points, scores):
            if score < score_threshold or not (0 <= x <= width and 0 <= y <= height):
                continue
            results.append(_result(self.result_type, (width, height), score, x=100 * x / width,
                                   y=100 * y / height, width=0.5, keypointlabels=[name]))
        return results

    def entry(self, sample_id, results):
        joints, visible = [[0., 0.] for _ in MPII_JOINTS], [0] * len(MPII_JOINTS)
        for result in self._of_type(results):
            value = result.get('value', {})
            names = value.get('keypointlabels') or value.get('labels') or []
            width, height = result.get('original_width'), result.get('original_height')
            if len(names) != 1 or names[0] not in MPII_JOINTS:
                return None, f'a point has the labels {names}, expected one joint name'
            index = MPII_JOINTS.index(names[0])
            if visible[index]:
                return None, f'joint {names[0]!r} is marked twice'
            # 0.001 px: the percent round trip leaves 95.99999999999999.
            joints[index] = [round(max(0., min(value['x'] * width / 100, width)), 3),
                             round(max(0., min(value['y'] * height / 100, height)), 3)]
            visible[index] = 1
        if not any(visible):
            return None, 'no joint'
        entry = copy.deepcopy(self.pool.writers[self.pool.leaf_index(sample_id)]
                              .original_entry(sample_id))
        entry.update(joints=joints, joints_vis=visible)
        return entry, None

    def write_returned(self, query_dir, leaves, entries):
        for leaf in leaves:
            atomic_write_text(self._returned_path(query_dir, leaf),
                              json.dumps([entries[i] for i in leaf['ids']]))


@LABEL_STUDIO_FORMATS.register_module()
class ChoicesFormat(LabelStudioFormat):
    """Classification (OpenMMLab 2.0 json with ``gt_label``): ``Choices`` of the classes."""

    result_type = 'choices'
    supports = 'OpenMMLab 2.0 json with gt_label (classes)'

    @classmethod
    def serves(cls, writer):
        return isinstance(writer, JsonListSplitWriter) and not writer.is_mpii()

    def labels(self) -> List[str]:
        metainfo = self.pool.writers[0].metainfo()
        classes = metainfo.get('classes')
        if not classes:
            raise ValueError(f'{self.pool.writers[0].describe()} has no metainfo.classes; Label '
                             'Studio needs the class names for its Choices.')
        return list(classes)

    def control(self) -> str:
        choices = ''.join(f'\n    <Choice value={quoteattr(c)}/>' for c in self.labels())
        return (f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single" '
                f'required="true">{choices}\n  </Choices>')

    def instructions(self) -> str:
        return 'Choose the class of the image (the model\'s guess is preselected).'

    def prediction_result(self, prediction, width, height, score_threshold):
        label, classes = prediction.get('label'), self.labels()
        if label is None or not 0 <= label < len(classes):
            return []
        return [_result(self.result_type, (width, height), prediction.get('score', 1.0),
                        choices=[classes[label]])]

    def entry(self, sample_id, results):
        chosen = [c for r in self._of_type(results) for c in r.get('value', {}).get('choices', [])]
        if len(chosen) != 1 or chosen[0] not in self.labels():
            return None, f'chose {chosen}, expected one class'
        entry = copy.deepcopy(self.pool.writers[self.pool.leaf_index(sample_id)]
                              .original_entry(sample_id))
        entry['gt_label'] = self.labels().index(chosen[0])
        return entry, None

    def write_returned(self, query_dir, leaves, entries):
        for leaf in leaves:
            with open(osp.join(query_dir, leaf['file']), encoding='utf-8') as f:
                data = json.load(f)
            data['data_list'] = [entries[i] for i in leaf['ids']]
            atomic_write_text(self._returned_path(query_dir, leaf), json.dumps(data))


def label_studio_format(pool: SplitPool) -> LabelStudioFormat:
    """The adapter for the pool's annotation format: the registered format that serves every
    writer of the pool.

    Raises:
        ValueError: the pool has no format Label Studio can label here (CIFAR's pickled batches,
            leaves of different formats).
    """
    formats = list(LABEL_STUDIO_FORMATS.module_dict.values())
    kinds = {next((f for f in formats if f.serves(writer)), None) for writer in pool.writers}
    if len(kinds) != 1 or None in kinds:
        raise ValueError(f'Label Studio cannot label {[w.describe() for w in pool.writers]}: '
                         f'supported are {", ".join(f.supports for f in formats)}, one format '
                         "per pool. Use oracle='simulated' or 'manual'.")
    return kinds.pop()(pool)


def _control(tag: str, labels: Sequence[str]) -> str:
    items = ''.join(f'\n    <Label value={quoteattr(label)}/>' for label in labels)
    return f'  <{tag} name="{FROM_NAME}" toName="{TO_NAME}">{items}\n  </{tag}>'


def _result(result_type: str, image_size: Tuple[int, int], score: float, **value) -> dict:
    """One Label Studio result item; ``image_size`` is (width, height) of the image."""
    # Heatmap maxima (pose) may stray slightly outside [0, 1]; Label Studio shows a percentage.
    return dict(from_name=FROM_NAME, to_name=TO_NAME, type=result_type,
                original_width=int(image_size[0]), original_height=int(image_size[1]),
                image_rotation=0, value=value, score=min(1., max(0., float(score))))


def _clamp(box: Sequence[float], width: int, height: int) -> List[float]:
    """``[x0, y0, x1, y1]`` inside the image (pixels)."""
    return [max(0., min(float(v), size)) for v, size in zip(box, (width, height, width, height))]


def _voc_xml(folder: str, image_id: str, boxes: List[dict]) -> str:
    """A VOC annotation with the boxes (1-based inclusive pixels, :meth:`VOCBoxesFormat.
    from_rectangle`), its size that of the boxes' image."""
    objects = [dict(name=box['name'], bbox=[int(value) for value in box['bbox']])
               for box in boxes]
    return voc_annotation_xml(folder, image_id, int(boxes[0]['width']), int(boxes[0]['height']),
                              objects, source={'annotation': 'Label Studio'})
