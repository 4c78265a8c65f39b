"""Time and peak memory of core-set selection (k-Center-Greedy) at the paper's scale.

Random float32 features: the first ``--labeled`` rows are the labeled centers, the other
``--n - --labeled`` rows the scored pool; selects ``--k`` of them with ``CoresetStrategy``, exactly
as the active-learning loop calls it. Peak memory is the growth of the process's peak resident set
(``VmHWM`` in /proc/self/status, reset just before the selection and after a small warm-up call that
loads the BLAS code), because tracemalloc does not see torch's allocations; it is reported as a
ratio to the feature matrix (target: below 3x).

Usage:
    python tools/benchmarks/kcenter_benchmark.py --n 100000 --dim 512 --k 1000 --labeled 1000
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


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not 0 <= args.labeled < args.n:
        raise SystemExit(f'--labeled must be in [0, --n), got {args.labeled} with --n {args.n}')

    generator = torch.Generator().manual_seed(args.seed)
    features = torch.randn(args.n, args.dim, generator=generator)
    labeled, pool = features[:args.labeled], features[args.labeled:]  # views, no copies
    pool_ids = [f'sample_{i}' for i in range(pool.shape[0])]
    features_mib = features.nbytes / MIB

    # Warm-up on a few rows: loads the BLAS/OpenMP code and thread pools, which are resident pages
    # too but do not grow with the features.
    CoresetStrategy().select(pool_ids[:64], 2, pool[:64], labeled[:8])

    gc.collect()
    baseline_kib = read_status_kib('VmRSS')
    exact_peak = reset_peak_rss()
    start = time.perf_counter()
    selected = CoresetStrategy().select(pool_ids, args.k, pool, labeled)
    seconds = time.perf_counter() - start
    extra_mib = max(0, read_status_kib('VmHWM') - baseline_kib) / 1024

    assert len(set(selected)) == args.k, 'duplicate selections'
    print(f'k-Center-Greedy: pool {pool.shape[0]} x {args.dim} float32, {args.labeled} labeled '
          f'centers, K={args.k}, torch threads {torch.get_num_threads()}')
    print(f'features:        {features_mib:.1f} MiB ({args.n} x {args.dim} float32)')
    print(f'time:            {seconds:.2f} s ({1000 * seconds / args.k:.1f} ms per pick)')
    print(f'peak extra RSS:  {extra_mib:.1f} MiB = {extra_mib / features_mib:.3f}x the features '
          f'(target < 3x){"" if exact_peak else "  [peak not resettable: upper bound]"}')
    print(f'first selected:  {selected[:5]}')


if __name__ == '__main__':
    main()
