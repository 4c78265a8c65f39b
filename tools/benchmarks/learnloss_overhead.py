"""Cost of learning loss: training-step time and parameters with and without the head.

For each of the three configs, the wrapped model (LearningLoss) and its bare architecture run
the same training step (loss, backward, SGD step) on the same synthetic batch, alternately, and
the medians are compared. Prints a table of ratios.

    python tools/benchmarks/learnloss_overhead.py [--repeats 5] [--device cpu|cuda]
        [--tasks cls det pose] [--batch-cls 32] [--batch-det 2] [--batch-pose 2]
"""
import argparse
import logging
import os
import statistics
import sys
import time

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import MODELS, DefaultScope

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build(config, scope):
    """The config's model without pretrained weights (no download; timing is unaffected)."""
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', config))
    cfg.model.architecture.backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval_gt_frame = 'input'  # the batches below draw their boxes on the input
    return model


def cls_batch(model, n):
    from mmpretrain.structures import DataSample
    packed = dict(inputs=[torch.randint(0, 255, (3, 32, 32), dtype=torch.uint8) for _ in range(n)],
                  data_samples=[DataSample().set_gt_label(i % 10) for i in range(n)])
    return model.data_preprocessor(packed, True)


def det_batch(model, n, size=300):
    from mmdet.testing import demo_mm_inputs
    packed = demo_mm_inputs(batch_size=n, image_shapes=[(3, size, size)] * n, num_items=[3] * n,
                            num_classes=20)
    return model.data_preprocessor(packed, True)


def pose_batch(model, n):
    from mmpose.testing import get_packed_inputs
    packed = get_packed_inputs(batch_size=n, num_keypoints=16, img_shape=(256, 256),
                               input_size=(256, 256), heatmap_size=(64, 64),
                               with_reg_label=False, with_simcc_label=False)
    return model.data_preprocessor(packed, True)


TASKS = {
    'cls': ('resnet18_cifar10_learnloss.py', 'mmpretrain', cls_batch, 'ResNet-18 CIFAR-10'),
    'det': ('ssd_voc_learnloss.py', 'mmdet', det_batch, 'SSD300 VOC'),
    'pose': ('hourglass_mpii_learnloss.py', 'mmpose', pose_batch, '2-stack hourglass MPII'),
}


def timed(fn, device):
    """Seconds ``fn()`` takes, the GPU's queued work included."""
    if device == 'cuda':
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device == 'cuda':
        torch.cuda.synchronize()
    return time.perf_counter() - start


def alternating_medians(runs, repeats):
    """Median of each run's seconds: ``runs`` maps names to callables that return the seconds
    they measured; all run in turn, ``repeats`` rounds after one warm-up round."""
    times = {name: [] for name in runs}
    for rep in range(repeats + 1):
        for name, run in runs.items():
            elapsed = run()
            if rep:  # the first round warms up
                times[name].append(elapsed)
    return {name: statistics.median(values) for name, values in times.items()}


def step_time(model, data, device):
    optim = torch.optim.SGD(model.parameters(), lr=1e-6)
    optim.zero_grad()

    def step():
        losses = model(data['inputs'], data['data_samples'], mode='loss')
        total, _ = model.parse_losses(losses)
        total.backward()
        optim.step()

    return timed(step, device)


def count(module):
    return sum(p.numel() for p in module.parameters())


def quiet_logs():
    """Keep mmengine's weight-initialisation report out of the printed table."""
    MMLogger.get_current_instance().setLevel(logging.WARNING)


def measure(task, batch, repeats, device):
    """(label, median step s of the architecture, of the wrapped model, their parameters)."""
    config, scope, make_batch, label = TASKS[task]
    wrapped = build(config, scope).to(device).train()
    arch = wrapped.architecture
    with DefaultScope.overwrite_default_scope(scope):
        data = make_batch(wrapped, batch)
    t = alternating_medians({'arch': lambda: step_time(arch, data, device),
                             'wrapped': lambda: step_time(wrapped, data, device)}, repeats)
    return label, t['arch'], t['wrapped'], count(arch), count(wrapped)


def main():
    quiet_logs()
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--tasks', nargs='+', default=list(TASKS), choices=list(TASKS))
    parser.add_argument('--batch-cls', type=int, default=32)
    parser.add_argument('--batch-det', type=int, default=2)
    parser.add_argument('--batch-pose', type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f'device={args.device} torch={torch.__version__} threads={torch.get_num_threads()} '
          f'repeats={args.repeats} (median of alternating runs, after one warm-up each)')
    header = (f'{"model":<24}{"batch":>6}{"step s (arch)":>15}{"step s (+LL)":>14}{"time x":>8}'
              f'{"params (arch)":>15}{"params (+LL)":>14}{"params x":>10}')
    print(header)
    rows = []
    for task in args.tasks:
        batch = getattr(args, f'batch_{task}')
        label, t_arch, t_ll, p_arch, p_ll = measure(task, batch, args.repeats, args.device)
        rows.append((label, batch, t_arch, t_ll, p_arch, p_ll))
        print(f'{label:<24}{batch:>6}{t_arch:>15.4f}{t_ll:>14.4f}{t_ll / t_arch:>8.3f}'
              f'{p_arch:>15,}{p_ll:>14,}{p_ll / p_arch:>10.4f}', flush=True)
    return rows


if __name__ == '__main__':
    sys.exit(main() and 0)
