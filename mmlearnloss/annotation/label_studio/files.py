"""Label Studio files: labeling configs, import tasks with pre-annotations, exports read back.

Nothing here talks to a server (:mod:`mmlearnloss.annotation.label_studio.oracle` does); these
are the files a Label Studio project is made from and the JSON export it gives back:

- :func:`labeling_config`: the project's XML labeling config, made from the dataset's classes:
  ``RectangleLabels`` for detection (VOC, COCO), ``KeyPointLabels`` with the joints for MPII,
  ``Choices`` for classification (OpenMMLab 2.0 json with ``gt_label``).
- :func:`import_tasks`: one task per queried sample, most informative first, each with the
  sample id, rank, selection score and predicted loss in its data and the model's predictions as
  its pre-annotation (``predictions``, whose ``score`` is the model's confidence in [0, 1]).
- :func:`write_import_files`: both, into a query folder (``label_studio_tasks.json``,
  ``label_studio_config.xml``), for a Label Studio reached by hand.
- :func:`returned_from_export`: a Label Studio JSON export of the query's tasks becomes the
  returned files of the query in the dataset's own format (see :mod:`mmlearnloss.annotation.query`):
  VOC XMLs in the dataset's ``Annotations/`` plus the returned list, a COCO json, an MPII /
  OpenMMLab 2.0 json list. :func:`~mmlearnloss.annotation.query.check_returned` then checks them as
  it checks files written by hand.

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

A task finds its sample by ``data.sample_id`` (set by :func:`import_tasks`) or, for tasks made
otherwise, by the image's file name (Label Studio's upload prefix ``<hash>-`` allowed).
"""
from __future__ import annotations

import copy
import json
import os
import os.path as osp
import shutil
import xml.etree.ElementTree as ET
from typing import Any, Dict, List, Optional, Sequence, Tuple
from urllib.parse import parse_qs, quote, urlparse
from xml.sax.saxutils import quoteattr

from mmlearnloss.utils import atomic_write_text
from ..formats import COCOSplitWriter, JsonListSplitWriter, SplitPool, VOCSplitWriter
from ..query import RETURNED_DIR, ReturnedAnnotationError, read_query

__all__ = [
    'TASKS_FILE', 'CONFIG_FILE', 'EXPORT_FILE', 'labeling_config', 'import_tasks',
    'write_import_files', 'image_url', 'find_export', 'read_export', 'task_is_done',
    'returned_from_export', 'label_studio_format'
]

#: In a query folder: the tasks to import and the labeling config (al_select --format).
TASKS_FILE = 'label_studio_tasks.json'
CONFIG_FILE = 'label_studio_config.xml'
#: In ``returned/``: the export fetched from the server (any other name is found too).
EXPORT_FILE = 'label_studio_export.json'
#: mmpose's MPII joint order.
MPII_JOINTS = ('right_ankle', 'right_knee', 'right_hip', 'left_hip', 'left_knee', 'left_ankle',
               'pelvis', 'thorax', 'upper_neck', 'head_top', 'right_wrist', 'right_elbow',
               'right_shoulder', 'left_shoulder', 'left_elbow', 'left_wrist')
# Names of the labeling config's tags.
FROM_NAME, TO_NAME = 'label', 'image'


# -- formats: one adapter per kind of annotation ----------------------------------------------


class LabelStudioFormat:
    """How one kind of annotation maps to Label Studio: config, pre-annotations, conversion back.

    Args:
        pool (SplitPool): The training pool the query comes from.
    """

    #: Label Studio result type this format reads and writes.
    result_type = ''

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


class VOCBoxesFormat(BoxesFormat):
    """VOC XMLs: 1-based inclusive pixel boxes, read by mmdet minus 1."""

    edge = 1

    def labels(self) -> List[str]:
        return list(self.pool.writers[0]._classes())

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
                image_id = sample_id[len(writer.folder) + 1:]
                atomic_write_text(path, _voc_xml(writer.folder, image_id, entries[sample_id]))
            with open(osp.join(query_dir, leaf['file']), encoding='utf-8') as f:
                atomic_write_text(self._returned_path(query_dir, leaf), f.read())


class COCOBoxesFormat(BoxesFormat):
    """COCO json: continuous ``[x, y, w, h]`` boxes, read by mmdet as ``[x, y, x + w, y + h]``."""

    def labels(self) -> List[str]:
        return [c['name'] for c in self.pool.writers[0]._load_coco().get('categories', [])]

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
        next_id = 1 + max([ann['id'] for ann in writer._load_coco().get('annotations', [])] +
                          [0])
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


class KeypointsFormat(LabelStudioFormat):
    """MPII json list (mmpose): ``KeyPointLabels`` with the 16 joints; one task per person."""

    result_type = 'keypointlabels'

    def labels(self) -> List[str]:
        return list(MPII_JOINTS)

    def control(self) -> str:
        return _control('KeyPointLabels', self.labels())

    def instructions(self) -> str:
        return ('Mark every visible joint of the person around the given centre; move the '
                'model\'s points where they are wrong and delete those of hidden joints.')

    def hint(self, sample_id):
        entry = self.pool.writers[self.pool.leaf_index(sample_id)]._entry(sample_id)
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
                              ._original_entry(sample_id))
        entry.update(joints=joints, joints_vis=visible)
        return entry, None

    def write_returned(self, query_dir, leaves, entries):
        for leaf in leaves:
            atomic_write_text(self._returned_path(query_dir, leaf),
                              json.dumps([entries[i] for i in leaf['ids']]))


class ChoicesFormat(LabelStudioFormat):
    """Classification (OpenMMLab 2.0 json with ``gt_label``): ``Choices`` of the classes."""

    result_type = 'choices'

    def labels(self) -> List[str]:
        metainfo = self.pool.writers[0]._load_data().get('metainfo') or {}
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
                              ._original_entry(sample_id))
        entry['gt_label'] = self.labels().index(chosen[0])
        return entry, None

    def write_returned(self, query_dir, leaves, entries):
        for leaf in leaves:
            with open(osp.join(query_dir, leaf['file']), encoding='utf-8') as f:
                data = json.load(f)
            data['data_list'] = [entries[i] for i in leaf['ids']]
            atomic_write_text(self._returned_path(query_dir, leaf), json.dumps(data))


def label_studio_format(pool: SplitPool) -> LabelStudioFormat:
    """The adapter for the pool's annotation format.

    Raises:
        ValueError: the pool has no format Label Studio can label here (CIFAR's pickled batches,
            leaves of different formats).
    """
    kinds = set()
    for writer in pool.writers:
        if isinstance(writer, VOCSplitWriter):
            kinds.add(VOCBoxesFormat)
        elif isinstance(writer, COCOSplitWriter):
            kinds.add(COCOBoxesFormat)
        elif isinstance(writer, JsonListSplitWriter) and writer._is_mpii():
            kinds.add(KeypointsFormat)
        elif isinstance(writer, JsonListSplitWriter):
            kinds.add(ChoicesFormat)
        else:
            kinds.add(None)
    if len(kinds) != 1 or None in kinds:
        raise ValueError(f'Label Studio cannot label {[w.describe() for w in pool.writers]}: '
                         'supported are VOC and COCO (boxes), MPII json (joints) and OpenMMLab '
                         '2.0 json with gt_label (classes), one format per pool. Use '
                         "oracle='simulated' or 'manual'.")
    return kinds.pop()(pool)


# -- import -------------------------------------------------------------------------------------


def labeling_config(pool: SplitPool, title: str = '') -> str:
    """The XML labeling config for the pool's samples (see the module docstring)."""
    fmt = label_studio_format(pool)
    header = f'  <Header value={quoteattr(title)}/>\n' if title else ''
    return (f'<View>\n{header}  <Header value="$hint" size="5"/>\n'
            f'  <Image name="{TO_NAME}" value="$image" zoom="true" zoomControl="true"/>\n'
            f'{fmt.control()}\n</View>\n')


def image_url(path: str, files_root: Optional[str]) -> str:
    """How Label Studio reaches a local image: ``/data/local-files/?d=<path under files_root>``
    (the server's ``LOCAL_FILES_DOCUMENT_ROOT``), or the path itself without ``files_root``."""
    if not files_root:
        return path
    root = osp.abspath(files_root)
    path = osp.abspath(path)
    if root != os.sep and not path.startswith(root.rstrip(os.sep) + os.sep):
        raise ValueError(f'The image {path} is not under the Label Studio files root {root} '
                         '(LOCAL_FILES_DOCUMENT_ROOT of the server); serve a folder that holds '
                         'the dataset.')
    return '/data/local-files/?d=' + quote(osp.relpath(path, root))


def import_tasks(pool: SplitPool,
                 ids: Sequence[str],
                 scores: Optional[Sequence[Optional[float]]] = None,
                 predictions: Optional[Dict[str, dict]] = None,
                 files_root: Optional[str] = '/',
                 query: str = '',
                 model_version: str = 'mmlearnloss',
                 score_threshold: float = 0.3) -> List[dict]:
    """Label Studio tasks for ``ids`` (most informative first), with pre-annotations.

    A task's ``data`` holds ``sample_id``, ``rank`` (1: most informative), ``selection_score``
    (the strategy's score, ``score`` of query.csv), ``predicted_loss`` (the model's predicted loss
    for the sample, from its prediction; None without one), ``query`` and ``hint``. Its
    prediction's ``score`` is the model's confidence in [0, 1], the mean of its result items'
    scores: the pre-annotated boxes' scores (detection), the pre-annotated joints' scores (pose),
    the chosen class's probability (classification); left out when nothing is pre-annotated.

    Args:
        pool (SplitPool): The pool of the ids.
        ids (Sequence[str]): The queried samples, most informative first.
        scores (Sequence[float], optional): Their selection scores (the predicted loss for
            ``learning_loss``), aligned with ``ids``.
        predictions (dict, optional): Sample id -> plain prediction (the active loop's
            ``plain_prediction``: ``ori_shape``, ``pred_loss`` and the predicted labels, see
            :meth:`LabelStudioFormat.prediction_result`); None: no pre-annotations.
        files_root (str, optional): The server's ``LOCAL_FILES_DOCUMENT_ROOT`` (see
            :func:`image_url`).
        query (str): Names the query the tasks belong to (``data.query``), so a project shared
            by several stages tells their tasks apart.
        model_version (str): The predictions' ``model_version``.
        score_threshold (float): Predicted boxes / joints below this confidence are left out.
    """
    fmt = label_studio_format(pool)
    tasks = []
    for rank, sample_id in enumerate(ids, 1):
        score = scores[rank - 1] if scores else None
        prediction = (predictions or {}).get(sample_id)
        predicted_loss = (prediction or {}).get('pred_loss')
        data = dict(image=image_url(pool.image_path(sample_id), files_root), sample_id=sample_id,
                    rank=rank, selection_score=None if score is None else float(score),
                    predicted_loss=None if predicted_loss is None else float(predicted_loss),
                    query=query, hint=fmt.hint(sample_id))
        task = dict(data=data)
        if prediction is not None and min(prediction.get('ori_shape') or [0]) > 0:
            height, width = prediction['ori_shape']
            result = fmt.prediction_result(prediction, width, height, score_threshold)
            task['predictions'] = [dict(model_version=model_version, result=result)]
            if result:
                task['predictions'][0]['score'] = sum(r['score'] for r in result) / len(result)
        tasks.append(task)
    return tasks


def write_import_files(pool: SplitPool, query_dir: str, tasks: List[dict],
                       title: str = '') -> Tuple[str, str]:
    """Write ``label_studio_tasks.json`` and ``label_studio_config.xml`` into ``query_dir``."""
    tasks_path = osp.join(query_dir, TASKS_FILE)
    config_path = osp.join(query_dir, CONFIG_FILE)
    atomic_write_text(config_path, labeling_config(pool, title))
    atomic_write_text(tasks_path, json.dumps(tasks, indent=1) + '\n')
    return tasks_path, config_path


def import_instructions(query_dir: str, files_root: Optional[str]) -> str:
    """What to do with the import files, for the query's README."""
    returned = osp.join(query_dir, RETURNED_DIR)
    serve = (f'Start Label Studio with LOCAL_FILES_SERVING_ENABLED=true and '
             f'LOCAL_FILES_DOCUMENT_ROOT={osp.abspath(files_root)} (python '
             f'tools/label_studio_server.py start --files-root {osp.abspath(files_root)} does), '
             if files_root else 'Make the image paths of the tasks reachable by Label Studio, ')
    return (f'With Label Studio: {serve}create a project with the labeling config '
            f'{osp.join(query_dir, CONFIG_FILE)}, add a Local Storage for each image folder '
            f'(without syncing it), import {osp.join(query_dir, TASKS_FILE)} (the tasks with the '
            f'model\'s predictions, most informative first), annotate every task, then export '
            f'the project as JSON into {returned}/ (any name ending in .json).')


# -- export ---------------------------------------------------------------------------------------


def find_export(query_dir: str) -> Optional[str]:
    """The Label Studio JSON export in the query's ``returned/`` folder, if there is one.

    Raises:
        ValueError: there are several.
    """
    returned = osp.join(query_dir, RETURNED_DIR)
    if not osp.isdir(returned):
        return None
    query_files = {leaf['file'] for leaf in read_query(query_dir)['leaves']}
    found = []
    for name in sorted(os.listdir(returned)):
        path = osp.join(returned, name)
        if name.endswith('.json') and name not in query_files and osp.isfile(path) \
                and _looks_like_export(path):
            found.append(path)
    if len(found) > 1:
        raise ValueError(f'{returned} holds several Label Studio exports {found}; keep one.')
    return found[0] if found else None


def read_export(path: str) -> List[dict]:
    """The tasks of a Label Studio JSON export (``Export > JSON``)."""
    with open(path, encoding='utf-8') as f:
        try:
            tasks = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f'{path} is not valid JSON: {e}') from e
    if not isinstance(tasks, list) or not all(isinstance(t, dict) and 'data' in t
                                              for t in tasks):
        raise ValueError(f'{path} is not a Label Studio JSON export: expected a list of tasks '
                         'with "data" (export the project as "JSON", not "JSON-MIN" or CSV).')
    return tasks


def task_is_done(task: dict) -> bool:
    """Whether the task has a submitted annotation (skipped ones do not count)."""
    return latest_annotation(task) is not None


def latest_annotation(task: dict) -> Optional[dict]:
    """The task's most recently updated annotation that was not skipped (cancelled)."""
    done = [a for a in task.get('annotations') or [] if not a.get('was_cancelled')]
    if not done:
        return None
    return max(done, key=lambda a: (str(a.get('updated_at') or a.get('created_at') or ''),
                                    a.get('id') or 0))


def returned_from_export(pool: SplitPool, query_dir: str,
                         tasks: Optional[List[dict]] = None) -> Optional[List[str]]:
    """Write the query's returned files from a Label Studio export of its tasks.

    Args:
        pool (SplitPool): The pool the query was written from.
        query_dir (str): The query folder.
        tasks (list[dict], optional): The exported tasks; default: the export found in
            ``returned/`` (:func:`find_export`), and nothing happens if there is none.

    Returns:
        list[str] | None: The returned files written (None: no export).

    Raises:
        ReturnedAnnotationError: a queried sample has no task or no submitted annotation, or its
            annotation does not label it; a task is not a queried sample. Nothing is written then.
    """
    query_dir = osp.abspath(query_dir)
    if tasks is None:
        path = find_export(query_dir)
        if path is None:
            return None
        tasks = read_export(path)
    manifest = read_query(query_dir)
    ids, queried = list(manifest['ids']), set(manifest['ids'])
    fmt = label_studio_format(pool)
    by_image = _ids_by_image(pool, ids)
    known = set(pool.sample_ids())
    entries: Dict[str, Any] = {}
    problems = dict(unlabeled={}, extra=[], unknown=[], duplicates=[])
    for task in tasks:
        sample_id = _task_sample_id(task, by_image)
        if sample_id not in queried:
            name = sample_id or str(task.get('data', {}).get('image'))
            problems['extra' if sample_id in known else 'unknown'].append(name)
        elif sample_id in entries:
            problems['duplicates'].append(sample_id)
        else:
            annotation = latest_annotation(task)
            if annotation is None:
                entries[sample_id] = None
                problems['unlabeled'][sample_id] = f'task {task.get("id")} has no submitted ' \
                                                   'annotation (open or skipped)'
                continue
            entries[sample_id], why = fmt.entry(sample_id, annotation.get('result') or [])
            if why:
                problems['unlabeled'][sample_id] = f'task {task.get("id")}: {why}'
    missing = [i for i in ids if i not in entries]
    if missing or any(problems.values()):
        raise ReturnedAnnotationError(query_dir, len(ids), missing=missing, **problems)
    fmt.write_returned(query_dir, manifest['leaves'], entries)
    return [osp.join(query_dir, RETURNED_DIR, leaf['file']) for leaf in manifest['leaves']]


def _looks_like_export(path: str) -> bool:
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(data, list) and bool(data) and all(
        isinstance(t, dict) and 'data' in t and 'annotations' in t for t in data)


def _ids_by_image(pool: SplitPool, ids: Sequence[str]) -> Dict[str, List[str]]:
    found: Dict[str, List[str]] = {}
    for sample_id in ids:
        found.setdefault(osp.basename(pool.image_path(sample_id)), []).append(sample_id)
    return found


def _task_sample_id(task: dict, by_image: Dict[str, List[str]]) -> Optional[str]:
    data = task.get('data') or {}
    if data.get('sample_id'):
        return str(data['sample_id'])
    # A task made by hand: match its image file name ('<hash>-' is Label Studio's upload prefix).
    image = str(data.get('image') or '')
    query = parse_qs(urlparse(image).query).get('d')
    name = osp.basename(query[0] if query else urlparse(image).path)
    candidates = by_image.get(name) or by_image.get(name.split('-', 1)[-1]) or []
    return candidates[0] if len(candidates) == 1 else None


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
    from_rectangle`)."""
    ann = ET.Element('annotation')
    ET.SubElement(ann, 'folder').text = folder
    ET.SubElement(ann, 'filename').text = f'{image_id}.jpg'
    ET.SubElement(ET.SubElement(ann, 'source'), 'annotation').text = 'Label Studio'
    size = ET.SubElement(ann, 'size')
    ET.SubElement(size, 'width').text = str(int(boxes[0]['width']))
    ET.SubElement(size, 'height').text = str(int(boxes[0]['height']))
    ET.SubElement(size, 'depth').text = '3'
    ET.SubElement(ann, 'segmented').text = '0'
    for box in boxes:
        node = ET.SubElement(ann, 'object')
        ET.SubElement(node, 'name').text = box['name']
        ET.SubElement(node, 'pose').text = 'Unspecified'
        ET.SubElement(node, 'truncated').text = '0'
        ET.SubElement(node, 'difficult').text = '0'
        bndbox = ET.SubElement(node, 'bndbox')
        for key, value in zip(('xmin', 'ymin', 'xmax', 'ymax'), box['bbox']):
            ET.SubElement(bndbox, key).text = str(int(value))
    ET.indent(ann, space='\t')
    return ET.tostring(ann, encoding='unicode') + '\n'
