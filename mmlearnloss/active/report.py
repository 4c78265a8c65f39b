"""The records of an active-learning run: labels vs. metrics per stage (a table and files), and
each stage's validation losses."""
import csv
import json
import os
import os.path as osp
from typing import List

from mmengine.dist import is_main_process
from mmengine.logging import print_log

from mmlearnloss.utils import atomic_write_text


def write_report(stages: List[dict], work_dir: str, **run) -> None:
    """Print the labels-vs-metrics table and save it as ``al_results.csv`` / ``.json``.

    Args:
        stages (list[dict]): The state's stage records.
        work_dir (str): Where the files go.
        **run: What the json names the run by, before its stages (config, strategy, method,
            seed).
    """
    rows = [dict(stage=r['stage'] + 1, num_labeled=r['num_labeled'], **r['metrics'])
            for r in stages]
    if not is_main_process() or not rows:
        return
    keys = list(dict.fromkeys(k for row in rows for k in row))
    lines = [' | '.join(f'{k:>12}' for k in keys)]
    for row in rows:
        lines.append(' | '.join(
            f'{row.get(k, ""):>12.4f}' if isinstance(row.get(k), float) else
            f'{row.get(k, ""):>12}' for k in keys))
    print_log('Active learning results\n' + '\n'.join(lines), logger='current')
    with open(osp.join(work_dir, 'al_results.csv'), 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    atomic_write_text(osp.join(work_dir, 'al_results.json'),
                      json.dumps(dict(**run, stages=rows), indent=2))


def save_val_losses(val_loop, work_dir: str, stage: int) -> None:
    """Keep the validation set's predicted and real losses of the stage (for plots), as its
    ranking metric last computed them: ``WORK_DIR/val_losses/stage_<k>.json``."""
    evaluator = getattr(val_loop, 'evaluator', None)
    for metric in getattr(evaluator, 'metrics', []):
        losses = getattr(metric, 'last_losses', None)
        if losses is not None and is_main_process():
            os.makedirs(osp.join(work_dir, 'val_losses'), exist_ok=True)
            atomic_write_text(osp.join(work_dir, 'val_losses', f'stage_{stage}.json'),
                              json.dumps(losses))
