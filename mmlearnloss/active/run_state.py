"""The state a run starts from: a new one (its initial labeled set drawn), or the one it resumes,
whose config hash must match the run's config."""
import os.path as osp
import random

from mmengine.dist import barrier
from mmengine.logging import print_log

from .splits import PoolSplitter
from .state import ALState, canonical_config, config_hash

#: Config keys earlier versions left out of the state's config hash: their state files keep
#: resuming.
LEGACY_HASH_IGNORE = ('work_dir', 'resume', 'load_from', 'launcher', 'env_cfg', 'log_level',
                      'train_cfg.oracle.url',  # a Label Studio server restarted elsewhere
                      'model_wrapper_cfg', 'experiment_name',
                      'default_hooks', 'visualizer', 'log_processor')
#: Config keys that do not change the experiment, left out of the state's config hash: where
#: the run and its data are, how it is launched and logged, how many workers load the data.
HASH_IGNORE = LEGACY_HASH_IGNORE + ('*.data_root', '*.num_workers', '*.persistent_workers',
                                    '*.pin_memory', '*.prefetch_factor')


def load_or_create_state(cfg: dict, path: str, resume: bool, pool: PoolSplitter,
                         initial_size: int, query_size: int, num_stages: int,
                         seed: int) -> ALState:
    """The state the run resumes from ``path`` (``resume``), or a new one with the initial
    labeled set drawn and no stages yet (the caller writes its first split and saves it).

    Args:
        cfg (dict): The run's config, as a plain dict; the state keeps it without what
            :data:`HASH_IGNORE` names and ``train_cfg.resume`` / ``resume_from``.
        path (str): The state file, ``WORK_DIR/al_state.json``.
        resume (bool): Resume the state in ``path``; without it an existing state is an error,
            so a run is never overwritten by accident.
        pool (PoolSplitter): The training pool.
        initial_size (int): Size of the random initial labeled set.
        query_size (int): Samples labeled after each stage but the last.
        num_stages (int): Number of stages.
        seed (int): Seed of the initial set.
    """
    train_cfg = {k: v for k, v in cfg['train_cfg'].items() if k not in ('resume', 'resume_from')}
    cfg = dict(cfg, train_cfg=train_cfg)
    canonical = canonical_config(cfg, ignore=HASH_IGNORE)
    cfg_hash = config_hash(canonical)
    exists = osp.exists(path)
    barrier()  # every rank looks before rank 0 writes a new state
    if exists and not resume:
        raise FileExistsError(f'{path} exists: the work dir holds an active-'
                              f'learning run. Resume it (al_train.py --resume) or choose '
                              f'another work dir.')
    if resume:
        if not exists:
            raise FileNotFoundError(f'Nothing to resume: {path} does not exist.')
        state = ALState.load(
            path, config=canonical,
            expected_config_hash=[cfg_hash, config_hash(cfg, LEGACY_HASH_IGNORE)])
        state.config_hash, state.config = cfg_hash, canonical  # saved from now on
        print_log(f'Resuming active learning from {path}: stage '
                  f'{state.stage + 1}, {len(state.labeled)} labeled.', logger='current')
        return state
    ids = pool.sample_ids()
    if not ids:
        raise ValueError('The training pool is empty: the train dataset config '
                         f'{pool.dataset_cfg.get("type")} lists no samples.')
    if initial_size > len(ids):
        raise ValueError(f'initial_size={initial_size} is larger than the training '
                         f'pool ({len(ids)} samples).')
    needed = initial_size + query_size * (num_stages - 1)
    if needed > len(ids):
        raise ValueError(f'{num_stages} stages with initial_size={initial_size} '
                         f'and query_size={query_size} need {needed} samples, but the '
                         f'pool has {len(ids)}.')
    initial = random.Random(f'{seed}-initial').sample(ids, initial_size)
    return ALState(config_hash=cfg_hash, seed=seed, stage=0, labeled=initial, stages=[],
                   config=canonical)
