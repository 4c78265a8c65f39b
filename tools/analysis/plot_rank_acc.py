"""Plot the ranking accuracy of the loss prediction (``learnloss/rank_acc``) at every stage,
mean ± std over trials, one line per strategy (as Fig. 5 of the paper).

Usage:
    python tools/analysis/plot_rank_acc.py RUN_DIR... [--out FILE.png]

RUN_DIRs as for plot_al_curves.py. The ranking accuracy is the fraction of validation pairs whose
predicted losses are in the order of their real losses (0.5: chance). Baselines keep the module
with loss weight 0, so their line shows an untrained predictor. Runs without the metric (an
evaluator without ``mmlearnloss.LossRankingMetric``) are left out, and named.
"""
import argparse
import os.path as osp
from typing import Sequence

from al_runs import (AnalysisError, Run, add_output_args, aggregate, check_one_task, find_runs,
                     format_table, plot_curves, save_figure)

METRIC = 'learnloss/rank_acc'


def plot_rank_acc(runs: Sequence[Run], size=(800, 600), dpi: int = 100):
    """Ranking accuracy vs number of labels per strategy, with the chance level.

    Returns:
        tuple: ``(figure, curves)``; ``curves`` maps strategy -> :class:`al_runs.Curve`.
    """
    check_one_task(runs)
    with_metric = [run for run in runs if METRIC in run.metrics]
    if not with_metric:
        raise AnalysisError(f'no run has {METRIC} (metrics: '
                            f'{", ".join(dict.fromkeys(k for r in runs for k in r.metrics))}); '
                            f"add dict(type='mmlearnloss.LossRankingMetric') to val_evaluator.")
    without = [run.path for run in runs if METRIC not in run.metrics]
    if without:
        print(f'Left out (no {METRIC}): {", ".join(without)}')
    curves = aggregate(with_metric, METRIC)
    title = f'{runs[0].task}: loss prediction ranking accuracy'
    return plot_curves(curves, METRIC, title=title, size=size, dpi=dpi, chance=0.5), curves


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('run_dirs', nargs='+', metavar='RUN_DIR',
                        help='run dir, dir of seed_* runs, or dir of such dirs')
    add_output_args(parser, 'rank_acc.png')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        fig, curves = plot_rank_acc(find_runs(args.run_dirs), size=args.size)
    except AnalysisError as e:
        raise SystemExit(f'plot_rank_acc.py: error: {e}')
    out = save_figure(fig, args.out or osp.join(args.run_dirs[0], 'rank_acc.png'))
    print(format_table(curves, METRIC))
    print(f'Saved {out}')


if __name__ == '__main__':
    main()
