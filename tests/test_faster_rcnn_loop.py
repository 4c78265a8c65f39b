"""A two-stage detector in the loop: Faster R-CNN + FPN through tools/al_train.py on mini VOC."""
import json
import math

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope

from conftest import config_path
from mmlearnloss.testing.voc import make_voc
from test_al_train import al_train, assert_two_stages, load_state, voc_split_ids

CONFIG = 'faster-rcnn_voc_learnloss_mini.py'
# The mini dataset below: 4 VOC2007 + 4 VOC2012 training images, 2 VOC2007 test images.
POOL = [f'VOC2007/{i:06d}' for i in range(1, 5)] + [f'VOC2012/2012_{i:06d}' for i in range(1, 5)]
# Two stages of 2 + 2 images, batches of 2 (one ranking pair): a run takes seconds of compute.
TINY = ('train_cfg.num_stages=2', 'train_cfg.initial_size=2', 'train_cfg.query_size=2',
        'train_dataloader.batch_size=2', 'val_dataloader.batch_size=2',
        'default_hooks.logger.interval=1')


@pytest.fixture(scope='module')
def voc_root(tmp_path_factory):
    """A working directory with a tiny mini VOC set where the mini configs look for it."""
    root = tmp_path_factory.mktemp('frcnn')
    make_voc(str(root / 'data' / 'mini'), n07=4, n12=4, n_test=2, seed=0)
    return root


def test_voc_config_wraps_faster_rcnn_and_taps_the_five_fpn_levels():
    cfg = Config.fromfile(config_path('faster-rcnn_voc_learnloss.py'))
    cfg.model.architecture.backbone.init_cfg = None  # no ImageNet download
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model).eval()
    assert type(model.architecture).__name__ == 'FasterRCNN'
    assert type(model.architecture.backbone).__name__ == 'ResNet'
    assert model.architecture.backbone.depth == 50
    assert model.architecture.roi_head.bbox_head.num_classes == 20
    assert model.taps.names == ['neck']
    assert model.loss_prediction_head.in_channels == [256] * 5
    with torch.no_grad():
        feats = model.architecture.extract_feat(torch.zeros(1, 3, 128, 128))
    assert [f.shape[1] for f in feats] == [256] * 5
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 4, 2]  # strides 4 ... 64
    assert model.loss_prediction_loss.margin == 1.0
    assert model.loss_prediction_loss.loss_weight == 1.0


def test_voc_config_keeps_the_framework_schedule_in_plain_epochs_and_the_paper_protocol():
    cfg = Config.fromfile(config_path('faster-rcnn_voc_learnloss.py'))
    # mmdet: 4 epochs over VOC07+12 repeated 3 times, lr x0.1 after 3 -> 12 passes, step at 9
    assert cfg.train_dataloader.dataset.type == 'RepeatDataset'
    assert cfg.train_dataloader.dataset.times == 1
    assert cfg.optim_wrapper.optimizer.lr == 0.01
    assert cfg.train_cfg.max_epochs == 12
    assert [s.milestones for s in cfg.param_scheduler if s.type == 'MultiStepLR'] == [[9]]
    stop = [h.epoch for h in cfg.custom_hooks if h.type == 'mmlearnloss.StopLossGradHook']
    assert stop == [7]
    assert (cfg.train_cfg.num_stages, cfg.train_cfg.initial_size, cfg.train_cfg.query_size,
            cfg.train_cfg.subset_size) == (10, 1000, 1000, None)
    assert cfg.train_cfg.strategy == 'learning_loss'
    assert [e.type for e in cfg.val_evaluator] == ['VOCMetric', 'mmlearnloss.LossRankingMetric']


@pytest.mark.parametrize('strategy', ['random', 'entropy', 'coreset'])
def test_baseline_configs_differ_only_by_strategy_and_no_loss_prediction_gradient(strategy):
    main = Config.fromfile(config_path('faster-rcnn_voc_learnloss.py')).to_dict()
    baseline = Config.fromfile(config_path(f'faster-rcnn_voc_{strategy}.py')).to_dict()
    assert baseline['train_cfg'].pop('strategy') == strategy
    assert baseline['model']['loss'].pop('loss_weight') == 0.0
    main['train_cfg'].pop('strategy')
    main['model']['loss'].pop('loss_weight')
    for cfg in (main, baseline):
        cfg.pop('filename', None)
    assert baseline == main


def test_learning_loss_two_stages_label_exactly_k_and_write_voc_imagesets(voc_root, tmp_path):
    # Two epochs per stage, so the gradient stop (epoch 1 in the mini config) happens.
    result = al_train(voc_root, CONFIG, tmp_path, *TINY, 'train_cfg.max_epochs=2')
    assert result.returncode == 0, result.stderr[-3000:]
    state = load_state(tmp_path)
    assert_two_stages(state, 2, 2, POOL)
    for key in ('loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox', 'loss_pred',
                'pascal_voc/mAP', 'learnloss/rank_acc'):
        assert key in result.stdout
    assert result.stdout.count('into the architecture stopped') == 2  # once per stage
    checkpoints = [s['checkpoint'] for s in state['stages']]
    assert [c.rsplit('/', 1)[-1] for c in checkpoints] == ['stage_0_epoch_2.pth',
                                                           'stage_1_epoch_2.pth']
    # the selection's scores are predicted losses of the 6 unlabeled images, highest first
    scores = state['stages'][0]['scores']
    assert len(scores) == 2 and scores == sorted(scores, reverse=True)
    # the written splits are the VOC datasets mmdet builds for stage 2
    loaded = voc_split_ids(tmp_path / 'splits', 'stage_1_labeled', voc_root)
    assert sorted(loaded) == sorted(state['labeled'])
    rows = json.loads((tmp_path / 'al_results.json').read_text())['stages']
    assert [r['num_labeled'] for r in rows] == [2, 4]
    assert all(0 <= r['pascal_voc/mAP'] <= 1 and 0 <= r['learnloss/rank_acc'] <= 1 for r in rows)


# Three more Faster R-CNN runs: the slow tier (make test-slow). The learning-loss run above stays
# fast, as do the strategies on plain tensors (test_strategies.py) and the detectors' entropy
# (test_zoo_per_sample.py).
@pytest.mark.slow
@pytest.mark.parametrize('strategy', ['random', 'entropy', 'coreset'])
def test_baseline_strategy_selects_k_new_pool_images(voc_root, tmp_path, strategy):
    result = al_train(voc_root, CONFIG, tmp_path, *TINY, 'train_cfg.max_epochs=1',
                      f'train_cfg.strategy={strategy}', 'model.loss.loss_weight=0.0')
    assert result.returncode == 0, result.stderr[-3000:]
    state = load_state(tmp_path)
    assert_two_stages(state, 2, 2, POOL)
    results = json.loads((tmp_path / 'al_results.json').read_text())
    assert results['strategy'] == strategy
    scores = state['stages'][0]['scores']
    if strategy == 'entropy':
        # mean entropy of the RoI head's class posteriors, highest first
        assert len(scores) == 2 and scores == sorted(scores, reverse=True)
        assert all(0 <= s <= math.log(21) for s in scores)  # 20 classes + background
    else:
        assert scores == []  # random draws, core-set picks by distance: no score per image
