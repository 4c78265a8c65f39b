"""Time of SSD's crop per image, mmdet's ``MinIoURandomCrop`` against ``FastMinIoURandomCrop``
(same draws, same output), on the digit scenes after SSD's ``Expand``; both crops see the same
expanded images and random state and the script checks that they cut the same patches.

Usage::

    python tools/make_digit_scenes.py --out data/digit_scenes      # once
    python tools/benchmarks/crop_speed.py [--images 300] [--config CONFIG]
"""
import argparse
import copy
import time

import numpy as np
from mmengine.config import Config
from mmengine.registry import init_default_scope

DEFAULT = 'configs/digit_scenes/ssd_digits_learnloss.py'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--images', type=int, default=300)
    parser.add_argument('--config', default=DEFAULT)
    args = parser.parse_args(argv)

    init_default_scope('mmdet')
    from mmdet.datasets.transforms import MinIoURandomCrop
    from mmdet.registry import DATASETS

    from mmlearnloss.datasets import FastMinIoURandomCrop

    cfg = Config.fromfile(args.config)
    leaf = copy.deepcopy(cfg.train_dataloader.dataset.dataset.datasets[0])
    pipeline = leaf.pipeline
    crop_at = next(i for i, t in enumerate(pipeline) if 'MinIoURandomCrop' in t['type'])
    crop_args = {k: v for k, v in pipeline[crop_at].items() if k != 'type'}
    leaf.pipeline = pipeline[:crop_at]
    dataset = DATASETS.build(leaf)
    np.random.seed(0)
    samples = [dataset[i % len(dataset)] for i in range(args.images)]

    seconds, crops = {}, {}
    for crop in (MinIoURandomCrop(**crop_args), FastMinIoURandomCrop(**crop_args)):
        np.random.seed(1)
        start = time.perf_counter()
        out = [crop(copy.deepcopy(s))['img'].shape for s in samples]
        name = type(crop).__name__
        seconds[name], crops[name] = time.perf_counter() - start, out
    assert crops['MinIoURandomCrop'] == crops['FastMinIoURandomCrop'], 'the crops differ'
    for name, value in seconds.items():
        print(f'{name}: {1000 * value / args.images:.2f} ms per image '
              f'({args.images} images of {args.config})')
    print(f'speed-up: {seconds["MinIoURandomCrop"] / seconds["FastMinIoURandomCrop"]:.1f}x')


if __name__ == '__main__':
    main()
