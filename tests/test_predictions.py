"""predict_samples: the model's predictions for queried samples (pre-annotations), on this
process only, without replaying any real loss."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from conftest import build_model, config_path
from mmlearnloss.active.predictions import predict_samples
from mmlearnloss.active.scoring import pool_loader_cfg
from mmlearnloss.active.splits import PoolSplitter
from mmlearnloss.engine import pipeline_transforms
from mmlearnloss.testing.voc import make_voc

IDS = ['VOC2012/2012_000002', 'VOC2007/000001', 'VOC2007/000003']


@pytest.fixture
def voc(tmp_path):
    data_root = make_voc(str(tmp_path / 'data'), n07=3, n12=3, n_test=1) + '/'
    cfg = Config.fromfile(config_path('mini/ssd_voc_learnloss_mini.py'))
    for leaf in cfg.train_dataloader.dataset.dataset.datasets:
        leaf.data_root = data_root
    cfg.val_dataloader.dataset.data_root = data_root
    return cfg, PoolSplitter(cfg.train_dataloader.dataset)


def test_predictions_are_plain_values_per_id_and_replay_no_loss(voc, tmp_path, monkeypatch):
    cfg, pool = voc
    model = build_model('mini/ssd_voc_learnloss_mini.py', 'mmdet')
    assert model.val_target_loss  # the config evaluates with real losses
    replays = []
    real_replay = model.adapter.replay
    monkeypatch.setattr(model.adapter, 'replay',
                        lambda *a, **k: replays.append(1) or real_replay(*a, **k))
    model.train()
    with DefaultScope.overwrite_default_scope('mmdet'):
        found = predict_samples(model, cfg.val_dataloader, pool, IDS, str(tmp_path), 'query')
    assert sorted(found) == sorted(IDS)
    for sample_id, prediction in found.items():
        assert len(prediction['bboxes']) == len(prediction['labels']) == len(prediction['scores'])
        assert prediction['ori_shape'][0] > 0 and isinstance(prediction['pred_loss'], float)
        assert 'target_loss' not in prediction
    assert replays == []
    assert model.training and model.val_target_loss  # both as they were


def test_predictions_equal_the_models_own_predict_in_eval_mode(voc, tmp_path):
    cfg, pool = voc
    model = build_model('mini/ssd_voc_learnloss_mini.py', 'mmdet').eval()
    with DefaultScope.overwrite_default_scope('mmdet'):
        found = predict_samples(model, cfg.val_dataloader, pool, IDS[:1], str(tmp_path),
                                'query')
        loader_cfg, _ = pool_loader_cfg(cfg.val_dataloader, pool, IDS[:1], str(tmp_path),
                                        'again')
        loader = Runner.build_dataloader(loader_cfg)
        model.read_eval_pipeline(pipeline_transforms(loader.dataset))
        batch = next(iter(loader))
        with torch.no_grad():
            [result] = model.test_step(batch)
    assert found[IDS[0]]['pred_loss'] == pytest.approx(float(result.pred_loss))
    assert torch.allclose(torch.tensor(found[IDS[0]]['bboxes']), result.pred_instances.bboxes)
