"""Time and peak memory of core-set selection (k-Center-Greedy) at the paper's scale.

Random float32 features: the first ``--labeled`` rows are the labeled centers, the other
``--n - --labeled`` rows the scored pool; selects ``--k`` of them with ``CoresetStrategy``, exactly
as the active-learning loop calls it. Peak memory is the growth of the process's peak resident set
(``VmHWM`` in /proc/self/status, reset just before the selection and after a small warm-up call that
loads the BLAS code), because tracemalloc does not see torch's allocations; it is reported as a
ratio to the feature matrix (target: below 3x).

Usage:
    python tools/benchmarks/kcenter_benchmark.py --n 100000 --dim 512 --k 1000 --labeled 1000
    python tools/benchmarks/kcenter_benchmark.py --device cuda --n 1001000 --k 10000
"""
import argparse
import gc
import time
from pathlib import Path

import torch

from mmlearnloss.active.strategies import CoresetStrategy

MIB = 1 << 20


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--n', type=int, default=100_000, help='labeled + pool samples')
    parser.add_argument('--dim', type=int, default=512, help='feature dimension')
    parser.add_argument('--k', type=int, default=1000, help='samples to select')
    parser.add_argument('--labeled', type=int, default=1000, help='labeled samples (centers)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the random features')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda' (CoresetStrategy's)")
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads (default: torch\'s own choice)')
    return parser.parse_args()


def read_status_kib(field):
    """A memory field of /proc/self/status (``VmRSS``, ``VmHWM``) in KiB."""
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith(field + ':'):
            return int(line.split()[1])
    raise RuntimeError(f'{field} not in /proc/self/status (Linux only)')


def reset_peak_rss():
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not permitted."""
    try:
        Path('/proc/self/clear_refs').write_text('5')
    except OSError:
        return False
    return True


def run(n, dim, k, labeled, device='cpu', seed=0):
    """Select ``k`` of ``n - labeled`` random features with CoresetStrategy on ``device``.

    Returns ``(seconds, peak extra MiB, feature MiB, selected ids)``: the peak is the process's
    resident set on the CPU, the allocator's peak on a GPU (the features are copied there inside
    the timed selection, as the loop hands them over from the CPU).
    """
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(n, dim, generator=generator)
    centers, pool = features[:labeled], features[labeled:]  # views, no copies
    pool_ids = [f'sample_{i}' for i in range(pool.shape[0])]
    features_mib = features.nbytes / MIB
    strategy = CoresetStrategy(device=device)
    # Warm-up on a few rows: loads the BLAS/OpenMP code (or CUDA kernels) and thread pools,
    # which are resident pages too but do not grow with the features.
    strategy.select(pool_ids[:64], 2, pool[:64], centers[:8])
    gc.collect()
    on_gpu = device != 'cpu'
    if on_gpu:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        baseline = torch.cuda.memory_allocated()
    else:
        baseline = read_status_kib('VmRSS') * 1024
        reset_peak_rss()
    start = time.perf_counter()
    selected = strategy.select(pool_ids, k, pool, centers)
    seconds = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated() if on_gpu else read_status_kib('VmHWM') * 1024)
    assert len(set(selected)) == k, 'duplicate selections'
    return seconds, max(0, peak - baseline) / MIB, features_mib, selected


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not 0 <= args.labeled < args.n:
        raise SystemExit(f'--labeled must be in [0, --n), got {args.labeled} with --n {args.n}')
    if args.device != 'cpu' and not torch.cuda.is_available():
        raise SystemExit(f'--device {args.device}: CUDA is not available here')
    seconds, extra_mib, features_mib, selected = run(args.n, args.dim, args.k, args.labeled,
                                                     args.device, args.seed)
    where = (torch.cuda.get_device_name() if args.device != 'cpu' else
             f'cpu, torch threads {torch.get_num_threads()}')
    print(f'k-Center-Greedy: pool {args.n - args.labeled} x {args.dim} float32, {args.labeled} '
          f'labeled centers, K={args.k}, {where}')
    print(f'features:        {features_mib:.1f} MiB ({args.n} x {args.dim} float32)')
    print(f'time:            {seconds:.2f} s ({1000 * seconds / args.k:.1f} ms per pick)')
    print(f'peak extra {"GPU" if args.device != "cpu" else "RSS"}:  {extra_mib:.1f} MiB = '
          f'{extra_mib / features_mib:.3f}x the features (target < 3x)')
    print(f'first selected:  {selected[:5]}')


if __name__ == '__main__':
    main()
