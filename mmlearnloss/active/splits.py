"""PoolSplitter: the per-stage split of the training dataset into annotation files.

The split writers (one per annotation format, :mod:`mmlearnloss.annotation.formats`) restrict one
dataset to given sample ids. :class:`PoolSplitter` handles the wrapped configs the frameworks train
on (mmdet VOC07+12 is ``RepeatDataset(ConcatDataset([VOC2007, VOC2012]))``): one writer per leaf
dataset, the wrappers kept around the written leaves. A concatenation yields its leaves one after
the other, so its ``write`` also returns the order in which the built dataset yields the ids.
"""
import copy
from collections.abc import Mapping
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from mmlearnloss.annotation.formats import BaseSplitWriter, build_split_writer
from mmlearnloss.utils import checked_id_list, listed, type_name

__all__ = ['PoolSplitter']

# Wrappers that hold a list of datasets and yield them one after the other.
_CONCAT_TYPES = ('ConcatDataset', )


class PoolSplitter:
    """Split a (possibly wrapped) training dataset config by sample ids.

    Leaves are the datasets inside the wrappers: ``ConcatDataset(datasets=[...])`` yields its
    leaves one after the other; single-dataset wrappers (``RepeatDataset``,
    ``ClassBalancedDataset``...) are kept around the written leaves, or dropped for scoring.
    Each leaf gets the writer :func:`build_split_writer` picks.

    Args:
        dataset_cfg (dict): The training dataset config (``train_dataloader.dataset``).
    """

    def __init__(self, dataset_cfg: dict) -> None:
        self.dataset_cfg = copy.deepcopy(dataset_cfg)
        self.writers: List[BaseSplitWriter] = [
            build_split_writer(leaf) for leaf in _leaves(self.dataset_cfg)
        ]
        self._owner: Optional[Dict[str, int]] = None

    def sample_ids(self) -> List[str]:
        """Ids of all leaves, leaf after leaf, each in its dataset's order."""
        ids = []
        for writer in self.writers:
            ids.extend(writer.sample_ids())
        if self._owner is None:
            owner: Dict[str, int] = {}
            for index, writer in enumerate(self.writers):
                for i in writer.sample_ids():
                    if i in owner:
                        raise ValueError(
                            f'Sample id {i!r} is in two datasets: '
                            f'{self.writers[owner[i]].describe()} and {writer.describe()}; ids '
                            'must be unique across the datasets of a concatenation.')
                    owner[i] = index
            self._owner = owner
        return ids

    def write(self,
              ids: Sequence[str],
              out_dir: str,
              name: str,
              wrappers: bool = True) -> Tuple[dict, List[str]]:
        """Write the split for ``ids`` and return a config with the original nesting.

        Args:
            ids (Sequence[str]): Sample ids from :meth:`sample_ids`.
            out_dir (str): Directory for the annotation files.
            name (str): Part of the file names, e.g. ``'stage_1_labeled'``.
            wrappers (bool): Keep single-dataset wrappers (``RepeatDataset``...). Use False for a
                dataset that is iterated once in order (scoring). Concatenations are always kept;
                one left with a single dataset is replaced by it.

        Returns:
            tuple[dict, list[str]]: The config, and the ids in the order the dataset built from it
            yields them (leaf after leaf; within a leaf, in the order of ``ids``). With a
            ``RepeatDataset`` kept, this order is one pass of the repetition.
        """
        return self._write(ids, out_dir, name, wrappers, overrides={})

    def pool_cfg(self, ids: Sequence[str], out_dir: str, name: str,
                 pipeline: list) -> Tuple[dict, List[str]]:
        """Like ``write(..., wrappers=False)``, for scoring: every leaf gets ``pipeline`` (e.g. the
        val pipeline), ``test_mode=True`` and ``filter_cfg=None``, so no dataset filters samples
        (that would break the mapping between ids and the order of the samples). ``filter_cfg``
        goes because mmdet's XMLDataset asserts ``bbox_min_size`` is unset in test mode."""
        return self._write(
            ids, out_dir, name, wrappers=False,
            overrides=dict(pipeline=copy.deepcopy(list(pipeline)), test_mode=True,
                           filter_cfg=None))

    def _write(self, ids: Sequence[str], out_dir: str, name: str, wrappers: bool,
               overrides: dict) -> Tuple[dict, List[str]]:
        ids = checked_id_list(ids, 'the training dataset')
        self.sample_ids()
        unknown = [i for i in ids if i not in self._owner]
        if unknown:
            examples = [w.sample_ids()[:2] for w in self.writers]
            raise ValueError(f'{len(unknown)} of the ids to write are not samples of the training '
                             f'dataset: {listed(unknown)}. Ids look like {examples}.')
        per_leaf: List[List[str]] = [[] for _ in self.writers]
        for i in ids:
            per_leaf[self._owner[i]].append(i)
        names = self._leaf_names(out_dir, name)
        leaf_cfgs = []
        for writer, leaf_ids, leaf_name in zip(self.writers, per_leaf, names):
            if not leaf_ids:
                leaf_cfgs.append(None)
                continue
            leaf_cfg = writer.write(leaf_ids, out_dir, leaf_name)
            leaf_cfg.update(copy.deepcopy(overrides))
            leaf_cfgs.append(leaf_cfg)
        cfg = _rebuild(self.dataset_cfg, iter(leaf_cfgs), wrappers)
        ordered = [i for leaf_ids in per_leaf for i in leaf_ids]
        return cfg, ordered

    def _leaf_names(self, out_dir: str, name: str) -> List[str]:
        names = [name] * len(self.writers)
        paths = [w.out_path(out_dir, name) for w in self.writers]
        if len(set(paths)) < len(paths):  # leaves with the same tag
            names = [f'{name}_{index}' for index in range(len(self.writers))]
        return names

    # -- human labels (mmlearnloss.annotation.query) -----------------------------------------------

    def out_paths(self, out_dir: str, name: str) -> List[str]:
        """The file :meth:`write` writes for each leaf under ``out_dir`` (leaf order)."""
        return [w.out_path(out_dir, leaf_name)
                for w, leaf_name in zip(self.writers, self._leaf_names(out_dir, name))]

    def leaf_index(self, sample_id: str) -> int:
        """Index in :attr:`writers` of the leaf dataset that holds ``sample_id``."""
        self.sample_ids()
        if sample_id not in self._owner:
            raise ValueError(f'{sample_id!r} is not a sample of the training dataset.')
        return self._owner[sample_id]

    def split_by_leaf(self, ids: Sequence[str]) -> List[List[str]]:
        """``ids`` grouped by leaf (leaf order), keeping their order within a leaf."""
        per_leaf: List[List[str]] = [[] for _ in self.writers]
        for i in ids:
            per_leaf[self.leaf_index(i)].append(i)
        return per_leaf

    def image_path(self, sample_id: str) -> str:
        """The sample's image file (see :meth:`BaseSplitWriter.image_path`)."""
        return self.writers[self.leaf_index(sample_id)].image_path(sample_id)

    def fingerprints(self, ids: Sequence[str]) -> Dict[str, str]:
        """Hash of each sample's current annotation, for the ids whose format can tell."""
        found = {}
        for i in ids:
            value = self.writers[self.leaf_index(i)].fingerprint(i)
            if value is not None:
                found[i] = value
        return found

    def set_annotations(self, annotations: Mapping) -> None:
        """Use the returned annotations (sample id -> entry) in every later :meth:`write`."""
        per_leaf = self.split_by_leaf(list(annotations))
        for writer, leaf_ids in zip(self.writers, per_leaf):
            if leaf_ids:
                writer.set_annotations({i: annotations[i] for i in leaf_ids})


def _node_kind(node: Mapping) -> str:
    """'concat', 'wrapper' (one inner dataset) or 'leaf'."""
    if type_name(node.get('type', '')) in _CONCAT_TYPES:
        return 'concat'
    if isinstance(node.get('datasets'), (list, tuple)):
        raise ValueError(f'Unsupported dataset wrapper {node.get("type")!r}: of the wrappers of '
                         f'several datasets only {list(_CONCAT_TYPES)} can be split.')
    if isinstance(node.get('dataset'), Mapping):
        return 'wrapper'
    return 'leaf'


def _leaves(node: Mapping) -> List[Mapping]:
    kind = _node_kind(node)
    if kind == 'concat':
        return [leaf for child in node['datasets'] for leaf in _leaves(child)]
    if kind == 'wrapper':
        return _leaves(node['dataset'])
    return [node]


def _rebuild(node: Mapping, leaf_cfgs: Iterator[Optional[dict]],
             wrappers: bool) -> Optional[dict]:
    """The config ``node`` with its leaves replaced, in order, by ``leaf_cfgs`` (None: dropped)."""
    kind = _node_kind(node)
    if kind == 'concat':
        children = [_rebuild(child, leaf_cfgs, wrappers) for child in node['datasets']]
        children = [child for child in children if child is not None]
        if len(children) <= 1:
            return children[0] if children else None
        return _replaced(node, 'datasets', children)
    if kind == 'wrapper':
        child = _rebuild(node['dataset'], leaf_cfgs, wrappers)
        if child is None or not wrappers:
            return child
        return _replaced(node, 'dataset', child)
    return next(leaf_cfgs)


def _replaced(node: Mapping, key: str, value) -> dict:
    new = copy.deepcopy(node)
    new[key] = value
    return new
