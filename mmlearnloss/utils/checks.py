"""Checks of the sample ids handed to the split writers and the pool splitter."""
from collections import Counter
from typing import List, Sequence

from .text import listed

__all__ = ['checked_id_list', 'duplicates']


def checked_id_list(ids: Sequence[str], where: str) -> List[str]:
    """``ids`` as a list, after checking it is a non-empty sequence of distinct str.

    Args:
        ids (Sequence[str]): Sample ids to write.
        where (str): Names the dataset in messages.

    Raises:
        TypeError: ``ids`` is not a sequence, or an id is not a str.
        ValueError: ``ids`` is empty or has duplicates.
    """
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
        raise TypeError(f'ids must be a sequence of str, got {type(ids).__name__}')
    ids = list(ids)
    if not ids:
        raise ValueError(f'No ids to write for {where}: a split needs at least one sample.')
    not_str = [i for i in ids if not isinstance(i, str)]
    if not_str:
        raise TypeError(f'Sample ids must be str, got {listed(not_str)} for {where}.')
    repeated = duplicates(ids)
    if repeated:
        raise ValueError(f'Duplicate ids to write for {where}: {listed(repeated)}; each sample '
                         'may appear once.')
    return ids


def duplicates(ids: Sequence[str]) -> List[str]:
    """The ids that occur more than once, in the order of their first occurrence."""
    return [i for i, n in Counter(ids).items() if n > 1]
