"""Label Studio tasks: the files a project is made from, and its JSON export read back.

Nothing here talks to a server (:mod:`mmlearnloss.annotation.label_studio.oracle` does); the
conversions to and from the dataset's format are :mod:`.formats`'s.

- :func:`labeling_config`: the project's XML labeling config, made from the dataset's classes
  (the control tag of the pool's :class:`~.formats.LabelStudioFormat`).
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

A task finds its sample by ``data.sample_id`` (set by :func:`import_tasks`) or, for tasks made
otherwise, by the image's file name (Label Studio's upload prefix ``<hash>-`` allowed).
"""
from __future__ import annotations

import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple
from urllib.parse import parse_qs, quote, urlparse
from xml.sax.saxutils import quoteattr

from mmlearnloss.utils import atomic_write_text
from ..formats import SplitPool
from ..query import RETURNED_DIR, ReturnedAnnotationError, read_query
from .formats import TO_NAME, label_studio_format

__all__ = [
    'TASKS_FILE', 'CONFIG_FILE', 'EXPORT_FILE', 'labeling_config', 'import_tasks',
    'write_import_files', 'import_instructions', 'image_url', 'find_export', 'read_export',
    'task_is_done', 'latest_annotation', 'returned_from_export'
]

#: In a query folder: the tasks to import and the labeling config (al_select --format).
TASKS_FILE = 'label_studio_tasks.json'
CONFIG_FILE = 'label_studio_config.xml'
#: In ``returned/``: the export fetched from the server (any other name is found too).
EXPORT_FILE = 'label_studio_export.json'


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
            :meth:`.formats.LabelStudioFormat.prediction_result`); None: no pre-annotations.
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
