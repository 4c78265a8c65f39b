"""Checkpoints load with ``weights_only=True`` plus the few types mmengine's own checkpoints
hold (mmlearnloss.compat); a file needing any other type is refused, naming the type and
MMLEARNLOSS_TRUST_CHECKPOINTS, and no code from it runs."""
import os
import pickle
import shlex

import mmpose
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from mmengine.runner import Runner, load_checkpoint
from mmpose.datasets.datasets.utils import parse_pose_metainfo

from conftest import config_path
from mmlearnloss.compat import TRUST_ENV, safe_load
from mmlearnloss.testing.cifar import make_cifar10

CONFIG = 'mini/resnet18_cifar10_learnloss_mini.py'


def mini_config(root, work_dir, name: str) -> Config:
    """The mini CIFAR-10 learning-loss config, data under ``root``, batches of 10."""
    cfg = Config.fromfile(config_path(CONFIG))
    data_root = str(root / 'data' / 'mini' / 'cifar10')
    cfg.merge_from_dict({
        'train_dataloader.dataset.data_root': data_root, 'train_dataloader.batch_size': 10,
        'val_dataloader.dataset.data_root': data_root, 'val_dataloader.batch_size': 10,
        'test_dataloader.dataset.data_root': data_root, 'default_hooks.logger.interval': 1})
    cfg.custom_hooks = []
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = name  # runners of one second would share a logger and message hub
    return cfg


def plain_config(root, work_dir, name: str) -> Config:
    cfg = mini_config(root, work_dir, name)
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=10)
    return cfg


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp('checkpoints')
    make_cifar10(str(root / 'data' / 'mini'), n_train=40, n_test=10, seed=0)
    return root


@pytest.fixture(scope='module')
def trained(root):
    """A Runner after one epoch of SGD with momentum and a MultiStepLR, its checkpoint
    (message hub included), and one more with an mmpose dataset's numpy metainfo in meta."""
    runner = Runner.from_cfg(plain_config(root, root / 'plain', 'plain'))
    runner.train()
    pose_meta = parse_pose_metainfo(dict(from_file=os.path.join(
        os.path.dirname(mmpose.__file__), '.mim', 'configs', '_base_', 'datasets', 'mpii.py')))
    runner.save_checkpoint(runner.work_dir, 'numpy_meta.pth',
                           meta=dict(pose_dataset_meta=pose_meta, best_score=np.float64(0.5)))
    return runner


def fresh_model(cfg):
    cfg.model.architecture.backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg.model)


def assert_same_weights(model, reference):
    expected = reference.state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(value, expected[key]), key


def test_torchs_weights_only_load_alone_refuses_an_mmengine_checkpoint(trained):
    # why mmlearnloss.compat exists: the message hub and numpy values
    with pytest.raises(pickle.UnpicklingError, match='numpy|HistoryBuffer'):
        torch.load(os.path.join(trained.work_dir, 'epoch_1.pth'), weights_only=True)


def test_a_runner_checkpoint_loads_with_message_hub_and_numpy_meta(trained):
    checkpoint = safe_load(os.path.join(trained.work_dir, 'numpy_meta.pth'))
    assert set(checkpoint) >= {'meta', 'state_dict', 'message_hub', 'optimizer',
                               'param_schedulers'}
    loss = checkpoint['message_hub']['log_scalars']['train/loss']
    assert loss.mean() == trained.message_hub.get_scalar('train/loss').mean()
    pose_meta = checkpoint['meta']['pose_dataset_meta']
    assert pose_meta['sigmas'].dtype == np.float32 and pose_meta['sigmas'].shape == (16, )
    assert pose_meta['keypoint_colors'].dtype == np.uint8
    assert checkpoint['meta']['best_score'] == np.float64(0.5)


def test_load_checkpoint_restores_the_weights(trained, root):
    model = fresh_model(plain_config(root, root / 'unused', 'unused'))
    load_checkpoint(model, os.path.join(trained.work_dir, 'epoch_1.pth'), map_location='cpu')
    assert_same_weights(model, trained.model)


def test_resume_restores_epoch_optimizer_and_message_hub(trained, root):
    runner = Runner.from_cfg(plain_config(root, root / 'resumed', 'resumed'))
    runner.resume(os.path.join(trained.work_dir, 'epoch_1.pth'))
    assert runner.epoch == 1 and runner.iter == 4
    assert_same_weights(runner.model, trained.model)
    expected = trained.optim_wrapper.optimizer.state_dict()['state']
    resumed = runner.optim_wrapper.optimizer.state_dict()['state']
    assert resumed.keys() == expected.keys()
    for index, state in expected.items():
        assert torch.equal(resumed[index]['momentum_buffer'], state['momentum_buffer'])
    assert runner.message_hub.get_scalar('train/loss').mean() == \
        trained.message_hub.get_scalar('train/loss').mean()


def test_the_allow_list_is_only_active_during_a_load(trained):
    # compared as sets: torch keeps them in a set, whose order may change when the context
    # adds and removes entries (seen in CI: the same globals in another order)
    before = set(torch.serialization.get_safe_globals())
    safe_load(os.path.join(trained.work_dir, 'epoch_1.pth'))
    after = torch.serialization.get_safe_globals()
    assert len(after) == len(before) and set(after) == before


def test_an_active_learning_stage_checkpoint_loads_and_resumes(root):
    cfg = mini_config(root, root / 'loop', 'loop')
    cfg.merge_from_dict({'train_cfg.num_stages': 1, 'train_cfg.initial_size': 20,
                         'train_cfg.max_epochs': 1})
    runner = Runner.from_cfg(cfg)
    runner.train()
    checkpoint = os.path.join(runner.work_dir, 'stage_0_epoch_1.pth')
    model = fresh_model(cfg)
    load_checkpoint(model, checkpoint, map_location='cpu')
    assert_same_weights(model, runner.model)
    resumed = Runner.from_cfg(plain_config(root, root / 'loop_resumed', 'loop_resumed'))
    resumed.resume(checkpoint)
    assert resumed.epoch == 1
    assert_same_weights(resumed.model, runner.model)


class Payload:
    """An object of a class of its own, as any pickle may hold."""

    def __init__(self, value):
        self.value = value


class WritesAMarker:
    """Unpickling it runs a shell command."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return os.system, (f'touch {shlex.quote(self.path)}', )


def test_a_file_with_an_unknown_type_is_refused_naming_it_and_the_opt_in(tmp_path):
    path = tmp_path / 'payload.pth'
    torch.save(dict(state_dict={}, meta=dict(extra=Payload(3))), path)
    with pytest.raises(pickle.UnpicklingError,
                       match=rf'payload.pth was not loaded: it needs '
                       rf'test_checkpoint_loading.Payload, .*{TRUST_ENV}=1'):
        load_checkpoint(torch.nn.Linear(1, 1), str(path))


def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / 'marker'
    path = tmp_path / 'evil.pth'
    torch.save(dict(state_dict={}, meta=dict(extra=WritesAMarker(marker))), path)
    with pytest.raises(pickle.UnpicklingError, match=rf'it needs posix.system, .*{TRUST_ENV}=1'):
        load_checkpoint(torch.nn.Linear(1, 1), str(path))
    assert not marker.exists()


def test_getattr_reaches_only_history_buffer_statistics(tmp_path):
    # mmengine pickles HistoryBuffer's statistics as getattr(HistoryBuffer, 'mean'); a getattr
    # on anything else (here reaching numpy's file writer) is refused.
    class Reach:

        def __reduce__(self):
            return getattr, (np.ndarray, 'tofile')

    path = tmp_path / 'getattr.pth'
    torch.save(dict(meta=dict(extra=Reach())), path)
    with pytest.raises(pickle.UnpicklingError, match=r"getattr\(<class 'numpy.ndarray'>, "
                       r"'tofile'\) is not allowed.*" + TRUST_ENV):
        safe_load(str(path))


def test_with_the_opt_in_such_files_load_with_full_unpickling(tmp_path, monkeypatch):
    path = tmp_path / 'payload.pth'
    torch.save(dict(meta=dict(extra=Payload(3))), path)
    marker = tmp_path / 'marker'
    evil = tmp_path / 'evil.pth'
    torch.save(dict(meta=dict(extra=WritesAMarker(marker))), evil)
    monkeypatch.setenv(TRUST_ENV, '1')
    assert safe_load(str(path))['meta']['extra'].value == 3
    safe_load(str(evil))
    assert marker.exists()  # trusting a file means running what it holds
