"""``auto_scale_lr`` in the loop: every stage's optimizer starts from the config's lr scaled once by
real batch size / base_batch_size, as mmengine's Runner scales a run's."""
import re

import pytest

from mmlearnloss.testing.cifar import make_cifar10
from test_al_train import CLS_OPTIONS, al_train


@pytest.fixture(scope='module')
def cifar_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('auto_scale_lr')
    make_cifar10(str(root / 'data' / 'mini'), n_train=100, n_test=20, seed=0)
    return root


def stage_lrs(log: str) -> dict:
    """{stage: the lrs its training iterations logged}."""
    lrs, stage = {}, None
    for line in log.splitlines():
        started = re.search(r'===== Stage (\d+)/', line)
        if started:
            stage = int(started.group(1))
        logged = re.search(r'Epoch\(train\).*?\blr: (\S+)', line)
        if logged:
            lrs.setdefault(stage, []).append(float(logged.group(1)))
    return lrs


def test_every_stage_trains_with_the_lr_scaled_once_by_the_real_batch_size(cifar_root, tmp_path):
    # ResNet-18 CIFAR config: SGD lr 0.1; batch 10 on one process against a base of 40.
    result = al_train(cifar_root, 'resnet18_cifar10_learnloss_mini.py', tmp_path, *CLS_OPTIONS,
                      'auto_scale_lr.enable=True', 'auto_scale_lr.base_batch_size=40')
    assert result.returncode == 0, result.stderr[-3000:]
    lrs = stage_lrs(result.stdout)
    assert sorted(lrs) == [1, 2]
    for stage_lrs_logged in lrs.values():
        assert stage_lrs_logged == pytest.approx([0.1 * 10 / 40] * len(stage_lrs_logged))
    assert result.stdout.count('Scaling the original LR by 0.25') >= 2
