"""Split writers: restrict a training dataset to given sample ids, in the dataset's own format.

One module per annotation format, one interface (:class:`BaseSplitWriter`, in ``base.py``).
Writers (all in ``TASK_UTILS``; :func:`build_split_writer` picks the first, by ``priority``, that
``serves`` a dataset; another format is one more registered writer):

- :class:`VOCSplitWriter`: ImageSets/Main txt; id ``'VOC2007/000005'`` (folder/image id).
- :class:`COCOSplitWriter`: COCO json; id ``str(image id)``.
- :class:`JsonListSplitWriter`: mmpose MPII json list (id: index of the person entry) and
  OpenMMLab 2.0 json (id: index in ``data_list``).
- :class:`IndexSplitWriter`: datasets without annotation file (CIFAR): id ``str(index)``; the
  returned config sets ``indices`` (mmengine's ``BaseDataset`` keeps their order).

The wrapped configs the frameworks train on (``RepeatDataset(ConcatDataset([...]))``) are split
by the active loop's ``PoolSplitter``, one writer per leaf dataset; the query and Label Studio code
take it as a :class:`SplitPool`.
"""
from .base import BaseSplitWriter, ReturnedAnnotations, SplitPool
from .builder import build_split_writer, split_writers, supported_datasets
from .coco import COCOSplitWriter
from .index import IndexSplitWriter
from .json_list import JsonListSplitWriter
from .voc import VOCSplitWriter

__all__ = [
    'BaseSplitWriter', 'ReturnedAnnotations', 'SplitPool', 'VOCSplitWriter', 'COCOSplitWriter',
    'JsonListSplitWriter', 'IndexSplitWriter', 'build_split_writer', 'split_writers',
    'supported_datasets'
]
