"""How many epochs a digit-scene SSD stage needs: one stage of random labels trained for E and
2E epochs, its VOC mAP and the module's ranking accuracy on the test scenes.

Each run is ``tools/al_train.py`` on a one-stage config derived from
``configs/digit_scenes/ssd_digits_learnloss.py``: ``labels`` random initial images, ``epochs``
epochs, the learning rate x0.1 at 80% and the gradient stop at 60% of them (the shipped
config's 8/10 and 6/10), validated once at the end. Runs live in
``WORK_DIR/n<labels>_e<epochs>_s<seed>/``; a finished one is reused, a started one resumed.

Usage::

    python tools/make_digit_scenes.py --out data/digit_scenes      # once
    python tools/benchmarks/detection_schedule.py [--labels 100 200 400] [--epochs 40 80]
        [--seed 0] [--threads 1] [--work-dir work_dirs/detection_schedule]
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BASE = osp.join(ROOT, 'configs', 'digit_scenes', 'ssd_digits_learnloss.py')

CONFIG = """_base_ = {base!r}
max_epochs = {epochs}
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', begin=0, end={epochs}, by_epoch=True, milestones=[{step}],
         gamma=0.1)
]
custom_hooks = [
    dict(type='NumClassCheckHook'),
    dict(type='CheckInvalidLossHook', interval=50, priority='VERY_LOW'),
    dict(type='mmlearnloss.StopLossGradHook', epoch={stop}),
    dict(type='mmlearnloss.GroundTruthFrameHook'),
]
train_cfg = dict(num_stages=1, initial_size={labels}, query_size={labels},
                 max_epochs={epochs}, seed={seed})
"""


def run(labels: int, epochs: int, seed: int, work_dir: str, threads: int, base: str = BASE) -> dict:
    """Train one stage (or reuse a finished run) and return its last stage's metrics."""
    name = f'n{labels}_e{epochs}_s{seed}'
    run_dir = osp.join(work_dir, name)
    results = osp.join(run_dir, 'al_results.json')
    if not osp.isfile(results):
        os.makedirs(run_dir, exist_ok=True)
        config = osp.join(work_dir, f'{name}.py')
        with open(config, 'w') as f:
            f.write(CONFIG.format(base=osp.abspath(base), epochs=epochs, step=round(0.8 * epochs),
                                  stop=round(0.6 * epochs), labels=labels, seed=seed))
        cmd = [sys.executable, osp.join(ROOT, 'tools', 'al_train.py'), config,
               '--work-dir', run_dir]
        if osp.isfile(osp.join(run_dir, 'al_state.json')):
            cmd.append('--resume')
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        start = time.time()
        with open(osp.join(work_dir, f'{name}.log'), 'a') as log:
            subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                           check=True)
        print(f'{name}: {time.time() - start:.0f} s', flush=True)
    with open(results) as f:
        return json.load(f)['stages'][-1]  # num_labeled and the metrics of the stage


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--labels', type=int, nargs='+', default=[100, 200, 400])
    parser.add_argument('--epochs', type=int, nargs='+', default=[40, 80])
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--config', default=BASE, help='the one-stage runs\' config (default: '
                        'configs/digit_scenes/ssd_digits_learnloss.py)')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'detection_schedule'))
    args = parser.parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    rows = []
    for labels in args.labels:
        for epochs in args.epochs:
            metrics = run(labels, epochs, args.seed, args.work_dir, args.threads, args.config)
            rows.append((labels, epochs, metrics))
    print('| labels | epochs | mAP | module ranking accuracy (test) |')
    print('|---:|---:|---:|---:|')
    for labels, epochs, metrics in rows:
        print(f'| {labels} | {epochs} | {100 * metrics["pascal_voc/mAP"]:.1f} | '
              f'{metrics.get("learnloss/rank_acc", float("nan")):.3f} |')


if __name__ == '__main__':
    main()
