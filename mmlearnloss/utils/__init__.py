"""Helpers shared by ``active/``, ``annotation/`` and ``models/``; they import nothing else of
mmlearnloss.

- ``files.py``: atomic writes (:func:`atomic_write_text`).
- ``checks.py``: checks of sample id lists (:func:`checked_id_list`, :func:`duplicates`).
- ``rng.py``: random streams seeded for a block and restored after (:func:`seeded_rng`).
- ``text.py``: short texts for messages (:func:`listed`, :func:`type_name`).
"""
from .checks import checked_id_list, duplicates
from .files import atomic_write_text
from .rng import seeded_rng
from .text import listed, type_name

__all__ = ['atomic_write_text', 'checked_id_list', 'duplicates', 'listed', 'seeded_rng',
           'type_name']
