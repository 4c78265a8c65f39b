"""The performance figures side by side: each ratio with its target, one column per device.

Runs the three benchmarks' measurements (training-step overhead of the head, validation with vs
without the loss-ranking metric, pool scoring vs full predict) and k-Center-Greedy on every
device asked for, then prints one table. The 1M x 512 k-center row runs on a GPU only (about an
hour on 2 CPU cores). A device that is not there gets a column that says so, not numbers. Then
the dispatched operations of the paper's configs (``dispatch_count.py --paper``), the CPU proxy
of what a GPU pays per step: counted once, they do not depend on the device.

    python tools/benchmarks/performance_summary.py [--devices cpu cuda] [--repeats 5]
"""
import argparse
import sys

import torch

import dispatch_count
import kcenter_benchmark
import learnloss_overhead
import scoring_throughput
import validation_cost
from learnloss_overhead import TASKS, cls_batch, det_batch, quiet_logs

BATCH = {'cls': 32, 'det': 2, 'pose': 2}  # training steps, as learnloss_overhead
VAL_BATCH = {'cls': 64, 'det': 4, 'pose': 4}  # validation, as validation_cost


def step_overhead(device, repeats):
    ratios = {}
    for task in TASKS:
        label, t_arch, t_ll, _, _ = learnloss_overhead.measure(task, BATCH[task], repeats, device)
        ratios[label] = t_ll / t_arch
    return worst(ratios, max)


def validation_overhead(device, repeats):
    ratios = {}
    for task in TASKS:
        label, t = validation_cost.measure(task, VAL_BATCH[task], repeats, device)
        ratios[label] = t['metric'] / t['plain']
    return worst(ratios, max)


def scoring_speedup(config, scope, make_batch, batch, amp):
    def run(device, repeats):
        if amp and device == 'cpu':
            return 'GPU only'
        t = scoring_throughput.measure(config, scope, make_batch, batch, repeats, device, amp)
        return f'{t["predict"] / t["score_amp" if amp else "score"]:.2f}x'
    return run


def kcenter(n, k, gpu_only=False):
    def run(device, repeats):
        if gpu_only and device == 'cpu':
            return 'GPU only'
        seconds, _, _, _ = kcenter_benchmark.run(n + 1000, 512, k, 1000, device)
        return f'{seconds:.1f} s'
    return run


def worst(ratios, pick):
    label = pick(ratios, key=ratios.get)
    return f'{ratios[label]:.3f}x ({label.split()[0]})'


ROWS = [
    ('training step, + loss prediction head (worst of 3)', '<= 1.03x', step_overhead),
    ('validation, + ranking metric (worst of 3)', '<= 1.15x', validation_overhead),
    ('pool scoring vs predict, SSD300 batch 8', '>= 1.5x',
     scoring_speedup('ssd_voc_learnloss.py', 'mmdet', det_batch, 8, False)),
    ('pool scoring (amp) vs predict, SSD300 batch 8', '>= 1.5x',
     scoring_speedup('ssd_voc_learnloss.py', 'mmdet', det_batch, 8, True)),
    ('pool scoring vs predict, ResNet-18 batch 256', '-',
     scoring_speedup('resnet18_cifar10_learnloss.py', 'mmpretrain', cls_batch, 256, False)),
    ('k-Center-Greedy 100k x 512, K=1000', '-', kcenter(99_000, 1000)),
    ('k-Center-Greedy 1M x 512, K=10,000', '<= 60 s (GPU)', kcenter(1_000_000, 10_000, True)),
]


def main(argv=None):
    quiet_logs()
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--devices', nargs='+', default=['cpu', 'cuda'], choices=['cpu', 'cuda'])
    parser.add_argument('--repeats', type=int, default=5)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    columns = {}
    for device in args.devices:
        if device == 'cuda' and not torch.cuda.is_available():
            columns[device] = ['not run: no CUDA here'] * len(ROWS)
            continue
        cells = []
        for name, _, measure in ROWS:
            print(f'[{device}] {name} ...', file=sys.stderr, flush=True)
            cells.append(measure(device, args.repeats))
        columns[device] = cells
    names = {device: (torch.cuda.get_device_name() if device == 'cuda'
                      and torch.cuda.is_available() else
                      f'CPU, {torch.get_num_threads()} threads' if device == 'cpu' else 'GPU')
             for device in args.devices}
    print(f'torch={torch.__version__} repeats={args.repeats} (medians of alternating runs, '
          f'untrained weights)')
    print(f'{"figure":<52}{"target":<15}' + ''.join(f'{names[d]:<28}' for d in args.devices))
    for row, (name, target, _) in enumerate(ROWS):
        print(f'{name:<52}{target:<15}' +
              ''.join(f'{columns[d][row]:<28}' for d in args.devices))
    print()
    dispatch_count.print_paper_table(dispatch_count.paper_table())
    return columns


if __name__ == '__main__':
    sys.exit(main() and 0)
