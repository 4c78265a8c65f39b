"""Selection quality on real digits: strategies x seeds, as the paper compares them.

Two tasks (``--task``): ``classification``, LeNet-5 on MNIST 5k (``configs/mnist5k/``, top-1
accuracy), and ``detection``, SSD on the digit scenes in VOC format (``configs/digit_scenes/``,
VOC mAP in %; ``tools/make_digit_scenes.py``). Below, "accuracy" is the task's metric.

Runs ``tools/al_train.py`` for every method (a config of the task's folder) and seed, then
prints and writes one table (markdown + json) and the paper-style plots (accuracy vs labels,
Figs. 4/6/7; ranking accuracy of the predicted loss, Fig. 5) with the project's plot tools:

- accuracy per stage, mean ± std over seeds;
- area under the accuracy-vs-labels curve (AUC): the trapezoid area divided by the label range,
  i.e. the curve's mean accuracy in %, mean ± std over seeds;
- ranking accuracy of the predicted loss on the val set per stage (``learnloss/rank_acc``;
  baselines train with λ=0, so theirs is an untrained module's);
- the first stage's accuracy: every method starts from the same random labels of a seed, so
  learning loss's first stage against random's shows what joint training (λ=1) costs;
- a summary: first stage and AUC minus random's (per seed, then mean ± std), the last stage, and
  the ranking accuracy of the last three stages;
- detection: the boxes in each stage's labeled images, mean ± std over seeds. The budget counts
  images, as the paper's; the boxes are what the annotators draw, and a strategy that picks
  crowded scenes gets more of them for the same budget.

Runs live in ``WORK_DIR/<method>/seed_<s>/``. A finished run (``al_results.json``) is reused, a
started one (``al_state.json``) is resumed, so a rerun after a crash or Ctrl-C continues where it
stopped. Progress (stage by stage) is printed; each run's full log is ``WORK_DIR/<method>/
seed_<s>.log``. ``--report-only`` writes the tables of the runs finished so far and starts none.

Usage::

    python tools/make_mnist5k.py                       # once: data/mnist5k
    python tools/benchmarks/selection_quality.py [--methods learnloss random entropy coreset]
        [--seeds 0 1 2] [--work-dir work_dirs/selection_quality] [--out-dir DIR]
        [--jobs 1] [--threads N] [--report-only]
    python tools/benchmarks/selection_quality.py --methods all --jobs 2 --threads 1  # + variants
    python tools/make_digit_scenes.py                  # once: data/digit_scenes
    python tools/benchmarks/selection_quality.py --task detection --methods all --jobs 2 \
        --threads 1 [--cfg-options train_cfg.num_stages=3]

On a small CPU prefer one thread per run and as many runs as cores (``--jobs 2 --threads 1`` on
2 cores): a LeNet-5 step is too small for two threads, which on a busy machine were 10-40 times
slower per step than one.
"""
import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))

from al_runs import (RESULTS_FILE, STATE_FILE, AnalysisError, Run, load_run, mean_std,  # noqa: E402
                     save_figure)


class Task:
    """What differs between the benchmark's tasks: configs, dataset, metric."""

    def __init__(self, config_dir: str, methods: Dict[str, str], paper_methods: List[str],
                 dataset: str, data_root: str, make_dataset: str, required: Sequence[str],
                 metric: str, metric_title: str, short: str, scale: float, data_options,
                 count_annotations=None):
        self.config_dir, self.methods, self.paper_methods = config_dir, methods, paper_methods
        self.dataset = dataset
        self.data_root, self.make_dataset, self.required = data_root, make_dataset, required
        self.metric, self.metric_title, self.short, self.scale = metric, metric_title, short, scale
        #: data root (absolute) -> the --cfg-options that point a config at it
        self.data_options = data_options
        #: (data root, run dir) -> the annotations (boxes) of each stage's labeled images, or
        #: None (one label per image: nothing to count)
        self.count_annotations = count_annotations


def _json_list_roots(root: str) -> List[str]:
    return [f'{loader}.dataset.data_root={root}'
            for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]


def _voc_roots(root: str) -> List[str]:
    voc = osp.join(root, 'VOCdevkit') + '/'
    return [f'train_dataloader.dataset.dataset.datasets.{i}.data_root={voc}' for i in (0, 1)] + \
        [f'{loader}.dataset.data_root={voc}' for loader in ('val_dataloader', 'test_dataloader')]


def _voc_labeled_boxes(root: str, run_dir: str) -> List[int]:
    """Per stage, the objects (difficult ones too: annotators draw them) in the VOC annotations
    of the images the run had labeled: its ``al_state.json`` lists the labeled ids in the order
    they were labeled (``'<VOC folder>/<image id>'``) and each stage's ``num_labeled``."""
    from mmlearnloss.active import ALState
    from mmlearnloss.active.state import ALStateError
    from pre_annotation_quality import voc_objects
    path = osp.join(run_dir, STATE_FILE)
    try:
        state = ALState.load(path)
    except (OSError, ALStateError) as e:
        raise AnalysisError(f'{path}: cannot read the run\'s state ({e}).')
    boxes = []
    for sample_id in state.labeled:
        folder, image_id = sample_id.split('/', 1)
        xml = osp.join(root, 'VOCdevkit', folder, 'Annotations', f'{image_id}.xml')
        try:
            boxes.append(len(voc_objects(xml)))
        except (OSError, ET.ParseError) as e:
            raise AnalysisError(f'{path}: cannot read the annotation of {sample_id} ({e}); is '
                                f'{root} the dataset the run used?')
    return [sum(boxes[:stage['num_labeled']]) for stage in state.stages]


TASKS = {
    # Method name -> config (in the task's config dir). The first four are the paper's.
    'classification': Task(
        config_dir=osp.join('configs', 'mnist5k'),
        methods={
            'learnloss': 'lenet5_mnist5k_learnloss.py',
            'random': 'lenet5_mnist5k_random.py',
            'entropy': 'lenet5_mnist5k_entropy.py',
            'coreset': 'lenet5_mnist5k_coreset.py',
            'learnloss_allpairs': 'lenet5_mnist5k_learnloss_allpairs.py',
            'learnloss_diverse': 'lenet5_mnist5k_learnloss_diverse.py',
            'learnloss_detached': 'lenet5_mnist5k_learnloss_detached.py',
            'learnloss_combined': 'lenet5_mnist5k_learnloss_combined.py',
        },
        paper_methods=['learnloss', 'random', 'entropy', 'coreset'],
        dataset='MNIST 5k', data_root='data/mnist5k',
        make_dataset='python tools/make_mnist5k.py --out {root}',
        required=('train.json', 'val.json'), metric='accuracy/top1',
        metric_title='Top-1 accuracy (%) on the 1000 val digits', short='acc', scale=1.0,
        data_options=_json_list_roots),
    'detection': Task(
        config_dir=osp.join('configs', 'digit_scenes'),
        methods={
            'learnloss': 'ssd_digits_learnloss.py',
            'random': 'ssd_digits_random.py',
            'entropy': 'ssd_digits_entropy.py',
            'coreset': 'ssd_digits_coreset.py',
            'learnloss_combined': 'ssd_digits_learnloss_combined.py',
            'learnloss_refit': 'ssd_digits_learnloss_refit.py',
            'learnloss_headtaps': 'ssd_digits_learnloss_headtaps.py',
            'learnloss_scoretaps': 'ssd_digits_learnloss_scoretaps.py',
            'learnloss_scorefit': 'ssd_digits_learnloss_scorefit.py',
            'learnloss_scorefit_instances': 'ssd_digits_learnloss_scorefit_instances.py',
            # simulation only: the real losses of the pool (learning loss with a perfect module)
            'oracle_loss': 'ssd_digits_oracle_loss.py',
            'oracle_loss_instances': 'ssd_digits_oracle_loss_instances.py',
        },
        paper_methods=['learnloss', 'random', 'entropy', 'coreset'],
        dataset='digit scenes', data_root='data/digit_scenes',
        make_dataset='python tools/make_digit_scenes.py --out {root}',
        required=('VOCdevkit/VOC2007/ImageSets/Main/trainval.txt',
                  'VOCdevkit/VOC2007/ImageSets/Main/test.txt',
                  'VOCdevkit/VOC2012/ImageSets/Main/trainval.txt'),
        metric='pascal_voc/mAP', metric_title='mAP (%, VOC 11 points) on the test scenes',
        short='mAP', scale=100.0, data_options=_voc_roots,
        count_annotations=_voc_labeled_boxes),
}
RANK_ACC = 'learnloss/rank_acc'
STAGE_LINE = re.compile(r'===== Stage (\d+)/(\d+): (\d+) labeled samples')


class BenchmarkError(Exception):
    """Bad input (a missing dataset, an unknown method); ``main`` prints it and exits."""


# ---------------------------------------------------------------------------------- runs
def check_dataset(task: Task, data_root: str) -> None:
    """Fail with the command that creates the dataset when its annotation files are missing."""
    missing = [name for name in task.required if not osp.isfile(osp.join(data_root, name))]
    if missing:
        raise BenchmarkError(
            f'{data_root}: no {task.dataset} dataset ({", ".join(missing)} not found). Create it '
            f'with:\n'
            f'    {task.make_dataset.format(root=data_root)}')


def resolve_methods(task: Task, names: Sequence[str]) -> Dict[str, str]:
    """Method name -> config path; ``all`` is every method of the task."""
    if list(names) == ['all']:
        names = list(task.methods)
    methods = {}
    for name in names:
        if name in task.methods:
            methods[name] = osp.join(ROOT, task.config_dir, task.methods[name])
        elif name.endswith('.py') and osp.isfile(name):
            methods[osp.splitext(osp.basename(name))[0]] = osp.abspath(name)
        else:
            raise BenchmarkError(f'unknown method {name!r}; known: {", ".join(task.methods)}, '
                                 f'all, or the path of a config.')
    return methods


class Job:
    """One run of al_train.py: a method and a seed."""

    def __init__(self, method: str, config: str, seed: int, work_dir: str, data_root: str,
                 data_options=_json_list_roots, options: Sequence[str] = ()):
        self.method, self.config, self.seed = method, config, seed
        self.data_options, self.options = data_options, list(options)
        self.method_dir = osp.join(work_dir, method)
        self.run_dir = osp.join(self.method_dir, f'seed_{seed}')
        self.log = osp.join(self.method_dir, f'seed_{seed}.log')
        self.data_root = data_root

    @property
    def name(self) -> str:
        return f'{self.method} seed {self.seed}'

    def status(self) -> str:
        """'done', 'started' (a state file to resume) or 'new'."""
        if osp.isfile(osp.join(self.run_dir, RESULTS_FILE)):
            return 'done'
        return 'started' if osp.isfile(osp.join(self.run_dir, STATE_FILE)) else 'new'

    def command(self) -> List[str]:
        cmd = [sys.executable, osp.join(ROOT, 'tools', 'al_train.py'), self.config,
               '--work-dir', self.method_dir, '--seeds', str(self.seed)]
        if self.status() == 'started':
            cmd.append('--resume')
        return cmd + ['--cfg-options', *self.data_options(osp.abspath(self.data_root)),
                      *self.options]


def run_job(job: Job, threads: int, report) -> int:
    """Run (or resume) one job, its output into its log; report each stage. Returns the code."""
    os.makedirs(job.method_dir, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    start = time.time()
    report(job, f'{"resuming" if job.status() == "started" else "starting"} (log: {job.log})')
    with open(job.log, 'a') as log:
        proc = subprocess.Popen(job.command(), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
        for line in proc.stdout:
            log.write(line)
            match = STAGE_LINE.search(line)
            if match:
                stage, stages, labeled = match.groups()
                report(job, f'stage {stage}/{stages} ({labeled} labels) '
                            f'{_clock(time.time() - start)}')
        code = proc.wait()
    report(job, f'{"finished" if code == 0 else f"FAILED (exit {code})"} in '
                f'{_clock(time.time() - start)}')
    return code


def run_all(jobs: Sequence[Job], parallel: int = 1, threads: Optional[int] = None) -> List[Job]:
    """Run the jobs that are not done, ``parallel`` at a time; returns the failed ones."""
    todo = [job for job in jobs if job.status() != 'done']
    done = len(jobs) - len(todo)
    print(f'{len(jobs)} runs: {done} finished earlier (reused), {len(todo)} to run', flush=True)
    threads = threads or max(1, (os.cpu_count() or 1) // max(1, parallel))
    lock = threading.Lock()
    position = {id(job): i + done + 1 for i, job in enumerate(todo)}
    start = time.time()

    def report(job, text):
        with lock:
            print(f'[{position[id(job)]:>2}/{len(jobs)} {_clock(time.time() - start)}] '
                  f'{job.name}: {text}', flush=True)

    failed, queue = [], list(todo)

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                job = queue.pop(0)
            if run_job(job, threads, report) != 0:
                with lock:
                    failed.append(job)

    workers = [threading.Thread(target=worker) for _ in range(max(1, parallel))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return failed


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


# ------------------------------------------------------------------------------- results
def curve_auc(num_labeled: Sequence[float], values: Sequence[float]) -> float:
    """Area under a metric-vs-labels curve (trapezoids) divided by the label range: the
    curve's mean value, in the metric's unit. One point: that value."""
    if len(num_labeled) == 1:
        return float(values[0])
    area = sum((x1 - x0) * (y0 + y1) / 2
               for x0, x1, y0, y1 in zip(num_labeled, num_labeled[1:], values, values[1:]))
    return area / (num_labeled[-1] - num_labeled[0])


def summarize(runs_by_method: Dict[str, List[Run]], task: Task = TASKS['classification'],
              data_root: Optional[str] = None) -> dict:
    """Per method: per-stage metric ('accuracy': the task's metric, top-1 accuracy or mAP, in
    %) and ranking accuracy, AUC and first-stage metric, each mean ± std over the seeds, plus the
    per-seed values; with ``data_root`` and a task that counts them, the annotations (boxes) of
    each stage's labeled images ('annotations')."""
    count = task.count_annotations if data_root else None
    summary = {}
    for method, runs in runs_by_method.items():
        labels = [int(s['num_labeled']) for s in runs[0].stages]
        per_seed = {}
        for run in runs:
            if [int(s['num_labeled']) for s in run.stages] != labels:
                raise AnalysisError(f'{run.path}: its stages have other numbers of labels than '
                                    f'{runs[0].path}; runs of one method must share the protocol.')
            acc = [s.get(task.metric, float('nan')) * task.scale for s in run.stages]
            per_seed[str(run.seed)] = dict(
                accuracy=acc, rank_acc=[s.get(RANK_ACC, float('nan')) for s in run.stages],
                auc=curve_auc(labels, acc))
            if count:
                per_seed[str(run.seed)]['annotations'] = count(data_root, run.path)
        seeds = list(per_seed.values())
        summary[method] = dict(
            strategy=runs[0].strategy, config=runs[0].config, seeds=sorted(per_seed),
            num_labeled=labels,
            accuracy=[mean_std([s['accuracy'][i] for s in seeds]) for i in range(len(labels))],
            rank_acc=[mean_std([s['rank_acc'][i] for s in seeds]) for i in range(len(labels))],
            auc=mean_std([s['auc'] for s in seeds]),
            first_stage_accuracy=mean_std([s['accuracy'][0] for s in seeds]),
            per_seed=per_seed)
        if count:
            summary[method]['annotations'] = [mean_std([s['annotations'][i] for s in seeds])
                                              for i in range(len(labels))]
    return summary


def _pm(stat: dict, digits: int = 2) -> str:
    if stat['n'] == 0:
        return '-'
    return f'{stat["mean"]:.{digits}f} ± {stat["std"]:.{digits}f}'


def differences(summary: dict, reference: str = 'random') -> Dict[str, dict]:
    """Per method, mean over seeds of its per-seed difference to ``reference`` (same seed: the
    same initial labels and weights): first stage, AUC and each stage's accuracy."""
    if reference not in summary:
        return {}
    ref = summary[reference]['per_seed']
    out = {}
    for method, entry in summary.items():
        seeds = [s for s in entry['per_seed'] if s in ref]
        if not seeds or entry['num_labeled'] != summary[reference]['num_labeled']:
            continue
        mine = entry['per_seed']
        out[method] = dict(
            first_stage=mean_std([mine[s]['accuracy'][0] - ref[s]['accuracy'][0] for s in seeds]),
            auc=mean_std([mine[s]['auc'] - ref[s]['auc'] for s in seeds]),
            accuracy=[mean_std([mine[s]['accuracy'][i] - ref[s]['accuracy'][i] for s in seeds])
                      for i in range(len(entry['num_labeled']))])
    return out


def summary_table(summary: dict) -> str:
    """One row per method: first-stage accuracy and its difference to random (the cost of joint
    training: the λ=0 methods share random's first stage), AUC and its difference to random, the
    last stage, and the mean ranking accuracy of the last three stages."""
    diff = differences(summary)
    lines = ['| method | first stage | first stage − random | AUC | AUC − random | last stage | '
             'rank acc., last 3 stages |', '|---|---:|---:|---:|---:|---:|---:|']
    for m, entry in summary.items():
        d = diff.get(m)
        late = [s['mean'] for s in entry['rank_acc'][-3:] if s['n']]
        lines.append(' | '.join([
            f'| {m}', _pm(entry['first_stage_accuracy']),
            _signed(d['first_stage']) if d else '-', _pm(entry['auc']),
            _signed(d['auc']) if d else '-', _pm(entry['accuracy'][-1]),
            f'{sum(late) / len(late):.3f}' if late else '-']) + ' |')
    return '\n'.join(lines)


def _signed(stat: dict) -> str:
    return f'{stat["mean"]:+.2f} ± {stat["std"]:.2f}'


def markdown_tables(summary: dict, task: Task = TASKS['classification']) -> str:
    """Summary, accuracy per stage + AUC, and ranking accuracy per stage, as markdown tables."""
    methods = list(summary)
    labels = summary[methods[0]]['num_labeled']
    seeds = sorted({s for m in methods for s in summary[m]['seeds']}, key=str)
    lines = [f'Summary, mean ± std over seeds {", ".join(seeds)} (differences: per seed, same '
             f'initial labels and weights).', '']
    if any(summary[m]['seeds'] != seeds for m in methods):
        lines += ['Not every method has every seed: ' + '; '.join(
            f'{m} {", ".join(summary[m]["seeds"])}' for m in methods) + '. Each difference '
            'to random is over the seeds both have.', '']
    lines += [summary_table(summary), '']
    lines += [f'{task.metric_title}, mean ± std over seeds {", ".join(seeds)}; AUC: the mean '
              f'over the metric-vs-labels curve.', '',
              '| method | ' + ' | '.join(f'{n} labels' for n in labels) + ' | AUC |',
              '|---|' + '---:|' * (len(labels) + 1)]
    for m in methods:
        row = [_pm(s) for s in summary[m]['accuracy']] + [_pm(summary[m]['auc'])]
        lines.append(f'| {m} | ' + ' | '.join(row) + ' |')
    lines += ['', 'Ranking accuracy of the predicted loss on the val set (pairs ordered as their '
              'real losses; 0.5 = chance; λ=0 baselines: an untrained module).', '',
              '| method | ' + ' | '.join(f'{n} labels' for n in labels) + ' |',
              '|---|' + '---:|' * len(labels)]
    for m in methods:
        lines.append(f'| {m} | ' + ' | '.join(_pm(s, 3) for s in summary[m]['rank_acc']) + ' |')
    if all('annotations' in summary[m] for m in methods):
        lines += ['', 'Boxes in the labeled images (what the annotators draw; the budget counts '
                  'images), mean ± std over seeds.', '',
                  '| method | ' + ' | '.join(f'{n} labels' for n in labels) + ' |',
                  '|---|' + '---:|' * len(labels)]
        for m in methods:
            lines.append(f'| {m} | ' + ' | '.join(_pm(s, 0) for s in summary[m]['annotations'])
                         + ' |')
    return '\n'.join(lines) + '\n'


def side_by_side(summary: dict, task: Task = TASKS['classification']) -> str:
    """One row per stage; the metric and the ranking accuracy of every method next to each
    other (means; with one seed, that seed's values)."""
    methods = list(summary)
    labels = summary[methods[0]]['num_labeled']
    header = ['stage', 'labels'] + [f'{m} {what}' for m in methods
                                    for what in (task.short, 'rank')]
    rows = []
    for i, n in enumerate(labels):
        row = [str(i + 1), str(n)]
        for m in methods:
            acc, rank = summary[m]['accuracy'][i], summary[m]['rank_acc'][i]
            row += [f'{acc["mean"]:.2f}' if acc['n'] else '-',
                    f'{rank["mean"]:.3f}' if rank['n'] else '-']
        rows.append(row)
    rows.append(['AUC', ''] +
                [x for m in methods for x in (f'{summary[m]["auc"]["mean"]:.2f}', '')])
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    return '\n'.join(' | '.join(c.rjust(w) for c, w in zip(r, widths)) for r in [header] + rows)


def write_plots(runs_by_method: Dict[str, List[Run]], out_dir: str, prefix: str,
                task: Task = TASKS['classification']) -> List[str]:
    """Accuracy vs labels (the paper's four methods; the learning-loss variants with random and
    entropy) and the ranking accuracy of the learning-loss methods, with the plot tools."""
    from plot_al_curves import plot_al_curves
    from plot_rank_acc import plot_rank_acc
    groups = {'accuracy': [m for m in runs_by_method if m in task.paper_methods]
              or list(runs_by_method),
              'accuracy_variants': [m for m in runs_by_method
                                    if m.startswith('learnloss') or m in ('random', 'entropy')],
              'rank_acc': [m for m in runs_by_method if m.startswith('learnloss')]}
    written = []
    for name, methods in groups.items():
        if name == 'accuracy_variants' and not any(m.startswith('learnloss_')
                                                   for m in runs_by_method):
            continue  # no variants: the same plot as 'accuracy'
        runs = [run for m in methods for run in runs_by_method[m]]
        if not runs:
            continue
        if name == 'rank_acc':
            fig, _ = plot_rank_acc(runs)
        else:
            fig, _, _ = plot_al_curves(runs, task.metric)
        written.append(save_figure(fig, osp.join(out_dir, f'{prefix}{name}.png')))
    return written


def collect(jobs: Sequence[Job]) -> Dict[str, List[Run]]:
    runs: Dict[str, List[Run]] = {}
    for job in jobs:
        if job.status() == 'done':
            runs.setdefault(job.method, []).append(load_run(job.run_dir))
    return runs


# ---------------------------------------------------------------------------------- main
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--task', choices=list(TASKS), default='classification',
                        help='classification: LeNet-5 on MNIST 5k (configs/mnist5k); detection: '
                        'SSD on the digit scenes (configs/digit_scenes). Default classification')
    parser.add_argument('--methods', nargs='+',
                        help='methods of the task (classification: '
                        f'{", ".join(TASKS["classification"].methods)}; detection: '
                        f'{", ".join(TASKS["detection"].methods)}), "all", or config paths '
                        '(default: learnloss random entropy coreset)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--data-root',
                        help='the dataset folder (default: data/mnist5k, data/digit_scenes)')
    parser.add_argument('--work-dir', default='work_dirs/selection_quality',
                        help='runs go to WORK_DIR/<method>/seed_<s> (reused when finished)')
    parser.add_argument('--out-dir', help='table and plots (default: WORK_DIR)')
    parser.add_argument('--prefix', default='selection_quality_',
                        help='file name prefix of the table and plots')
    parser.add_argument('--jobs', type=int, default=1, help='runs at a time (default 1)')
    parser.add_argument('--threads', type=int,
                        help='torch threads per run (default: CPU cores / jobs)')
    parser.add_argument('--side-by-side', action='store_true',
                        help='print one per-stage table with the methods side by side (the demo) '
                        'instead of the markdown tables (written in any case)')
    parser.add_argument('--no-plots', action='store_true', help='table only')
    parser.add_argument('--report-only', action='store_true',
                        help='tables and plots of the runs finished so far; start or resume none '
                        '(a long benchmark\'s progress, while it runs elsewhere)')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='passed to every run\'s al_train.py --cfg-options (e.g. '
                        'train_cfg.num_stages=3)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    task = TASKS[args.task]
    data_root = args.data_root or task.data_root
    out_dir = args.out_dir or args.work_dir
    try:
        check_dataset(task, data_root)
        methods = resolve_methods(task, args.methods or task.paper_methods)
        # Seed by seed: an interrupted benchmark has every method at the same seeds.
        jobs = [Job(m, cfg, s, osp.abspath(args.work_dir), data_root, task.data_options,
                    args.cfg_options) for s in args.seeds for m, cfg in methods.items()]
        if args.report_only:
            failed = []
            unfinished = [job.name for job in jobs if job.status() != 'done']
            print(f'{len(jobs)} runs: {len(jobs) - len(unfinished)} finished; not finished, left '
                  f'out: {", ".join(unfinished) or "none"}', flush=True)
        else:
            start = time.time()
            failed = run_all(jobs, args.jobs, args.threads)
            print(f'Runs took {_clock(time.time() - start)}', flush=True)
        runs = collect(jobs)
        if not runs:
            raise BenchmarkError('no run finished; see the logs above.')
        summary = summarize(runs, task, data_root)
    except (BenchmarkError, AnalysisError) as e:
        print(f'selection_quality.py: error: {e}', file=sys.stderr)
        return 2
    table = markdown_tables(summary, task)
    os.makedirs(out_dir, exist_ok=True)
    md_path = osp.join(out_dir, f'{args.prefix}table.md')
    json_path = osp.join(out_dir, f'{args.prefix}results.json')
    with open(md_path, 'w') as f:
        f.write(table)
    with open(json_path, 'w') as f:
        json.dump(dict(task=args.task, metric=task.metric, seeds=args.seeds, methods=summary,
                       minus_random=differences(summary)), f, indent=1)
    print(side_by_side(summary, task) if args.side_by_side else table)
    written = [] if args.no_plots else write_plots(runs, out_dir, args.prefix, task)
    for path in [md_path, json_path] + written:
        print(f'Saved {path}')
    if failed:
        print('Failed runs (rerun the same command to resume them): ' +
              ', '.join(f'{job.name} (log: {job.log})' for job in failed), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
