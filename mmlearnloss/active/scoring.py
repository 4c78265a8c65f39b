"""Scoring a pool of samples with a LearningLoss model, on one process or sharded over ranks."""
import copy
import hashlib
import json
import os
import os.path as osp
from contextlib import nullcontext
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.dist import (all_gather, all_gather_object, broadcast, get_rank, get_world_size,
                           is_main_process)
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.utils import ProgressBar
from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader


def pool_loader_cfg(val_dataloader, pool, ids: Sequence[str], out_dir: str, name: str,
                    batch_size: Optional[int] = None,
                    pin_memory: Optional[bool] = None) -> Tuple[dict, List[str]]:
    """A dataloader config that iterates ``ids`` of ``pool`` once, in order, for scoring.

    It is ``val_dataloader`` (pipeline, batch size, workers: no training augmentation) with the
    dataset replaced by the pool's split (written to ``out_dir``) and a sequential sampler that
    shards over ranks without padding; ``batch_size`` and ``pin_memory``, when given, replace
    the val loader's.

    Returns:
        tuple[dict, list[str]]: The config and the ids in the order the loader yields them.
    """
    loader_cfg = plain_cfg(val_dataloader)
    dataset_cfg, ordered = pool.pool_cfg(ids, out_dir, name,
                                         pipeline=leaf_pipeline(loader_cfg['dataset']))
    loader_cfg['dataset'] = dataset_cfg
    loader_cfg['sampler'] = dict(type='DefaultSampler', shuffle=False, round_up=False)
    # Batches in sampler order, every sample once: a val config's batch sampler (mmdet's
    # AspectRatioBatchSampler groups by shape) would reorder them, and scores follow the order.
    loader_cfg['batch_sampler'] = None
    loader_cfg['drop_last'] = False
    loader_cfg['persistent_workers'] = False
    if batch_size:
        loader_cfg['batch_size'] = batch_size
    if pin_memory is not None:
        loader_cfg['pin_memory'] = pin_memory
    return loader_cfg, ordered


def leaf_pipeline(dataset_cfg: dict) -> list:
    """The pipeline of a (possibly wrapped) dataset config."""
    while 'pipeline' not in dataset_cfg:
        if 'dataset' in dataset_cfg:
            dataset_cfg = dataset_cfg['dataset']
        elif 'datasets' in dataset_cfg:
            dataset_cfg = dataset_cfg['datasets'][0]
        else:
            raise KeyError('The val dataset config has no pipeline.')
    return copy.deepcopy(dataset_cfg['pipeline'])


def plain_cfg(cfg) -> dict:
    """A deep copy of a config section as plain dicts and lists (``ConfigDict.update`` would
    merge instead of replace)."""
    return copy.deepcopy(cfg.to_dict() if hasattr(cfg, 'to_dict') else dict(cfg))


def sync_buffers(model) -> None:
    """Give every rank rank 0's buffers (the ones its checkpoint holds).

    DDP keeps parameters in sync but, with ``broadcast_buffers=False``, not BatchNorm
    statistics, so ranks would evaluate and score with different models.
    """
    if get_world_size() > 1:
        model = model.module if is_model_wrapper(model) else model
        for buffer in model.buffers():
            broadcast(buffer, src=0)


def scoring_autocast(model, amp: bool):
    """Mixed precision for scoring when ``amp``: float16 on a GPU, bfloat16 on the CPU (where
    float16 matrix products are slow or missing). Values are returned in float32 either way."""
    if not amp:
        return nullcontext()
    param = next(model.parameters(), None)
    device_type = 'cpu' if param is None else param.device.type
    return torch.autocast(device_type=device_type,
                          dtype=torch.float16 if device_type == 'cuda' else torch.bfloat16)


@torch.no_grad()
def score_pool(model, loader, ids: Sequence[str], needs: Union[str, Sequence[str]],
               amp: bool = False, chunk_dir: Optional[str] = None, chunk_size: int = 1000,
               chunk_key: str = '') -> Tuple[List[str], Union[Tensor, dict]]:
    """Run ``model.score_step`` over ``loader`` and return ``(ids, values)`` aligned by position.

    ``loader`` iterates a dataset whose i-th sample is ``ids[i]``, with mmengine's
    ``DefaultSampler(shuffle=False, round_up=False)``: each rank scores its own shard
    (``rank, rank + world, ...``, no padding duplicates) and the shards are gathered so every
    rank returns the values of the whole pool in ``ids`` order.

    With ``chunk_dir`` each rank saves the values of every ``chunk_size`` samples of its shard
    (rounded down to whole batches, so a chunk's batches are the ones an uninterrupted run
    makes) as soon as they are scored, atomically; a run that died while scoring scores only the
    chunks it had not saved. A chunk's file is named by a hash of everything its values depend
    on (the ids, ``needs``, ``amp``, the batching, the number of ranks, the model's weights and
    ``chunk_key``), so other weights or another pool never reuse it.

    Args:
        model: A :class:`LearningLoss` (or a DDP wrapper of one).
        loader: The scoring dataloader.
        ids (Sequence[str]): Sample ids in dataset order.
        needs (str | Sequence[str]): ``'pred_loss'``, ``'features'`` or ``'uncertainty'``; or
            several of them, in one pass: ``values`` is then a dict keyed by them.
        amp (bool): Score under mixed precision (:func:`scoring_autocast`).
        chunk_dir (str, optional): Where to save and find the chunks. None saves nothing.
        chunk_size (int): Samples per chunk of a rank's shard (at least one batch).
        chunk_key (str): Anything else the values depend on (the loop: its config hash).
    """
    model = model.module if is_model_wrapper(model) else model
    if not hasattr(model, 'score_step'):
        raise TypeError(f'Scoring needs model.score_step: wrap {type(model).__name__} in '
                        f'mmlearnloss.LearningLoss.')
    if len(loader.dataset) != len(ids):
        raise RuntimeError(f'The scoring dataset has {len(loader.dataset)} samples but '
                           f'{len(ids)} ids were given; the dataset filtered or repeated samples.')
    if type(loader.batch_sampler) is not torch.utils.data.BatchSampler or \
            loader.batch_sampler.sampler is not loader.sampler or loader.batch_sampler.drop_last:
        raise RuntimeError(f'Scoring attaches values to ids in sampler order, but the loader '
                           f'batches with a {type(loader.batch_sampler).__name__}: build it from '
                           f'pool_loader_cfg (plain batches of the sampler, none dropped).')
    sync_buffers(model)
    names = (needs, ) if isinstance(needs, str) else tuple(needs)
    shard = list(iter(loader.sampler))  # this rank's dataset indices, in batch order
    batch_size = loader.batch_sampler.batch_size
    if chunk_dir is None:
        length = max(len(shard), 1)  # one chunk, kept in memory only
    else:
        length = max(chunk_size // batch_size, 1) * batch_size
        prefix = osp.join(chunk_dir, _chunk_hash(model, ids, names, amp, batch_size, length,
                                                 chunk_key))
    chunks = [shard[start:start + length] for start in range(0, len(shard), length)]
    paths = [None if chunk_dir is None else
             f'{prefix}_rank_{get_rank()}_of_{get_world_size()}_chunk_{c}.pth'
             for c in range(len(chunks))]
    done = [_load_chunk(path, chunk) for path, chunk in zip(paths, chunks)]
    missing = [c for c, values in enumerate(done) if values is None]
    to_score = sum(all_gather_object(sum(len(chunks[c]) for c in missing)))  # on all ranks
    if chunk_dir is not None:
        print_log(f'Scoring: reused {len(ids) - to_score} of {len(ids)} samples saved in '
                  f'{chunk_dir}, {to_score} to score.', logger='current')
    if missing and len(missing) < len(chunks):  # the unsaved chunks, batched as before
        loader = _loader_over(loader, [i for c in missing for i in chunks[c]])
    was_training = model.training
    model.eval()
    bar = ProgressBar(to_score) if is_main_process() and to_score else None
    # The batches fill the missing chunks in order; each is saved once full.
    pending = iter(missing)
    current, parts = next(pending, None), {name: [] for name in names}
    for data in (loader if missing else ()):  # all reused: no workers started
        with scoring_autocast(model, amp):
            batch = model.score_step(data, needs=names)
        for name in names:
            parts[name].append(batch[name].float().cpu())
        if sum(map(len, parts[names[0]])) == len(chunks[current]):
            done[current] = {name: torch.cat(parts[name]) for name in names}
            if paths[current] is not None:
                _save_chunk(paths[current], chunks[current], done[current])
            current, parts = next(pending, None), {name: [] for name in names}
        if bar is not None:
            for _ in range(len(batch[names[0]]) * get_world_size()):
                bar.update()
    if bar is not None:
        print(flush=True)
    model.train(was_training)
    full = {name: _gather(shard, [values[name] for values in done if values is not None],
                          len(ids)) for name in names}
    return list(ids), full[needs] if isinstance(needs, str) else full


def _chunk_hash(model, ids: Sequence[str], names: Tuple[str, ...], amp: bool, batch_size: int,
                length: int, key: str) -> str:
    """A digest of everything a chunk's values depend on, to name its file by."""
    digest = hashlib.sha256(json.dumps(
        dict(ids=list(ids), needs=names, amp=amp, batch_size=batch_size, chunk=length,
             world_size=get_world_size(), key=key)).encode())
    for name, tensor in model.state_dict().items():  # the weights (and buffers) that score
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()[:16]


def _load_chunk(path: Optional[str], indices: List[int]) -> Optional[Dict[str, Tensor]]:
    """The values a chunk file holds, or None if there is none (for these very samples)."""
    if path is None or not osp.exists(path):
        return None
    saved = torch.load(path, map_location='cpu', weights_only=True)
    if saved.pop('indices').tolist() != indices:
        return None
    return saved


def _save_chunk(path: str, indices: List[int], values: Dict[str, Tensor]) -> None:
    """Write a chunk to a temporary file and rename it: a kill leaves the whole file or none."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    torch.save(dict(values, indices=torch.as_tensor(indices, dtype=torch.long)), path + '.tmp')
    os.replace(path + '.tmp', path)


def _loader_over(loader, indices: List[int]) -> DataLoader:
    """``loader``'s dataset, batch size, collation and workers, over ``indices`` only."""
    return DataLoader(
        loader.dataset, batch_sampler=BatchSampler(indices, loader.batch_sampler.batch_size,
                                                   drop_last=False),
        num_workers=loader.num_workers, collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory, timeout=loader.timeout,
        worker_init_fn=loader.worker_init_fn, generator=loader.generator,
        prefetch_factor=loader.prefetch_factor,
        multiprocessing_context=loader.multiprocessing_context)


def _gather(shard: List[int], values: List[Tensor], num_ids: int) -> Tensor:
    """Every rank's values of its ``shard`` (dataset indices), as one tensor in dataset order.

    The values travel as tensors (a rank's shard padded to the longest), never pickled: core-set
    features of a large pool are gigabytes. Only each rank's row count, shape and dtype are
    exchanged as objects.
    """
    local = torch.cat(values) if values else None
    if len(shard) != (0 if local is None else len(local)):
        raise RuntimeError(f'This rank scored {0 if local is None else len(local)} samples but '
                           f'its shard has {len(shard)}.')
    indices = torch.as_tensor(shard, dtype=torch.long)
    if get_world_size() == 1:
        gathered = [(indices, local)] if local is not None else []
    else:
        meta = all_gather_object(
            (len(shard), None if local is None else (tuple(local.shape[1:]), local.dtype)))
        counts = [count for count, _ in meta]
        row_shape, dtype = next(m for _, m in meta if m is not None)
        longest = max(counts)
        padded = torch.zeros((longest, *row_shape), dtype=dtype)
        padded_indices = torch.full((longest, ), -1, dtype=torch.long)
        if local is not None:
            padded[:len(local)] = local
            padded_indices[:len(local)] = indices
        gathered = [(rank_indices[:count], rank_values[:count]) for count, rank_indices, rank_values
                    in zip(counts, all_gather(padded_indices), all_gather(padded)) if count]
    if not gathered:
        raise RuntimeError('No rank scored any sample.')
    template = gathered[0][1]
    full = template.new_empty((num_ids, *template.shape[1:]))
    for rank_indices, rank_values in gathered:
        full[rank_indices] = rank_values
    total = sum(len(rank_indices) for rank_indices, _ in gathered)
    if total != num_ids:
        raise RuntimeError(f'The ranks scored {total} samples in all, expected {num_ids}.')
    return full
