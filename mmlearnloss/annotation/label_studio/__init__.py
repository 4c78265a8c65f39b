"""Label Studio as the oracle: the conversions between its results and the dataset's format
(``formats.py``), the files a project is made from and its export read back (``tasks.py``), and
the client that sends a query to a server and fetches its annotations back (``oracle.py``)."""
from .formats import label_studio_format
from .oracle import (AnnotationsPending, LabelStudioClient, LabelStudioError, LabelStudioOracle,
                     collect_returned)
from .tasks import (CONFIG_FILE, EXPORT_FILE, TASKS_FILE, find_export, image_url, import_tasks,
                    labeling_config, read_export, returned_from_export, task_is_done,
                    write_import_files)

__all__ = [
    'TASKS_FILE', 'CONFIG_FILE', 'EXPORT_FILE', 'labeling_config', 'import_tasks',
    'write_import_files', 'image_url', 'find_export', 'read_export', 'task_is_done',
    'returned_from_export', 'label_studio_format', 'LabelStudioError', 'AnnotationsPending',
    'LabelStudioClient', 'LabelStudioOracle', 'collect_returned'
]
