"""The human oracle: query files for annotators, and the annotations they return.

With a simulated oracle the dataset's own labels are used for the selected samples. With a human
one (``ActiveLearningLoop(oracle='manual')``, and ``tools/al_select.py``) the selection is written
as a query folder, people annotate it, and the returned annotations are checked and then used
for those samples in every later split.

A query folder (:func:`write_query`)::

    query_<dataset>.<ext>   the queried samples in the dataset's own format: a VOC ImageSets
                            list per year, a COCO json, an MPII / OpenMMLab 2.0 json list (as
                            the split writers write them; most informative first in a file)
    query.csv               id, file (the image), score, rank (1 = most informative)
    query.json              the manifest read back by check_returned
    README.txt              what to annotate and where to put it
    returned/               annotators put the annotated files here, with the query files' names

Per format (each writer's ``return_instructions`` says it to the annotators):

- VOC: the labels are the per-image XML files; annotators write ``Annotations/<image id>.xml`` of
  each queried image in the dataset's folder, as usual, and copy the ImageSets list into
  ``returned/``. Each queried image needs at least one ``<object>`` of a dataset class with a box.
- COCO: the returned json holds the queried images with their annotations (one at least), the
  dataset's categories, annotation ids unused by other images.
- MPII json list: the returned list holds exactly the queried entries (matched by ``image``) with
  ``joints`` / ``joints_vis`` filled in (one visible joint at least).
- OpenMMLab 2.0 json: the queried ``data_list`` entries (matched by ``img_path``) with labels.
- CIFAR (no annotation file): not supported; use the simulated oracle.

An unlabeled pool must still load with the framework's dataset class: mmdet's VOCDataset reads an
XML per image (one without ``<object>`` will do), and mmpose's top-down MpiiDataset drops entries
without a positive joint coordinate, so unlabeled MPII entries carry their person box
(``center``, ``scale``) and placeholder joints (e.g. the center, with ``joints_vis`` 0).

:func:`check_returned` accepts the returned files only if every queried sample is labeled, no other
sample is in them, nothing in them is unknown to the dataset, and (where the format can tell) the
annotations of the samples labeled before the query were not edited; otherwise
:class:`ReturnedAnnotationError` lists the offending ids. :func:`merge_returned` makes the pool's
writers emit the returned annotations from then on (VOC reads its XMLs, so nothing changes there).
"""
from __future__ import annotations

import csv
import io
import json
import os.path as osp
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

from mmlearnloss.utils import atomic_write_text, listed
from .formats import SplitPool

__all__ = [
    'QUERY_NAME', 'QUERY_CSV', 'MANIFEST', 'README', 'RETURNED_DIR', 'Returned',
    'ReturnedAnnotationError', 'write_query', 'read_query', 'check_returned', 'merge_returned',
    'apply_returned'
]

#: Name part of the query files: ``query_VOC2007.txt``, ``query_mpii_train.json``...
QUERY_NAME = 'query'
QUERY_CSV = 'query.csv'
MANIFEST = 'query.json'
README = 'README.txt'
#: Sub-folder of a query folder where the annotated files go.
RETURNED_DIR = 'returned'
# How many ids an error lists per kind of problem.
_MAX_LISTED = 20
_FORMAT_VERSION = 1


@dataclass
class Returned:
    """Returned annotations that passed :func:`check_returned`.

    Args:
        ids (list[str]): The queried ids, most informative first.
        annotations (dict): Id -> its returned annotation (None for VOC: the XML file).
        files (list[str]): The returned files that were read.
    """

    ids: List[str]
    annotations: Dict[str, Any]
    files: List[str]


class ReturnedAnnotationError(ValueError):
    """The returned annotations do not match the query; each attribute lists the ids concerned.

    Attributes:
        missing (list[str]): Queried samples that are not in the returned files.
        unlabeled (dict): Queried sample -> why its returned annotation does not label it.
        extra (list[str]): Samples of the dataset that are returned but were not queried.
        unknown (list[str]): Entries that are not samples of the dataset.
        duplicates (list[str]): Samples returned more than once.
        changed (list[str]): Samples labeled before the query whose annotation was edited.
    """

    def __init__(self, query_dir: str, num_queried: int, missing=(), unlabeled=None, extra=(),
                 unknown=(), duplicates=(), changed=()):
        self.query_dir, self.num_queried = query_dir, num_queried
        self.missing, self.extra, self.unknown = list(missing), list(extra), list(unknown)
        self.unlabeled = dict(unlabeled or {})
        self.duplicates, self.changed = list(duplicates), list(changed)
        super().__init__(self.message())

    def message(self) -> str:
        returned = osp.join(self.query_dir, RETURNED_DIR)
        lines = [f'The annotations in {returned} do not match the query of {self.num_queried} '
                 f'samples ({osp.join(self.query_dir, QUERY_CSV)}):']
        for what, ids in (('missing: queried but not returned', self.missing),
                          ('not labeled', [f'{i} ({why})' for i, why in self.unlabeled.items()]),
                          ('extra: samples of the dataset that were not queried', self.extra),
                          ('unknown: not samples of the dataset', self.unknown),
                          ('returned more than once', self.duplicates),
                          ('changed: annotations of samples labeled before the query were '
                           'edited', self.changed)):
            if ids:
                lines.append(f'  {what} ({len(ids)}): {listed(ids, limit=_MAX_LISTED, show=str)}')
        lines.append(f'Label every queried sample, return exactly the queried samples and leave '
                     f'the labeled ones as they are (see {osp.join(self.query_dir, README)}), '
                     f'then run again.')
        return '\n'.join(lines)


def write_query(pool: SplitPool,
                ids: Sequence[str],
                scores: Optional[Sequence[float]],
                out_dir: str,
                labeled: Optional[Sequence[str]] = None,
                resume_command: Optional[str] = None) -> dict:
    """Write the query folder for ``ids`` (see the module docstring).

    Args:
        pool (SplitPool): The training pool the ids come from.
        ids (Sequence[str]): The samples to annotate, most informative first.
        scores (Sequence[float], optional): One score per id (predicted loss, entropy...); None,
            empty or all None when the strategy has no score (random, core-set).
        out_dir (str): The query folder (created if missing).
        labeled (Sequence[str], optional): The samples labeled so far; the fingerprints of their
            annotations are kept, so :func:`check_returned` notices edits of them.
        resume_command (str, optional): Command that continues once the annotations are back;
            added to the instructions.

    Returns:
        dict: ``dir``, ``ids``, ``files`` (the query files), ``returned`` (where each annotated
        file must go), ``csv``, ``manifest``, ``readme`` and ``instructions`` (the README text).
    """
    ids = list(ids)
    if not ids:
        raise ValueError('write_query: no ids to query.')
    if scores is not None and all(score is None for score in scores):
        scores = None  # [] or all None: the strategy has no score (random, core-set)
    if scores is not None and len(scores) != len(ids):
        raise ValueError(f'write_query: {len(scores)} scores for {len(ids)} ids; they must be '
                         'aligned.')
    out_dir = osp.abspath(out_dir)
    per_leaf = pool.split_by_leaf(ids)
    pool.write(ids, out_dir, QUERY_NAME, wrappers=False)
    paths = pool.out_paths(out_dir, QUERY_NAME)
    leaves = [dict(leaf=index, dataset=pool.writers[index].describe(),
                   file=osp.basename(paths[index]), ids=leaf_ids)
              for index, leaf_ids in enumerate(per_leaf) if leaf_ids]

    table = io.StringIO()
    writer = csv.writer(table, lineterminator='\n')
    writer.writerow(['id', 'file', 'score', 'rank'])
    for rank, sample_id in enumerate(ids, 1):
        score = scores[rank - 1] if scores is not None else None
        score = '' if score is None else repr(float(score))
        writer.writerow([sample_id, pool.image_path(sample_id), score, rank])
    atomic_write_text(osp.join(out_dir, QUERY_CSV), table.getvalue())

    instructions = _instructions(pool, out_dir, leaves, len(ids), resume_command)
    atomic_write_text(osp.join(out_dir, README), instructions + '\n')
    manifest = dict(format_version=_FORMAT_VERSION, ids=ids,
                    scores=None if scores is None else list(scores), leaves=leaves,
                    labeled_fingerprints=pool.fingerprints(list(labeled or [])))
    # Written last: a folder with a manifest is a complete query.
    atomic_write_text(osp.join(out_dir, MANIFEST), json.dumps(manifest, indent=1) + '\n')
    return dict(dir=out_dir, ids=ids, files=[osp.join(out_dir, leaf['file']) for leaf in leaves],
                returned=[osp.join(out_dir, RETURNED_DIR, leaf['file']) for leaf in leaves],
                csv=osp.join(out_dir, QUERY_CSV), manifest=osp.join(out_dir, MANIFEST),
                readme=osp.join(out_dir, README), instructions=instructions)


def read_query(query_dir: str) -> dict:
    """The manifest of a query folder written by :func:`write_query`."""
    path = osp.join(query_dir, MANIFEST)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{query_dir} is not a query folder: {path} is missing (it is '
                                'written last by write_query / tools/al_select.py).')
    with open(path, encoding='utf-8') as f:
        manifest = json.load(f)
    if manifest.get('format_version') != _FORMAT_VERSION:
        raise ValueError(f'{path} has format_version={manifest.get("format_version")!r}, '
                         f'expected {_FORMAT_VERSION}.')
    return manifest


def check_returned(pool: SplitPool, query_dir: str) -> Returned:
    """Check the annotations returned for the query in ``query_dir``.

    Args:
        pool (SplitPool): The pool the query was written from (same dataset config).
        query_dir (str): The query folder.

    Returns:
        Returned: The queried ids and their returned annotations.

    Raises:
        FileNotFoundError: a returned file is missing (the message names them all).
        ReturnedAnnotationError: samples are missing, unlabeled, extra, unknown, returned twice,
            or labeled samples were edited.
    """
    query_dir = osp.abspath(query_dir)
    manifest = read_query(query_dir)
    ids = list(manifest['ids'])
    leaves = manifest['leaves']
    for leaf in leaves:
        index = leaf['leaf']
        here = pool.writers[index].describe() if index < len(pool.writers) else None
        if here != leaf['dataset']:
            raise ValueError(f'The query in {query_dir} was written for {leaf["dataset"]} but '
                             f'dataset {index} of this pool is {here}; check it with the config '
                             'that wrote it.')
    files = [osp.join(query_dir, RETURNED_DIR, leaf['file']) for leaf in leaves]
    absent = [path for path in files if not osp.isfile(path)]
    if absent:
        raise FileNotFoundError(f'No returned annotations yet: expected {absent} (the annotated '
                                f'query files, see {osp.join(query_dir, README)}).')

    queried = set(ids)
    annotations: Dict[str, Any] = {}
    unknown, duplicates, unlabeled = [], [], {}
    for leaf, path in zip(leaves, files):
        found = pool.writers[leaf['leaf']].read_returned(path, leaf['ids'])
        annotations.update(found.annotations)
        unknown += found.unknown
        duplicates += found.duplicates
        unlabeled.update((i, why) for i, why in found.unlabeled.items() if i in queried)
    problems = dict(
        missing=[i for i in ids if i not in annotations],
        unlabeled=unlabeled,
        extra=[i for i in annotations if i not in queried],
        unknown=unknown,
        duplicates=duplicates,
        changed=_changed(pool, manifest.get('labeled_fingerprints') or {}))
    if any(problems.values()):
        raise ReturnedAnnotationError(query_dir, len(ids), **problems)
    return Returned(ids=ids, annotations={i: annotations[i] for i in ids}, files=files)


def merge_returned(pool: SplitPool, returned: Returned) -> None:
    """Make ``pool`` emit the returned annotations for those samples in every later write."""
    pool.set_annotations(returned.annotations)


def apply_returned(pool: SplitPool, query_dir: str) -> Returned:
    """:func:`check_returned`, then :func:`merge_returned`."""
    returned = check_returned(pool, query_dir)
    merge_returned(pool, returned)
    return returned


def _changed(pool: SplitPool, expected: Dict[str, str]) -> List[str]:
    changed = []
    for sample_id, fingerprint in expected.items():
        try:
            now = pool.fingerprints([sample_id]).get(sample_id)
        except ValueError:  # no longer a sample of the pool
            now = None
        if now != fingerprint:
            changed.append(sample_id)
    return changed


def _instructions(pool: SplitPool, out_dir: str, leaves: List[dict], num_ids: int,
                  resume_command: Optional[str]) -> str:
    returned = osp.join(out_dir, RETURNED_DIR)
    lines = [f'{num_ids} samples to annotate, listed most informative first in '
             f'{osp.join(out_dir, QUERY_CSV)} (id, image file, score, rank).', '']
    for leaf in leaves:
        lines.append(pool.writers[leaf['leaf']].return_instructions(
            osp.join(out_dir, leaf['file']), osp.join(returned, leaf['file'])))
    lines += ['', f'Return exactly the queried samples, all of them labeled, in {returned}/ '
              'with the names of the query files. Labeled in Label Studio instead? Put the '
              f'project\'s JSON export (Export > JSON) into {returned}/: it is converted to '
              'these files.']
    if resume_command:
        lines += ['Then continue with:', f'    {resume_command}']
    return '\n'.join(lines)
