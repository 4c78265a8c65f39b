"""Dispatched operations of one training step, wrapped against plain: the CPU proxy of GPU cost.

On a GPU, eager per-sample work is bound by how many operations are launched, not by arithmetic.
This counts the aten operations one training step (forward and backward) dispatches, views
excluded, with a ``TorchDispatchMode``, for the bare architecture, the ``LearningLoss`` wrapper
(λ as configured) and the wrapper with λ=0 (the baselines' configs, which compute no per-sample
losses). Runs on the CPU; needs the digit scenes (``python tools/make_digit_scenes.py``).

    python tools/benchmarks/dispatch_count.py [--config CFG] [--batch 8] [--data-root DIR]
"""
import argparse
import os.path as osp
import sys

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DATASETS, MODELS, DefaultScope, init_default_scope
from mmengine.runner.utils import set_random_seed
from torch.utils._python_dispatch import TorchDispatchMode

import mmlearnloss  # noqa: F401
from mmlearnloss.models.per_sample import total_loss

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


class OperationCount(TorchDispatchMode):
    """Counts the operations dispatched inside the block, views left out."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not func.is_view:
            self.count += 1
        return func(*args, **(kwargs or {}))


def step_operations(loss_fn) -> int:
    with OperationCount() as counter:
        total_loss(loss_fn()).backward()
    return counter.count


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default=osp.join(ROOT, 'configs', 'digit_scenes',
                                                     'ssd_digits_learnloss.py'))
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--data-root', default='data/digit_scenes')
    args = parser.parse_args(argv)
    voc = osp.join(args.data_root, 'VOCdevkit') + '/'
    if not osp.isdir(voc):
        print(f'dispatch_count.py: error: no digit scenes in {args.data_root}; create them with '
              f'python tools/make_digit_scenes.py --out {args.data_root}', file=sys.stderr)
        return 2
    set_random_seed(0)  # the same weights and augmented batch every run
    cfg = Config.fromfile(args.config)
    init_default_scope('mmdet')
    dataset_cfg = cfg.train_dataloader.dataset.dataset.datasets[0].to_dict()
    dataset_cfg['data_root'] = voc
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
        model.init_weights()
        dataset = DATASETS.build(dataset_cfg)
    data = model.data_preprocessor(pseudo_collate([dataset[i] for i in range(args.batch)]), True)
    inputs, samples = data['inputs'], data['data_samples']
    model.train()
    plain = step_operations(lambda: model.architecture.loss(inputs, samples))
    wrapped = step_operations(lambda: model(inputs, samples, mode='loss'))
    weight = model.loss_prediction_loss.loss_weight
    model.loss_prediction_loss.loss_weight = 0.0
    baseline = step_operations(lambda: model(inputs, samples, mode='loss'))
    name = osp.splitext(osp.basename(args.config))[0]
    print(f'{name}, batch {args.batch}, one training step (views excluded):')
    print(f'  plain architecture       {plain:>6} ops')
    print(f'  wrapped, λ={weight:<13g}{wrapped:>6} ops  ({wrapped / plain:.2f}x)')
    print(f'  wrapped, λ=0 (baselines) {baseline:>6} ops  ({baseline / plain:.2f}x)')
    return 0


if __name__ == '__main__':
    torch.set_num_threads(2)
    sys.exit(main())
