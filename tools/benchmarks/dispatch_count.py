"""Dispatched operations of one training step, wrapped against plain: the CPU proxy of GPU cost.

On a GPU, eager per-sample work is bound by how many operations are launched, not by arithmetic.
This counts the aten operations one training step (forward and backward) dispatches, views
excluded, with a ``TorchDispatchMode``, for the bare architecture, the ``LearningLoss`` wrapper
(λ as configured) and the wrapper with λ=0 (the baselines' configs, which compute no per-sample
losses). By default on a batch of the digit scenes (``python tools/make_digit_scenes.py``);
with ``--paper``, for the paper's three configs at their batch sizes and Faster R-CNN at 2, on
the frameworks' test inputs, training and validation (predict with the target losses of the
ranking metric against plain predict). Runs on the CPU.

    python tools/benchmarks/dispatch_count.py [--config CFG] [--batch 8] [--data-root DIR]
    python tools/benchmarks/dispatch_count.py --paper
    python tools/benchmarks/dispatch_count.py --mmdet atss/atss_r50_fpn_1x_coco.py --batch 2
"""
import argparse
import os.path as osp
import sys

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.logging import MessageHub
from mmengine.registry import DATASETS, MODELS, DefaultScope, init_default_scope
from mmengine.runner.utils import set_random_seed
from torch.utils._python_dispatch import TorchDispatchMode

import mmlearnloss  # noqa: F401
from mmlearnloss.models.per_sample import total_loss
from mmlearnloss.models.per_sample.recorders import extract_feat_as

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


def step_operations(loss_fn, model) -> int:
    """Operations of the forward and backward of ``loss_fn()``, gradients starting unset (as
    after the optimizer's ``zero_grad``: no accumulation into an earlier step's)."""
    model.zero_grad(set_to_none=True)
    with OperationCount() as counter:
        total_loss(loss_fn()).backward()
    model.zero_grad(set_to_none=True)
    return counter.count


def predict_operations(predict_fn) -> int:
    with torch.no_grad(), OperationCount() as counter:
        predict_fn()
    return counter.count


def frcnn_batch(model, n):
    from mmdet.testing import demo_mm_inputs
    packed = demo_mm_inputs(batch_size=n, image_shapes=[(3, 480, 640)] * n, num_items=[3] * n,
                            num_classes=20)
    return model.data_preprocessor(packed, True)


#: The paper's three configs at its batch sizes, and Faster R-CNN at mmdet's 2 images per GPU.
PAPER = [
    ('SSD300 VOC', 'ssd_voc_learnloss.py', 'mmdet', 'det_batch', 32),
    ('ResNet-18 CIFAR-10', 'resnet18_cifar10_learnloss.py', 'mmpretrain', 'cls_batch', 128),
    ('2-stack hourglass MPII', 'hourglass_mpii_learnloss.py', 'mmpose', 'pose_batch', 6),
    ('Faster R-CNN R50-FPN VOC', 'faster-rcnn_voc_learnloss.py', 'mmdet', 'frcnn_batch', 2),
]


def paper_counts(label, config, scope, batch_maker, batch):
    """{'train': (plain, wrapped), 'val': (plain, wrapped)} operations of one config."""
    import learnloss_overhead
    makers = dict(det_batch=learnloss_overhead.det_batch, cls_batch=learnloss_overhead.cls_batch,
                  pose_batch=learnloss_overhead.pose_batch, frcnn_batch=frcnn_batch)
    set_random_seed(0)
    with DefaultScope.overwrite_default_scope(scope):
        model = learnloss_overhead.build(config, scope)
        data = makers[batch_maker](model, batch)
    inputs, samples = data['inputs'], data['data_samples']
    model.train()
    counts = dict(train=(step_operations(lambda: model.architecture.loss(inputs, samples), model),
                         step_operations(lambda: model(inputs, samples, mode='loss'), model)))
    # λ=0: the loss prediction module trained on nothing, no targets: what the module costs.
    weight = model.loss_prediction_loss.loss_weight
    model.loss_prediction_loss.loss_weight = 0.0
    counts['module'] = step_operations(lambda: model(inputs, samples, mode='loss'), model)
    model.loss_prediction_loss.loss_weight = weight
    model.eval()
    counts['val'] = (
        predict_operations(lambda: model.architecture(inputs, samples, mode='predict')),
        predict_operations(lambda: model(inputs, samples, mode='predict')))
    # The framework's own batch loss on the validation batch's features (heads and loss, no
    # backbone): what the targets are read from.
    arch = model.architecture
    with torch.no_grad():
        feats = arch.extract_feat(inputs)
    with extract_feat_as(arch, lambda *args, **kwargs: feats):
        counts['framework_loss'] = predict_operations(lambda: arch.loss(inputs, samples))
    print(f'{label}, batch {batch}: per-sample losses by '
          f'{model.adapter.path(model.architecture)}', file=sys.stderr, flush=True)
    return counts


def paper_table() -> list:
    """Rows (label, batch, train plain, train wrapped, train λ=0, val plain, val wrapped,
    the framework's loss on the validation batch)."""
    rows = []
    for label, config, scope, maker, batch in PAPER:
        counts = paper_counts(label, config, scope, maker, batch)
        rows.append((label, batch, *counts['train'], counts['module'], *counts['val'],
                     counts['framework_loss']))
    return rows


def print_paper_table(rows) -> None:
    print('Dispatched operations (views excluded), wrapped / plain; targets: training <= 1.10x, '
          'validation with target losses <= 1.15x.\n'
          'λ=0: the loss prediction module alone (no targets, no ranking loss). Floor: plain '
          'predict plus the framework\'s own loss (heads and loss, on the predict pass\'s '
          'features), which the targets are read from.')
    print(f'{"config":<26}{"batch":>6}{"train plain":>13}{"wrapped":>10}{"ratio":>8}'
          f'{"λ=0":>8}{"ratio":>8}{"val plain":>11}{"wrapped":>10}{"ratio":>8}{"floor":>8}')
    for label, batch, tp, tw, tm, vp, vw, fl in rows:
        print(f'{label:<26}{batch:>6}{tp:>13}{tw:>10}{tw / tp:>7.2f}x{tm:>8}{tm / tp:>7.2f}x'
              f'{vp:>11}{vw:>10}{vw / vp:>7.2f}x{(vp + fl) / vp:>7.2f}x')


def mmdet_counts(config: str, batch: int, replay: bool = False) -> tuple:
    """(plain, wrapped) operations of one training step of an mmdet config (a path under
    mmdet's ``.mim/configs``, e.g. ``atss/atss_r50_fpn_1x_coco.py``) wrapped as it is, on
    mmdet's test inputs; with ``replay``, per-sample losses by the replay whatever the family
    (``per_sample='DetectorAdapter'``). The images are 320 x 320 with 3 boxes each."""
    import mmdet
    cfg = Config.fromfile(osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', config))
    cfg.model.backbone.init_cfg = None  # no download
    set_random_seed(0)
    # YOLOX's BatchSyncRandomResize reads the iteration, TOOD's head the epoch (as a runner
    # sets them)
    hub = MessageHub.get_current_instance()
    hub.update_info('iter', 0)
    hub.update_info('epoch', 0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        wrapper = dict(type='mmlearnloss.LearningLoss', architecture=cfg.model)
        if replay:
            wrapper['per_sample'] = 'DetectorAdapter'
        model = MODELS.build(wrapper)
        model.init_weights()
        import learnloss_overhead

        # 320 px: a multiple of every stride (RTMDet pads nothing)
        data = learnloss_overhead.det_batch(model, batch, size=320)
    inputs, samples = data['inputs'], data['data_samples']
    model.train()
    return (step_operations(lambda: model.architecture.loss(inputs, samples), model),
            step_operations(lambda: model(inputs, samples, mode='loss'), model))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default=osp.join(ROOT, 'configs', 'digit_scenes',
                                                     'ssd_digits_learnloss.py'))
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--data-root', default='data/digit_scenes')
    parser.add_argument('--paper', action='store_true',
                        help="the paper's configs at their batch sizes, and Faster R-CNN")
    parser.add_argument('--mmdet', metavar='CONFIG', nargs='+',
                        help="mmdet configs (paths under mmdet's .mim/configs) wrapped as they "
                             "are, on mmdet's test inputs of --batch images")
    parser.add_argument('--replay', action='store_true',
                        help='with --mmdet: per-sample losses by the replay, not the one pass')
    args = parser.parse_args(argv)
    import learnloss_overhead
    learnloss_overhead.quiet_logs()
    if args.paper:
        print_paper_table(paper_table())
        return 0
    if args.mmdet:
        for config in args.mmdet:
            plain, wrapped = mmdet_counts(config, args.batch, args.replay)
            print(f'{config}, batch {args.batch}, one training step: plain {plain} ops, '
                  f'wrapped {wrapped} ({wrapped / plain:.2f}x)'
                  f'{", replayed" if args.replay else ""}', flush=True)
        return 0
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
    plain = step_operations(lambda: model.architecture.loss(inputs, samples), model)
    wrapped = step_operations(lambda: model(inputs, samples, mode='loss'), model)
    weight = model.loss_prediction_loss.loss_weight
    model.loss_prediction_loss.loss_weight = 0.0
    baseline = step_operations(lambda: model(inputs, samples, mode='loss'), model)
    name = osp.splitext(osp.basename(args.config))[0]
    print(f'{name}, batch {args.batch}, one training step (views excluded):')
    print(f'  plain architecture       {plain:>6} ops')
    print(f'  wrapped, λ={weight:<13g}{wrapped:>6} ops  ({wrapped / plain:.2f}x)')
    print(f'  wrapped, λ=0 (baselines) {baseline:>6} ops  ({baseline / plain:.2f}x)')
    return 0


if __name__ == '__main__':
    torch.set_num_threads(2)
    sys.exit(main())
