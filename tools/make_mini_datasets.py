"""Generate mini PASCAL VOC, CIFAR-10 and MPII datasets in their real on-disk formats.

The generators are :mod:`mmlearnloss.testing`, one module per dataset (its docstring lists
the layouts); this is their command line. Nothing is downloaded, and a seed gives the same
bytes on every run.

Usage::

    python tools/make_mini_datasets.py [--out data/mini] [--tasks voc cifar mpii] [--seed 0]
"""
import argparse
import os

from mmlearnloss.testing.cifar import make_cifar10
from mmlearnloss.testing.mpii import make_mpii
from mmlearnloss.testing.voc import make_voc

TASKS = {'voc': make_voc, 'cifar': make_cifar10, 'mpii': make_mpii}


def _count_files(folder: str) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default='data/mini', help='output folder')
    parser.add_argument('--tasks', nargs='+', choices=list(TASKS), default=list(TASKS),
                        help='datasets to generate')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--voc-sizes', type=int, nargs=3, metavar=('N07', 'N12', 'NTEST'),
                        default=(40, 40, 24), help='VOC2007 trainval, VOC2012 trainval, '
                        'VOC2007 test images')
    parser.add_argument('--cifar-sizes', type=int, nargs=2, metavar=('NTRAIN', 'NTEST'),
                        default=(600, 200), help='CIFAR-10 train and test images')
    parser.add_argument('--mpii-sizes', type=int, nargs=2, metavar=('NTRAIN', 'NVAL'),
                        default=(80, 24), help='MPII train and val persons')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    sizes = {'voc': args.voc_sizes, 'cifar': args.cifar_sizes, 'mpii': args.mpii_sizes}
    for task in args.tasks:
        folder = TASKS[task](args.out, *sizes[task], seed=args.seed)
        print(f'{task}: wrote {_count_files(folder)} files to {folder} '
              f'(sizes {" ".join(map(str, sizes[task]))}, seed {args.seed})')


if __name__ == '__main__':
    main()
