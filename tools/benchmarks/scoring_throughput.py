"""Pool-scoring throughput: the learning-loss scoring pass vs the framework's full predict.

For SSD300 (VOC config) and ResNet-18 (CIFAR config), times on the same batch, alternately:
- ``score``: LearningLoss.score, which stops at the deepest tap (no detection head, no NMS);
- ``predict``: the architecture's own predict mode (head, box decoding, NMS), as an
  entropy-style strategy or plain inference would run it.
Then times top-K selection from a pool of 1M predicted losses.

    python tools/benchmarks/scoring_throughput.py [--repeats 5] [--device cpu|cuda]
        [--batch-det 8] [--batch-cls 256] [--pool 1000000] [--k 1000] [--amp]

``--amp`` adds ``score`` under mixed precision (the loop's ``score_amp``: float16 on a GPU,
bfloat16 on the CPU).
"""
import argparse
import time

import torch
from mmengine.registry import DefaultScope

from learnloss_overhead import alternating_medians, build, cls_batch, det_batch, quiet_logs, timed
from mmlearnloss.active import build_strategy
from mmlearnloss.active.scoring import scoring_autocast


@torch.no_grad()
def measure(config, scope, make_batch, batch, repeats, device, amp=False):
    """Median seconds of ``score``, ``score`` under mixed precision (if ``amp``) and
    ``predict`` on one batch, run alternately."""
    model = build(config, scope).to(device).eval()
    with DefaultScope.overwrite_default_scope(scope):
        data = make_batch(model, batch)
        inputs, samples = data['inputs'], data['data_samples']
        runs = {
            'score': lambda: model.score(inputs),
            'predict': lambda: model.architecture(inputs, samples, mode='predict'),
        }
        if amp:
            def score_amp():
                with scoring_autocast(model, True):
                    model.score(inputs)
            runs['score_amp'] = score_amp
        return alternating_medians(
            {name: lambda fn=fn: timed(fn, device) for name, fn in runs.items()}, repeats)


def compare(label, config, scope, make_batch, batch, repeats, device, amp=False):
    t = measure(config, scope, make_batch, batch, repeats, device, amp)
    amp_cols = (f'{batch / t["score_amp"]:>16.1f}{t["predict"] / t["score_amp"]:>10.2f}x'
                if amp else '')
    print(f'{label:<22}{batch:>6}{batch / t["score"]:>16.1f}{batch / t["predict"]:>18.1f}'
          f'{t["predict"] / t["score"]:>10.2f}x{amp_cols}', flush=True)


def selection(pool, k):
    scores = torch.rand(pool)
    ids = [str(i) for i in range(pool)]
    for name in ('learning_loss', 'random'):
        strategy = build_strategy(name)
        values = scores if strategy.needs else None
        start = time.perf_counter()
        chosen = strategy.select(ids, k, values, seed=0)
        elapsed = time.perf_counter() - start
        print(f'select {k} of {pool:,} with {name:<14}: {elapsed:.3f} s ({len(chosen)} ids)')


def main():
    quiet_logs()
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--batch-det', type=int, default=8)
    parser.add_argument('--batch-cls', type=int, default=256)
    parser.add_argument('--pool', type=int, default=1_000_000)
    parser.add_argument('--k', type=int, default=1000)
    parser.add_argument('--amp', action='store_true',
                        help='also time scoring under mixed precision (score_amp)')
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f'device={args.device} torch={torch.__version__} threads={torch.get_num_threads()} '
          f'repeats={args.repeats} (median, after one warm-up; untrained weights)')
    amp_head = f'{"amp img/s":>16}{"speed-up":>11}' if args.amp else ''
    print(f'{"model":<22}{"batch":>6}{"score img/s":>16}{"predict img/s":>18}{"speed-up":>11}'
          f'{amp_head}')
    compare('SSD300 VOC', 'ssd_voc_learnloss.py', 'mmdet', det_batch, args.batch_det,
            args.repeats, args.device, args.amp)
    compare('ResNet-18 CIFAR-10', 'resnet18_cifar10_learnloss.py', 'mmpretrain', cls_batch,
            args.batch_cls, args.repeats, args.device, args.amp)
    selection(args.pool, args.k)


if __name__ == '__main__':
    main()
