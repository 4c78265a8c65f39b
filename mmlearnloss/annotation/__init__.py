"""The annotation side of active learning: the dataset's annotation files and the oracle.

- ``formats/``: one split writer per annotation format (VOC, COCO, json list, index), which
  restrict a dataset to given sample ids in its own format and read annotations returned for them.
- ``query.py``: query folders for human annotators and the checks of what they return (the
  manual oracle).
- ``label_studio/``: the same through a Label Studio server (import tasks, exports read back).
"""
from .formats import (BaseSplitWriter, COCOSplitWriter, IndexSplitWriter, JsonListSplitWriter,
                      ReturnedAnnotations, VOCSplitWriter, build_split_writer, supported_datasets)
from .label_studio import (LabelStudioClient, LabelStudioError, LabelStudioOracle, collect_returned,
                           import_tasks, labeling_config, returned_from_export, write_import_files)
from .oracles import (BaseOracle, LabelStudioProjectOracle, ManualOracle, SimulatedOracle,
                      build_oracle)
from .query import (Returned, ReturnedAnnotationError, apply_returned, check_returned,
                    merge_returned, read_query, write_query)

__all__ = [
    'BaseSplitWriter', 'ReturnedAnnotations', 'VOCSplitWriter', 'COCOSplitWriter',
    'JsonListSplitWriter', 'IndexSplitWriter', 'build_split_writer', 'supported_datasets',
    'write_query', 'read_query', 'check_returned', 'merge_returned', 'apply_returned', 'Returned',
    'ReturnedAnnotationError', 'labeling_config', 'import_tasks', 'write_import_files',
    'returned_from_export', 'LabelStudioClient', 'LabelStudioError', 'LabelStudioOracle',
    'collect_returned', 'BaseOracle', 'SimulatedOracle', 'ManualOracle',
    'LabelStudioProjectOracle', 'build_oracle'
]
