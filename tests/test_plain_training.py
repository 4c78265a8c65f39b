"""The learning-loss configs also train without active learning, as README says."""
from mmengine.config import Config
from mmengine.runner import Runner

from conftest import config_path
from mmlearnloss.testing.cifar import make_cifar10


def test_plain_epoch_training_logs_loss_pred_and_stops_the_gradient(tmp_path, monkeypatch):
    make_cifar10(str(tmp_path / 'data' / 'mini'), n_train=40, n_test=10, seed=0)
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(config_path('mini/resnet18_cifar10_learnloss_mini.py'))
    cfg.merge_from_dict({'train_dataloader.batch_size': 10, 'val_dataloader.batch_size': 10,
                         'default_hooks.logger.interval': 1})
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2, val_interval=2)
    cfg.custom_hooks = [dict(type='mmlearnloss.StopLossGradHook', epoch=1)]
    cfg.work_dir = str(tmp_path / 'work')
    cfg.experiment_name = 'plain'
    runner = Runner.from_cfg(cfg)
    runner.train()
    with open(runner.logger.log_file) as f:
        log = f.read()
    assert 'loss_pred' in log and 'learnloss/rank_acc' in log
    assert 'Epoch 1: gradient from the loss prediction module into the architecture stopped' in log
    assert runner.model.detach_taps is True
    scalars = runner.message_hub.get_scalar('train/loss_pred').data[0]
    assert len(scalars) == 8 and all(v >= 0 for v in scalars)
