"""How well each stage's model ranks the real validation losses by its predicted loss and by its
own uncertainty (the entropy strategy's score): pairwise ranking accuracy of both, per stage.

Usage:
    python tools/analysis/loss_proxy_ranking.py RUN_DIR [--cfg-options KEY=VALUE ...]

RUN_DIR is one run dir of tools/al_train.py with a ``mmlearnloss.LearningLoss`` model: its
``al_state.json`` names each stage's checkpoint and the config copy mmengine left there is
read (``--config`` to give another). The val dataloader of the config is scored with each
checkpoint: ``pred_loss`` (the loss prediction module), ``uncertainty`` (the family adapter's
entropy) and the real per-sample loss. Both rankings are scored as ``LossRankingMetric`` does.
"""
import argparse
import glob
import json
import os.path as osp
import sys

import torch


def find_config(run_dir: str) -> str:
    """The config mmengine copied into the run dir (the only ``*.py`` there)."""
    configs = sorted(glob.glob(osp.join(run_dir, '*.py')))
    if len(configs) != 1:
        sys.exit(f'loss_proxy_ranking.py: error: {run_dir} holds {len(configs)} config files '
                 f'({", ".join(map(osp.basename, configs)) or "none"}); pass --config.')
    return configs[0]


@torch.no_grad()
def rank_proxies(model, loader) -> dict:
    """Ranking accuracy of ``pred_loss`` and of ``uncertainty`` against the real loss."""
    from mmlearnloss.evaluation.ranking_metric import ranking_accuracy
    pred, uncertainty, real = [], [], []
    model.eval()
    for data in loader:
        data = model.data_preprocessor(data, False)
        out = model.score(data['inputs'], data['data_samples'],
                          needs=('pred_loss', 'uncertainty'))
        _, target = model.adapter.loss(model.architecture, data['inputs'], data['data_samples'])
        pred.append(out['pred_loss'].float())
        uncertainty.append(out['uncertainty'].float())
        real.append(target.float())
    pred, uncertainty, real = torch.cat(pred), torch.cat(uncertainty), torch.cat(real)
    finite = torch.isfinite(real)
    return dict(pred_loss=ranking_accuracy(pred[finite], real[finite]),
                uncertainty=ranking_accuracy(uncertainty[finite], real[finite]),
                samples=int(finite.sum()))


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('run_dir', metavar='RUN_DIR', help='one run dir of tools/al_train.py')
    parser.add_argument('--config', help='config of the run (default: the copy in RUN_DIR)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. val_dataloader.dataset.data_root=..')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.runner import Runner, load_checkpoint
    state_path = osp.join(args.run_dir, 'al_state.json')
    if not osp.isfile(state_path):
        sys.exit(f'loss_proxy_ranking.py: error: no {state_path}; expected a run dir of '
                 f'tools/al_train.py.')
    with open(state_path) as f:
        stages = [s for s in json.load(f)['stages'] if s.get('checkpoint')]
    cfg = Config.fromfile(args.config or find_config(args.run_dir))
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    model_cfg = cfg.model.to_dict()
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor.to_dict())
    model = MODELS.build(model_cfg)
    if not hasattr(model, 'score'):
        sys.exit(f'loss_proxy_ranking.py: error: the model is a {type(model).__name__}; '
                 'expected mmlearnloss.LearningLoss.')
    loader = Runner.build_dataloader(cfg.val_dataloader)
    print(f'{args.run_dir}: ranking accuracy of the real val losses (0.5 = chance)')
    print(f'{"stage":>5} | {"labels":>6} | {"pred_loss":>9} | {"entropy":>9}')
    for record in stages:
        load_checkpoint(model, record['checkpoint'], map_location='cpu', logger='silent')
        result = rank_proxies(model, loader)
        print(f'{record["stage"] + 1:>5} | {record["num_labeled"]:>6} | '
              f'{result["pred_loss"]:>9.4f} | {result["uncertainty"]:>9.4f}', flush=True)


if __name__ == '__main__':
    main()
