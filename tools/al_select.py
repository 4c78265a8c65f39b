"""Select samples for human annotation with a trained model and export the query.

    python tools/al_select.py CONFIG CHECKPOINT --budget K --out DIR [--pool ANN] [options]

Scores an unlabeled pool (default: the config's whole training set; ``--pool`` an annotation file
in the dataset's format, e.g. a VOC ImageSets list or an MPII json list) with the model of CONFIG
and the weights of CHECKPOINT, picks the K most informative samples with the config's strategy
(``train_cfg.strategy``, built as ActiveLearningLoop builds it; ``--strategy NAME`` overrides it),
and writes the query folder of ``mmlearnloss.annotation.query.write_query``: the samples in the
dataset's own format (VOC ImageSets txt per year / COCO json / MPII json list), ``query.csv`` (id,
file, score, rank; rank 1 = most informative) and a README saying what to annotate and where to
put it.
``--format label-studio`` also writes a Label Studio import file (the tasks, most informative
first, pre-annotated with the model's predictions) and labeling config; the project's JSON export
put into the query's ``returned/`` folder is then read as the returned annotations.
"""
import argparse
import copy
import os
import os.path as osp
import tempfile
from typing import List, Optional

import torch
from mmengine.config import Config, DictAction

#: ActiveLearningLoop's strategy when train_cfg sets none.
DEFAULT_STRATEGY = 'learning_loss'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Score an unlabeled pool with a trained learning-loss model and export the '
        'K most informative samples for annotation.')
    parser.add_argument('config', help='the config the model was trained with')
    parser.add_argument('checkpoint', help='the trained weights (.pth)')
    parser.add_argument('--budget', type=int, required=True, metavar='K',
                        help='how many samples to select')
    parser.add_argument('--out', required=True, metavar='DIR', help='the query folder to write')
    parser.add_argument('--pool', metavar='ANN',
                        help='annotation file listing the unlabeled pool, in the dataset\'s format '
                        '(VOC ImageSets txt, COCO json, MPII json list); it replaces the training '
                        'set\'s annotation file (for VOC07+12: of the year whose folder holds it). '
                        'Default: the whole training set')
    parser.add_argument('--labeled', metavar='ANN',
                        help='annotation file of the labeled set, same format; needed by the '
                        'strategies that use labeled-set outputs (coreset: the labeled samples '
                        'are its initial centers)')
    parser.add_argument('--strategy', metavar='NAME',
                        help='selection strategy, with its default options, instead of the '
                        'config\'s train_cfg.strategy: a registered name (learning_loss, '
                        'diverse_learning_loss, entropy, random, coreset, mmlearnloss.<Class>, '
                        'or one a custom_imports module registers). Default: the config\'s '
                        f'strategy ({DEFAULT_STRATEGY} if it sets none)')
    parser.add_argument('--batch-size', type=int,
                        help='scoring batch size (default: the val dataloader\'s)')
    parser.add_argument('--device', help='cpu, cuda, cuda:1... (default: cuda if available)')
    parser.add_argument('--seed', type=int, default=0, help='seed of random selection')
    parser.add_argument('--format', choices=('dataset', 'label-studio'), default='dataset',
                        help='label-studio: also write label_studio_tasks.json (tasks with the '
                        'model\'s predictions) and label_studio_config.xml for a Label Studio '
                        'project (default: the dataset\'s format only)')
    parser.add_argument('--files-root', default='/', metavar='DIR',
                        help='with --format label-studio: the LOCAL_FILES_DOCUMENT_ROOT of the '
                        'Label Studio server; image URLs are made relative to it (default /)')
    parser.add_argument('--score-threshold', type=float, default=0.3,
                        help='with --format label-studio: leave out predicted boxes / joints '
                        'below this confidence (default 0.3)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. data_root=...')
    args = parser.parse_args(argv)
    if args.budget < 1:
        parser.error(f'--budget must be a positive number of samples, got {args.budget}')
    if args.strategy and not args.labeled:
        # A built-in strategy fails here, before the config and model load; the config's and
        # those its custom_imports register are checked in main.
        from mmlearnloss.active.strategies import build_strategy
        try:
            strategy = build_strategy(args.strategy)
        except (KeyError, TypeError, ValueError):
            strategy = None
        if strategy is not None and strategy.needs_labeled:
            parser.error(missing_labeled(strategy, f'--strategy {args.strategy}'))
    return args


def fail(message: str):
    raise SystemExit(f'al_select.py: error: {message}')


def choose_strategy(cfg: Config, name: Optional[str]):
    """The strategy to select with and where it comes from: ``--strategy NAME`` if given, else
    the config's ``train_cfg.strategy`` (a name or a cfg dict), built by ``build_strategy`` as
    ActiveLearningLoop builds it."""
    from mmlearnloss.active.strategies import build_strategy
    train_cfg = cfg.get('train_cfg') or {}
    if name is not None:
        spec, source = name, f'--strategy {name}'
    elif train_cfg.get('strategy') is not None:
        spec, source = train_cfg['strategy'], f'train_cfg.strategy of {cfg.filename}'
    else:
        spec, source = DEFAULT_STRATEGY, f'the default: {cfg.filename} sets no train_cfg.strategy'
    if hasattr(spec, 'to_dict'):
        spec = spec.to_dict()
    try:
        return build_strategy(spec), source
    except (KeyError, TypeError, ValueError) as e:
        fail(f'cannot build the strategy {spec!r} of {source}: {e}\nRegistered strategies: '
             f'{", ".join(registered_strategies())}; pass one to --strategy.')


def registered_strategies() -> List[str]:
    """The names ``build_strategy`` takes: those of mmlearnloss's strategies (short and class
    names), and ``scope.Name`` for those other packages (a config's custom_imports) register."""
    from mmengine.registry import TASK_UTILS

    from mmlearnloss.active.strategies import BaseStrategy
    names = []
    for registry in [TASK_UTILS, *TASK_UTILS.children.values()]:
        for name, cls in sorted(registry.module_dict.items()):
            if isinstance(cls, type) and issubclass(cls, BaseStrategy):
                # build_strategy looks names up in mmlearnloss's registry, then its parent's.
                own = registry.scope in ('mmlearnloss', 'mmengine')
                names.append(name if own else f'{registry.scope}.{name}')
    return names


def missing_labeled(strategy, source: str) -> str:
    """The error for a strategy that needs the labeled set's outputs when --labeled is missing."""
    return (f'{type(strategy).__name__} ({source}) needs the {describe_needs(strategy.needs)} '
            'of the labeled set too: pass --labeled ANN, the annotation file of the labeled '
            'samples in the dataset\'s format.')


def describe_needs(needs) -> str:
    return needs if isinstance(needs, str) else ', '.join(needs)


def pool_dataset_cfg(dataset_cfg: dict, ann_file: Optional[str]) -> dict:
    """The training dataset config, or its leaf reading ``ann_file`` instead of its own.

    With several leaves (VOC07+12) the leaf is the one whose folder (``data_root`` +
    ``data_prefix.sub_data_root``) holds ``ann_file``.
    """
    from mmlearnloss.active.splits import PoolSplitter
    if ann_file is None:
        return dataset_cfg
    path = osp.abspath(ann_file)
    if not osp.isfile(path):
        fail(f'annotation file not found: {ann_file}')
    leaves = [writer.dataset_cfg for writer in PoolSplitter(dataset_cfg).writers]
    if len(leaves) == 1:
        chosen = leaves[0]
    else:
        roots = [_leaf_root(leaf) for leaf in leaves]
        matches = [(len(root), index) for index, root in enumerate(roots)
                   if path.startswith(root.rstrip(os.sep) + os.sep)]
        if not matches:
            fail(f'{ann_file} is in none of the training set\'s dataset folders {roots}; put the '
                 'pool file into the folder of the dataset (e.g. VOC2012/ImageSets/Main/) whose '
                 'images it lists.')
        chosen = leaves[max(matches)[1]]
    leaf = copy.deepcopy(chosen)
    leaf['ann_file'] = path  # absolute: mmengine joins only relative paths with data_root
    return leaf


def _leaf_root(leaf: dict) -> str:
    data_root = leaf.get('data_root') or ''
    prefix = leaf.get('data_prefix') or {}
    sub_root = prefix.get('sub_data_root', '') if isinstance(prefix, dict) else ''
    return osp.abspath(osp.join(data_root, sub_root))


def build_model(cfg: Config, checkpoint: str, device: str):
    """The config's model under its default scope, with the checkpoint's weights."""
    from mmengine.registry import MODELS
    from mmengine.runner import load_checkpoint
    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor') is not None:  # as mmengine's Runner.build_model
        model_cfg.setdefault('data_preprocessor', copy.deepcopy(cfg.data_preprocessor))
    model = MODELS.build(model_cfg)
    if not hasattr(model, 'score_step'):
        fail(f'the model of {cfg.filename} is a {type(model).__name__}; selection needs '
             'mmlearnloss.LearningLoss (type="mmlearnloss.LearningLoss", architecture=...).')
    try:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    except RuntimeError as e:  # mmengine lists every mismatching key: keep the start
        fail(f'{checkpoint} does not hold the weights of the model of {cfg.filename}:\n'
             f'{str(e)[:800]}')
    return model.to(device).eval()


def score(model, cfg: Config, pool, ids: List[str], needs: str, batch_size: Optional[int]):
    """Score ``ids`` of ``pool`` with the val pipeline, in order; returns (ids, values)."""
    from mmengine.runner import Runner

    from mmlearnloss.active.scoring import pool_loader_cfg, score_pool
    val_dataloader = cfg.get('val_dataloader') or cfg.get('test_dataloader')
    if not val_dataloader:
        fail(f'{cfg.filename} has no val_dataloader (or test_dataloader) to take the scoring '
             'pipeline and batch size from.')
    with tempfile.TemporaryDirectory(prefix='al_select_') as tmp:
        loader_cfg, ordered = pool_loader_cfg(val_dataloader, pool, ids, tmp, 'pool', batch_size)
        loader = Runner.build_dataloader(loader_cfg)
        print(f'Scoring {len(ordered)} samples ({describe_needs(needs)}) on '
              f'{next(model.parameters()).device}', flush=True)
        return score_pool(model, loader, ordered, needs)


def write_label_studio(model, cfg: Config, pool, query: dict, scores, args) -> str:
    """The Label Studio import files of ``query`` (tasks with the model's predictions, labeling
    config); their instructions are added to the query's README, which is returned."""
    from mmlearnloss.active.predictions import predict_samples
    from mmlearnloss.annotation.label_studio.tasks import (import_instructions, import_tasks,
                                                           write_import_files)
    try:
        tasks = import_tasks(pool, query['ids'], scores, None, args.files_root)  # checks first
    except ValueError as e:
        fail(str(e))
    with tempfile.TemporaryDirectory(prefix='al_select_') as tmp:
        print(f'Predicting the {len(query["ids"])} selected samples (pre-annotations)', flush=True)
        predictions = predict_samples(model, cfg.get('val_dataloader') or cfg.test_dataloader,
                                      pool, query['ids'], tmp, 'query')
    tasks = import_tasks(pool, query['ids'], scores, predictions, args.files_root,
                         query=query['dir'], model_version=osp.basename(args.checkpoint),
                         score_threshold=args.score_threshold)
    query['label_studio'] = list(write_import_files(pool, query['dir'], tasks,
                                                    title='Label what the model should learn '
                                                    'next'))
    text = query['instructions'] + '\n\n' + import_instructions(query['dir'], args.files_root)
    with open(query['readme'], 'w', encoding='utf-8') as f:
        f.write(text + '\n')
    return text


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)  # imports custom_imports (mmlearnloss)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    from mmengine.registry import init_default_scope

    from mmlearnloss.active.selection import select_and_score
    from mmlearnloss.active.splits import PoolSplitter
    from mmlearnloss.annotation.query import MANIFEST, write_query
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    strategy, source = choose_strategy(cfg, args.strategy)
    if strategy.needs_labeled and not args.labeled:
        fail(missing_labeled(strategy, source))
    print(f'Strategy: {strategy!r}, from {source}', flush=True)

    if osp.exists(osp.join(args.out, MANIFEST)):
        fail(f'{args.out} holds a query already ({MANIFEST}); choose another --out or delete it.')
    train_dataset = cfg.train_dataloader.dataset.to_dict()
    pool = PoolSplitter(pool_dataset_cfg(train_dataset, args.pool))
    ids = pool.sample_ids()
    if args.budget > len(ids):
        fail(f'--budget {args.budget} is larger than the pool ({len(ids)} samples).')
    labeled = PoolSplitter(pool_dataset_cfg(train_dataset, args.labeled)) if args.labeled \
        else None

    values = labeled_values = model = None
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if strategy.needs is not None or args.format == 'label-studio':
        model = build_model(cfg, args.checkpoint, device)
    if strategy.needs is not None:
        ids, values = score(model, cfg, pool, ids, strategy.needs, args.batch_size)
        if strategy.needs_labeled:
            _, labeled_values = score(model, cfg, labeled, labeled.sample_ids(), strategy.needs,
                                      args.batch_size)
    selected, scores = select_and_score(strategy, ids, args.budget, values, labeled_values,
                                        seed=args.seed)
    query = write_query(pool, selected, scores, args.out)
    if args.format == 'label-studio':
        query['instructions'] = write_label_studio(model, cfg, pool, query, scores, args)
    print(f'Selected {len(selected)} of {len(ids)} samples with {type(strategy).__name__}; '
          f'query written to {query["dir"]}:')
    for path in query['files'] + [query['csv']] + query.get('label_studio', []):
        print(f'  {path}')
    print()
    print(query['instructions'])
    return query


if __name__ == '__main__':
    main()
