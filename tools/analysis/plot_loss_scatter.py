"""Scatter the predicted against the real loss of every validation sample at one stage, with the
samples that selection would pick (the top fraction by predicted loss) highlighted (as Fig. 8 of
the paper).

Usage:
    python tools/analysis/plot_loss_scatter.py RUN_DIR [--stage K] [--fraction 0.1] [--out FILE.png]

RUN_DIR is one run dir of tools/al_train.py (or a dir holding exactly one). ``--stage K`` counts as
the results table and ``al_results.json`` do, from 1 (the initial labeled set); its losses are in
``val_losses/stage_<K-1>.json``. Default: the last stage.
"""
import argparse
import json
import os
import os.path as osp
import re
from typing import List, Optional, Sequence, Tuple

import numpy as np

from al_runs import (RESULTS_FILE, STATE_FILE, AnalysisError, add_output_args, find_runs, plt,
                     save_figure)

VAL_LOSSES = 'val_losses'
STAGE_FILE = re.compile(r'stage_(\d+)\.json$')  # k from 0: stage k + 1
HIGHLIGHT_LABEL = 'top {percent:g}% by predicted loss ({count})'
OTHERS_LABEL = 'other samples ({count})'


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; 0 when either side is constant."""
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else 0.


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation: Pearson of the ranks (as ``mmlearnloss``'s LossRankingMetric)."""
    return pearson(a.argsort().argsort().astype(float), b.argsort().argsort().astype(float))


def top_fraction(pred: Sequence[float], fraction: float) -> np.ndarray:
    """Indices of the ``round(fraction * N)`` highest predicted losses, highest first."""
    pred = np.asarray(pred, dtype=float)
    count = int(round(fraction * len(pred)))
    return np.argsort(-pred, kind='stable')[:count]


def find_run_dir(path: str) -> str:
    """``path`` if it is a run dir (has val_losses/ or al_results.json), else its one run.

    Raises:
        AnalysisError: no run, or several.
    """
    if osp.isdir(osp.join(path, VAL_LOSSES)) or osp.isfile(osp.join(path, RESULTS_FILE)):
        return path
    runs = find_runs([path])
    if len(runs) > 1:
        raise AnalysisError(f'{path} holds {len(runs)} runs ({", ".join(r.path for r in runs)}); '
                            f'expected one run dir: pass one of them.')
    return runs[0].path


def available_stages(run_dir: str) -> List[int]:
    """Stages (from 1) with a ``val_losses/stage_<K-1>.json``."""
    folder = osp.join(run_dir, VAL_LOSSES)
    stages = []
    for name in (os.listdir(folder) if osp.isdir(folder) else []):
        match = STAGE_FILE.match(name)
        if match:
            stages.append(int(match.group(1)) + 1)
    return sorted(stages)


def describe(run_dir: str, stage: int) -> str:
    """``config, strategy, seed s, stage K (N labels)``, as far as the run's json files tell."""
    parts = [osp.basename(osp.abspath(run_dir))]
    try:
        with open(osp.join(run_dir, RESULTS_FILE)) as f:
            results = json.load(f)
        parts = [results['config'], results['strategy'], f'seed {results["seed"]}']
    except (OSError, ValueError, KeyError, TypeError):
        pass
    labels = None
    try:  # al_state.json numbers its stages from 0, and exists before the run ends
        with open(osp.join(run_dir, STATE_FILE)) as f:
            labels = json.load(f)['stages'][stage - 1]['num_labeled']
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        pass
    return ', '.join(parts + [f'stage {stage}' + (f' ({labels} labels)' if labels else '')])


def load_val_losses(run_dir: str, stage: Optional[int] = None) -> Tuple[int, np.ndarray,
                                                                        np.ndarray]:
    """Predicted and real validation losses of ``stage`` (from 1; default the last).

    Pairs with a non-finite loss (a sample without a target) are dropped.

    Returns:
        tuple: ``(stage, pred_loss, target_loss)``.

    Raises:
        AnalysisError: no val_losses, an unknown stage, or a malformed file.
    """
    stages = available_stages(run_dir)
    if not stages:
        raise AnalysisError(f'{run_dir}: no {VAL_LOSSES}/stage_<k>.json; they are written by '
                            f'tools/al_train.py when val_evaluator includes '
                            f"dict(type='mmlearnloss.LossRankingMetric') (the model must be "
                            f'mmlearnloss.LearningLoss).')
    if stage is None:
        stage = stages[-1]
    if stage not in stages:
        raise AnalysisError(f'{run_dir}: no losses for stage {stage}; stages (counted from 1, '
                            f'file val_losses/stage_<stage-1>.json): '
                            f'{", ".join(map(str, stages))}.')
    path = osp.join(run_dir, VAL_LOSSES, f'stage_{stage - 1}.json')
    try:
        with open(path) as f:
            data = json.load(f)
        pred = np.asarray(data['pred_loss'], dtype=float)
        target = np.asarray(data['target_loss'], dtype=float)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise AnalysisError(f'{path}: expected {{"pred_loss": [...], "target_loss": [...]}} '
                            f'({type(e).__name__}: {e}).')
    if pred.shape != target.shape or pred.ndim != 1:
        raise AnalysisError(f'{path}: pred_loss and target_loss differ in length '
                            f'({pred.shape} vs {target.shape}).')
    finite = np.isfinite(pred) & np.isfinite(target)
    if not finite.any():
        raise AnalysisError(f'{path}: no sample with a finite predicted and real loss.')
    return stage, pred[finite], target[finite]


def plot_loss_scatter(pred: Sequence[float], target: Sequence[float], fraction: float = 0.1,
                      title: str = '', size=(800, 600), dpi: int = 100):
    """Predicted (x) vs real (y) loss; the top ``fraction`` by predicted loss in another colour.

    The two point sets are the axes' collections labelled ``OTHERS_LABEL`` and
    ``HIGHLIGHT_LABEL``; the title gives Pearson r and Spearman rho.

    Returns:
        matplotlib.figure.Figure
    """
    if not 0 <= fraction <= 1:
        raise AnalysisError(f'--fraction {fraction}: expected a value in [0, 1].')
    pred, target = np.asarray(pred, dtype=float), np.asarray(target, dtype=float)
    top = top_fraction(pred, fraction)
    others = np.setdiff1d(np.arange(len(pred)), top)
    fig, ax = plt.subplots(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi,
                           layout='constrained')
    ax.scatter(pred[others], target[others], s=12, alpha=0.6, color='tab:blue',
               label=OTHERS_LABEL.format(count=len(others)))
    ax.scatter(pred[top], target[top], s=18, alpha=0.9, color='tab:red',
               label=HIGHLIGHT_LABEL.format(percent=100 * fraction, count=len(top)))
    if len(top):
        ax.axvline(pred[top].min(), color='tab:red', linestyle=':', linewidth=1)
    ax.set_xlabel('predicted loss')
    ax.set_ylabel('real loss')
    stats = (f'Pearson r = {pearson(pred, target):.3f}, '
             f'Spearman ρ = {spearman(pred, target):.3f}, N = {len(pred)}')
    ax.set_title(f'{title}\n{stats}' if title else stats)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('run_dir', metavar='RUN_DIR', help='one run dir of tools/al_train.py')
    parser.add_argument('--stage', type=int,
                        help='stage, counted from 1 as in al_results.json (default: the last)')
    parser.add_argument('--fraction', type=float, default=0.1,
                        help='fraction of highest predicted losses to highlight (default 0.1)')
    add_output_args(parser, 'loss_scatter_stage_<K>.png')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        if not osp.isdir(args.run_dir):
            raise AnalysisError(f'{args.run_dir}: not a directory; expected a run dir of '
                                f'tools/al_train.py.')
        run_dir = find_run_dir(args.run_dir)
        stage, pred, target = load_val_losses(run_dir, args.stage)
        fig = plot_loss_scatter(pred, target, args.fraction, title=describe(run_dir, stage),
                                size=args.size)
    except AnalysisError as e:
        raise SystemExit(f'plot_loss_scatter.py: error: {e}')
    out = save_figure(fig, args.out or osp.join(run_dir, f'loss_scatter_stage_{stage}.png'))
    top = top_fraction(pred, args.fraction)
    print(f'{run_dir} stage {stage}: N = {len(pred)}, Pearson r = {pearson(pred, target):.4f}, '
          f'Spearman rho = {spearman(pred, target):.4f}; top {len(top)} by predicted loss: '
          f'mean real loss {target[top].mean() if len(top) else float("nan"):.4f} vs '
          f'{target.mean():.4f} overall')
    print(f'Saved {out}')


if __name__ == '__main__':
    main()
