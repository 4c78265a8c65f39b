"""Find and read the run dirs of tools/al_train.py, for the plot tools next to this file.

A run dir holds ``al_results.json`` (written when the run ends)::

    {"config": "resnet18_cifar10_learnloss.py", "strategy": "learning_loss",
     "method": "learning_loss", "seed": 0,
     "stages": [{"stage": 1, "num_labeled": 1000, "accuracy/top1": 52.1,
                 "learnloss/rank_acc": 0.81, ...}, ...]}

and ``val_losses/stage_<k>.json`` (``{"pred_loss": [...], "target_loss": [...]}``, ``k`` from 0:
stage ``k + 1`` of ``al_results.json``). ``al_train.py --seeds 0 1 2`` puts one run dir per
seed in ``WORK_DIR/seed_<s>/``.

Runs are grouped by ``method`` (the loop's ``method``, default the strategy's name; older files
without it: the strategy), so variants of one strategy (``learning_loss_all_pairs``) get lines of
their own.
"""
import json
import math
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import matplotlib

matplotlib.use('Agg')  # files only; never a window
import matplotlib.pyplot as plt  # noqa: E402

RESULTS_FILE = 'al_results.json'
STATE_FILE = 'al_state.json'
# Keys every stage has that are not metrics.
STAGE_KEYS = ('stage', 'num_labeled')
LOSS_PREDICTION_PREFIX = 'learnloss/'
# Plot order and colours: learning loss first, random (the floor) last.
STRATEGY_STYLES = {
    'learning_loss': dict(color='tab:red', marker='o', label='learning loss'),
    'entropy': dict(color='tab:green', marker='^', label='entropy'),
    'coreset': dict(color='tab:orange', marker='s', label='core-set'),
    'random': dict(color='tab:gray', marker='x', label='random'),
}
# Colours of other methods (variants), in plot order: none of the strategies' colours.
EXTRA_COLORS = ('tab:purple', 'tab:brown', 'tab:pink', 'tab:olive', 'tab:cyan', 'tab:blue')
EXTRA_MARKERS = ('D', 'v', 'P', '*', 'h', '<')
# Config-name tokens that name the strategy, not the task (resnet18_cifar10_random_mini.py).
STRATEGY_TOKENS = {'learnloss', 'random', 'entropy', 'coreset'}
EXPECTED = (f'expected a run dir of tools/al_train.py (with {RESULTS_FILE}), a dir of seed_*/ '
            f'runs (al_train.py --seeds ...), or a dir of such dirs')


class AnalysisError(Exception):
    """Bad input for a plot tool; ``main()`` turns it into a one-line exit message."""


@dataclass
class Run:
    """One finished active-learning run (one seed of one strategy)."""
    path: str
    config: str
    strategy: str
    seed: Optional[int]
    stages: List[Dict[str, float]] = field(default_factory=list)
    #: The loop's method name (default: the strategy's); runs are grouped by it.
    method: str = ''

    def __post_init__(self):
        self.method = self.method or self.strategy

    @property
    def task(self) -> str:
        """The config name without its strategy and method tokens: runs to compare share it
        (``mnist5k_lenet5_learnloss_allpairs.py`` of method ``learning_loss_allpairs`` is task
        ``mnist5k_lenet5``)."""
        name = osp.splitext(osp.basename(self.config))[0]
        method_tokens = set(self.method.split('_'))
        return '_'.join(t for t in name.split('_')
                        if t not in STRATEGY_TOKENS and t not in method_tokens) or name

    @property
    def metrics(self) -> List[str]:
        """Metric keys in the order of the stages, ``stage``/``num_labeled`` left out."""
        keys = dict.fromkeys(k for s in self.stages for k in s if k not in STAGE_KEYS)
        return list(keys)

    def task_metrics(self) -> frozenset:
        """The task's own metrics (loss-prediction metrics left out: baselines may lack them)."""
        return frozenset(k for k in self.metrics if not k.startswith(LOSS_PREDICTION_PREFIX))


@dataclass
class Curve:
    """Mean and sample std of a metric over a strategy's trials, at each number of labels."""
    strategy: str
    num_labeled: List[int]
    mean: List[float]
    std: List[float]
    trials: List[int]


def load_run(run_dir: str) -> Run:
    """Read ``<run_dir>/al_results.json``.

    Raises:
        AnalysisError: the file is missing or not in the format written by tools/al_train.py.
    """
    path = osp.join(run_dir, RESULTS_FILE)
    if not osp.isfile(path):
        raise AnalysisError(f'{run_dir}: no {RESULTS_FILE}; {EXPECTED}.')
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise AnalysisError(f'{path}: cannot read it as json ({e}).')
    if isinstance(data, list):
        raise AnalysisError(f'{path} is a list of stages (the older format, without config, '
                            f'strategy and seed); re-run the experiment with the current '
                            f'tools/al_train.py.')
    if not isinstance(data, dict) or not isinstance(data.get('stages'), list):
        raise AnalysisError(f'{path}: expected a dict with "config", "strategy", "seed" and '
                            f'"stages" (a list), as written by tools/al_train.py.')
    for i, stage in enumerate(data['stages']):
        if not isinstance(stage, dict) or 'num_labeled' not in stage:
            raise AnalysisError(f'{path}: stage entry {i} has no "num_labeled".')
    return Run(path=osp.normpath(run_dir), config=str(data.get('config') or '?'),
               strategy=str(data.get('strategy') or '?'), seed=data.get('seed'),
               stages=data['stages'], method=str(data.get('method') or ''))


def find_runs(paths: Sequence[str]) -> List[Run]:
    """All runs under ``paths`` (each a run dir, a dir of ``seed_*`` runs, or a dir of those).

    A dir holding ``al_results.json`` is a run; its sub-dirs are not searched. A path given twice
    (or nested in another) is read once.

    Raises:
        AnalysisError: a path is not a dir, or holds no run.
    """
    runs, seen = [], set()
    for path in paths:
        if not osp.isdir(path):
            raise AnalysisError(f'{path}: not a directory; {EXPECTED}.')
        found, unfinished = [], []
        for root, dirs, files in os.walk(path):
            dirs.sort()
            if RESULTS_FILE in files:
                found.append(root)
                dirs[:] = []  # checkpoints, splits and logs below a run are no runs
            elif STATE_FILE in files:
                unfinished.append(root)
        if not found:
            hint = ''
            if unfinished:
                hint = (f' ({STATE_FILE} without {RESULTS_FILE} in {", ".join(unfinished)}: '
                        f'al_results.json is written when a run ends; finish it with '
                        f'al_train.py --resume)')
            raise AnalysisError(f'{path}: no {RESULTS_FILE} found in it or below{hint}; '
                                f'{EXPECTED}.')
        for run_dir in found:
            key = osp.realpath(run_dir)
            if key not in seen:
                seen.add(key)
                runs.append(load_run(run_dir))
    return runs


def check_one_task(runs: Sequence[Run]) -> None:
    """Fail when the runs are of different tasks (configs or metric sets).

    Raises:
        AnalysisError: listing the tasks or metric sets found.
    """
    by_task: Dict[str, List[str]] = {}
    by_metrics: Dict[frozenset, List[str]] = {}
    for run in runs:
        by_task.setdefault(run.task, []).append(osp.basename(run.config))
        by_metrics.setdefault(run.task_metrics(), []).append(run.path)
    if len(by_task) > 1:
        found = '; '.join(f'{task!r} from {", ".join(sorted(set(configs)))}'
                          for task, configs in by_task.items())
        raise AnalysisError(f'runs of {len(by_task)} tasks are mixed: {found}; expected the '
                            f'runs of one task (configs that differ only in the strategy, as '
                            f'<task>_learnloss.py and <task>_random.py): plot each task apart.')
    if len(by_metrics) > 1:
        found = '; '.join(f'[{", ".join(sorted(keys))}] in {", ".join(paths)}'
                          for keys, paths in by_metrics.items())
        raise AnalysisError(f'runs with different metrics are mixed: {found}; expected the same '
                            f'metrics in every run: plot each task apart.')


def default_metric(runs: Sequence[Run]) -> str:
    """The first task metric (not ``stage``/``num_labeled``/``learnloss/*``) of the first run."""
    for key in runs[0].metrics:
        if not key.startswith(LOSS_PREDICTION_PREFIX):
            return key
    raise AnalysisError(f'{runs[0].path}: no task metric in {RESULTS_FILE} (only '
                        f'{", ".join(runs[0].metrics) or "stage and num_labeled"}).')


def check_metric(runs: Sequence[Run], metric: str) -> None:
    """Fail when a run lacks ``metric``, listing the metrics there are.

    Raises:
        AnalysisError: naming the metric and the available ones.
    """
    available = list(dict.fromkeys(k for run in runs for k in run.metrics))
    lacking = [run.path for run in runs if metric not in run.metrics]
    if len(lacking) == len(runs):
        raise AnalysisError(f'unknown metric {metric!r}; available: {", ".join(available)}.')
    if lacking:
        common = [k for k in available if all(k in run.metrics for run in runs)]
        raise AnalysisError(f'metric {metric!r} is missing in {", ".join(lacking)}; metrics in '
                            f'every run: {", ".join(common)}.')


def strategy_order(strategies) -> List[str]:
    """The known strategies in plot order, then the others by name."""
    known = [s for s in STRATEGY_STYLES if s in strategies]
    return known + sorted(s for s in strategies if s not in STRATEGY_STYLES)


def mean_std(values: Sequence[float]) -> Dict[str, float]:
    """Mean and sample std (ddof=1; 0 for one value) of the finite values, and their count."""
    values = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not values:
        return dict(mean=float('nan'), std=float('nan'), n=0)
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.
    return dict(mean=mean, std=math.sqrt(var), n=len(values))


def aggregate(runs: Sequence[Run], metric: str) -> Dict[str, Curve]:
    """Mean and sample standard deviation (ddof=1; 0 for one trial) of ``metric`` over the
    trials of each method (strategy or variant), at every number of labels any trial reached.

    Returns:
        dict: method -> :class:`Curve`, in plot order.
    """
    values: Dict[str, Dict[int, List[float]]] = {}
    for run in runs:
        per_x = values.setdefault(run.method, {})
        for stage in run.stages:
            value = stage.get(metric)
            if isinstance(value, (int, float)) and math.isfinite(value):
                per_x.setdefault(int(stage['num_labeled']), []).append(float(value))
    curves = {}
    for strategy in strategy_order(values):
        xs = sorted(values[strategy])
        means, stds, trials = [], [], []
        for x in xs:
            stat = mean_std(values[strategy][x])
            means.append(stat['mean'])
            stds.append(stat['std'])
            trials.append(stat['n'])
        curves[strategy] = Curve(strategy, xs, means, stds, trials)
    return curves


def plot_curves(curves: Dict[str, Curve], metric: str, title: str = '',
                size=(800, 600), dpi: int = 100, chance: Optional[float] = None):
    """One line per strategy (mean) with a band of mean ± std, metric vs number of labels.

    Each line's label is ``'<strategy> (n=<trials>)'``; the band is the ``fill_between``
    collection drawn right before it.

    Returns:
        matplotlib.figure.Figure
    """
    fig, ax = plt.subplots(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi,
                           layout='constrained')
    extra = 0
    for strategy, curve in curves.items():
        style = STRATEGY_STYLES.get(strategy)
        if style is None:
            style = dict(color=EXTRA_COLORS[extra % len(EXTRA_COLORS)],
                         marker=EXTRA_MARKERS[extra % len(EXTRA_MARKERS)],
                         label=strategy.replace('_', ' '))
            extra += 1
        style = dict(style)
        name = style.pop('label')
        lower = [m - s for m, s in zip(curve.mean, curve.std)]
        upper = [m + s for m, s in zip(curve.mean, curve.std)]
        band = ax.fill_between(curve.num_labeled, lower, upper, alpha=0.2, linewidth=0,
                               color=style.get('color'))
        band.set_gid(f'{strategy}:band')
        line, = ax.plot(curve.num_labeled, curve.mean, label=f'{name} (n={max(curve.trials)})',
                        **style)
        line.set_gid(strategy)
    if chance is not None:
        ax.axhline(chance, color='black', linestyle=':', linewidth=1, label='chance')
    xs = sorted({x for curve in curves.values() for x in curve.num_labeled})
    if 0 < len(xs) <= 12:
        ax.set_xticks(xs)  # one tick per stage
    ax.set_xlabel('number of labeled samples')
    ax.set_ylabel(f'{metric} (mean ± std over trials)')
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def format_table(curves: Dict[str, Curve], metric: str) -> str:
    """The plotted values: one row per number of labels, ``mean ± std (n)`` per strategy."""
    xs = sorted({x for c in curves.values() for x in c.num_labeled})
    header = ['num_labeled'] + list(curves)
    rows = []
    for x in xs:
        row = [str(x)]
        for curve in curves.values():
            if x in curve.num_labeled:
                i = curve.num_labeled.index(x)
                row.append(f'{curve.mean[i]:.4f} ± {curve.std[i]:.4f} (n={curve.trials[i]})')
            else:
                row.append('-')
        rows.append(row)
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = [f'{metric}: mean ± std over trials']
    lines += [' | '.join(c.rjust(w) for c, w in zip(r, widths)) for r in [header] + rows]
    return '\n'.join(lines)


def save_figure(fig, out: str) -> str:
    """Write ``fig`` as a PNG at its own size (no tight bbox: the size asked for is kept)."""
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=fig.dpi)
    plt.close(fig)
    return out


def add_output_args(parser, default_name: str) -> None:
    """``--out`` and ``--size``, shared by the plot tools."""
    parser.add_argument('--out', help=f'PNG to write (default: <first RUN_DIR>/{default_name})')
    parser.add_argument('--size', type=int, nargs=2, default=(800, 600),
                        metavar=('WIDTH', 'HEIGHT'), help='image size in pixels (default 800 600)')
