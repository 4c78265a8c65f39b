"""Plot a task metric against the number of labels, one line per strategy, mean ± std over trials
(as Figs. 4, 6 and 7 of the paper).

Usage:
    python tools/analysis/plot_al_curves.py RUN_DIR... [--metric NAME] [--out FILE.png]

Each RUN_DIR is a run dir of tools/al_train.py, a dir of its ``seed_*`` runs, or a dir of such
dirs (one per strategy, say); every ``al_results.json`` below is a trial. All runs must be of one
task. The table of the plotted means and stds is printed.
"""
import argparse
import os.path as osp
from typing import Optional, Sequence

from al_runs import (AnalysisError, Run, add_output_args, aggregate, check_metric, check_one_task,
                     default_metric, find_runs, format_table, plot_curves, save_figure)


def plot_al_curves(runs: Sequence[Run], metric: Optional[str] = None, size=(800, 600),
                   dpi: int = 100):
    """Metric vs number of labels per strategy.

    Args:
        runs: Trials of one task (:func:`al_runs.find_runs`).
        metric: Key of ``al_results.json``'s stages; default: the first task metric.
        size: Image size in pixels.
        dpi: Dots per inch of the figure.

    Returns:
        tuple: ``(figure, curves, metric)``; ``curves`` maps strategy -> :class:`al_runs.Curve`.
    """
    check_one_task(runs)
    metric = metric or default_metric(runs)
    check_metric(runs, metric)
    curves = aggregate(runs, metric)
    title = f'{runs[0].task}: active learning ({len(runs)} runs)'
    return plot_curves(curves, metric, title=title, size=size, dpi=dpi), curves, metric


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('run_dirs', nargs='+', metavar='RUN_DIR',
                        help='run dir, dir of seed_* runs, or dir of such dirs')
    parser.add_argument('--metric', help='metric to plot (default: the first task metric, '
                        'e.g. accuracy/top1, pascal_voc/mAP, PCKh)')
    add_output_args(parser, 'al_curves.png')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        runs = find_runs(args.run_dirs)
        fig, curves, metric = plot_al_curves(runs, args.metric, size=args.size)
    except AnalysisError as e:
        raise SystemExit(f'plot_al_curves.py: error: {e}')
    out = save_figure(fig, args.out or osp.join(args.run_dirs[0], 'al_curves.png'))
    print(format_table(curves, metric))
    print(f'Saved {out}')


if __name__ == '__main__':
    main()
