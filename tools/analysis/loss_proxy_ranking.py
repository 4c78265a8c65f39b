"""Can learning loss work for this model? What each stage's loss prediction module and cheap
proxies know about the real per-sample losses, as pairwise ranking accuracy (0.5 = chance).

Usage:
    python tools/analysis/loss_proxy_ranking.py RUN_DIR [--epochs 100] [--cfg-options ...]

RUN_DIR is one run dir of tools/al_train.py with a ``mmlearnloss.LearningLoss`` model: its
``al_state.json`` names each stage's checkpoint and labeled images, and the config copy mmengine
left there is read (``--config`` to give another). Every image is seen through the val
pipeline (no augmentation) and its real loss is computed where the network sees it
(:meth:`LearningLoss.clean_view`). Per stage:

- module, labeled: the module ranking its own labeled images (clean views);
- module, val: the module ranking the val images, as ``LossRankingMetric`` does;
- entropy, val: the entropy strategy's score ranking the val images;
- refit, val: the module fit on the labeled images' clean views afterwards (what
  ``LossModuleFitHook`` does), ranking the val images;
- ceiling, val: a fresh module fit on one half of val and scored on the other (both ways,
  averaged): what the tapped maps can say about the loss at all.
"""
import argparse
import copy
import glob
import os.path as osp
import sys
import tempfile

import torch


def find_config(run_dir: str) -> str:
    """The config mmengine copied into the run dir (the only ``*.py`` there)."""
    configs = sorted(glob.glob(osp.join(run_dir, '*.py')))
    if len(configs) != 1:
        sys.exit(f'loss_proxy_ranking.py: error: {run_dir} holds {len(configs)} config files '
                 f'({", ".join(map(osp.basename, configs)) or "none"}); pass --config.')
    return configs[0]


def diagnose(model, val: dict, labeled: dict, batch_size: int, epochs: int = 100,
             lr: float = 1e-3, seed: int = 0) -> dict:
    """The ranking accuracies of the module doc's table from ``clean_views`` (of
    ``mmlearnloss.engine.loss_module_fit_hook``) of the val and the labeled images."""
    from mmlearnloss.engine.loss_module_fit_hook import fit_head
    from mmlearnloss.evaluation.ranking_metric import ranking_accuracy
    head, criterion = model.loss_prediction_head, model.loss_prediction_loss

    def fitted(pooled, target, reset):
        fresh = copy.deepcopy(head)
        fit_head(fresh, criterion, pooled, target, batch_size, epochs, lr, reset, seed)
        return fresh

    with torch.no_grad():
        result = dict(
            module_labeled=ranking_accuracy(head.from_pooled(labeled['pooled']),
                                            labeled['target']),
            module_val=ranking_accuracy(head.from_pooled(val['pooled']), val['target']),
            entropy_val=ranking_accuracy(val['uncertainty'], val['target']))
    refit = fitted(labeled['pooled'], labeled['target'], reset=False)
    order = torch.randperm(len(val['target']), generator=torch.Generator().manual_seed(seed))
    halves = order.chunk(2)
    ceilings = []
    for fit_on, score_on in (halves, halves[::-1]):
        fresh = fitted([p[fit_on] for p in val['pooled']], val['target'][fit_on], reset=True)
        with torch.no_grad():
            ceilings.append(ranking_accuracy(
                fresh.from_pooled([p[score_on] for p in val['pooled']]),
                val['target'][score_on]))
    with torch.no_grad():
        result['refit_val'] = ranking_accuracy(refit.from_pooled(val['pooled']), val['target'])
    result['ceiling_val'] = sum(ceilings) / 2
    result['labeled'], result['val'] = len(labeled['target']), len(val['target'])
    return result


def build_wrapped(cfg):
    """The config's model, its top-level ``data_preprocessor`` (mmpretrain's) included."""
    from mmengine.registry import MODELS

    # a ConfigDict, not a dict: mmdet's heads read their test_cfg by attribute
    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    return MODELS.build(model_cfg)


COLUMNS = (('module_labeled', 'module, labeled'), ('module_val', 'module, val'),
           ('entropy_val', 'entropy, val'), ('refit_val', 'refit, val'),
           ('ceiling_val', 'ceiling, val'))


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('run_dir', metavar='RUN_DIR', help='one run dir of tools/al_train.py')
    parser.add_argument('--config', help='config of the run (default: the copy in RUN_DIR)')
    parser.add_argument('--epochs', type=int, default=100,
                        help='passes of the refit and ceiling fits (default 100)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. val_dataloader.dataset.data_root=..')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner, load_checkpoint

    from mmlearnloss.active import ALState
    from mmlearnloss.active.scoring import pool_loader_cfg
    from mmlearnloss.active.splits import PoolSplitter
    from mmlearnloss.active.state import ALStateError
    from mmlearnloss.engine import pipeline_transforms
    from mmlearnloss.engine.loss_module_fit_hook import clean_views
    state_path = osp.join(args.run_dir, 'al_state.json')
    if not osp.isfile(state_path):
        sys.exit(f'loss_proxy_ranking.py: error: no {state_path}; expected a run dir of '
                 f'tools/al_train.py.')
    try:
        state = ALState.load(state_path)
    except ALStateError as e:
        sys.exit(f'loss_proxy_ranking.py: error: {e}')
    stages = [s for s in state.stages if s.get('checkpoint')]
    cfg = Config.fromfile(args.config or find_config(args.run_dir))
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    # layers a checkpoint lacks (a module of another shape, --config) start the same every run
    torch.manual_seed(0)
    model = build_wrapped(cfg).eval()
    if not hasattr(model, 'clean_view'):
        sys.exit(f'loss_proxy_ranking.py: error: the model is a {type(model).__name__}; '
                 'expected mmlearnloss.LearningLoss.')
    val_loader = Runner.build_dataloader(cfg.val_dataloader)
    model.read_eval_pipeline(pipeline_transforms(val_loader.dataset))
    pool = PoolSplitter(cfg.train_dataloader.dataset.to_dict())
    batch_size = cfg.train_dataloader.batch_size
    print(f'{args.run_dir}: ranking accuracy of the real losses (0.5 = chance)')
    print(' | '.join(['stage', 'labels'] + [title for _, title in COLUMNS]))
    with tempfile.TemporaryDirectory() as splits:
        for record in stages:
            load_checkpoint(model, record['checkpoint'], map_location='cpu', logger='silent')
            ids = state.labeled[:record['num_labeled']]
            loader_cfg, _ = pool_loader_cfg(cfg.val_dataloader, pool, ids, splits,
                                            f'stage_{record["stage"]}_labeled')
            labeled = clean_views(model, Runner.build_dataloader(loader_cfg))
            val = clean_views(model, val_loader, uncertainty=True)
            result = diagnose(model, val, labeled, batch_size, epochs=args.epochs)
            cells = [f'{record["stage"] + 1:>5}', f'{record["num_labeled"]:>6}']
            cells += [f'{result[key]:>{len(title)}.3f}' for key, title in COLUMNS]
            print(' | '.join(cells), flush=True)


if __name__ == '__main__':
    main()
