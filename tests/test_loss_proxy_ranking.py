"""tools/analysis/loss_proxy_ranking.py: what the module and cheap proxies know of the real
losses, on the clean views of a real detector's images."""
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from conftest import ROOT, config_path
from mmlearnloss.engine import pipeline_transforms
from mmlearnloss.engine.loss_module_fit_hook import clean_views
from mmlearnloss.evaluation.ranking_metric import ranking_accuracy
from mmlearnloss.testing.voc import make_voc

sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))

from loss_proxy_ranking import build_wrapped, diagnose, main  # noqa: E402

CONFIG = 'mini/ssd_voc_learnloss_mini.py'


@pytest.fixture(scope='module')
def detector(tmp_path_factory):
    """The mini SSD300 and a loader of 6 VOC test images (other sizes than 300 px), through
    the framework's test pipeline, which loads the boxes after Resize."""
    root = make_voc(str(tmp_path_factory.mktemp('voc')), n07=2, n12=2, n_test=6, seed=0)
    cfg = Config.fromfile(config_path(CONFIG))
    cfg.val_dataloader.dataset.data_root = root
    torch.manual_seed(0)  # the same weights whatever ran before in this process
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = build_wrapped(cfg).eval()  # as the tool builds it from a run's config copy
        # as a Runner does before training; the tool loads a checkpoint instead. Without it,
        # SSDNeck's L2Norm weight is uninitialised memory, at times making every loss NaN.
        model.init_weights()
        loader = Runner.build_dataloader(cfg.val_dataloader)
    model.read_eval_pipeline(pipeline_transforms(loader.dataset))
    return model, loader


def test_clean_views_give_the_module_s_predictions_and_the_targets_of_predict(detector):
    model, loader = detector
    views = clean_views(model, loader, uncertainty=True)
    predicted, real = [], []
    with torch.no_grad():
        for data in loader:
            data = model.data_preprocessor(data, False)
            for result in model(data['inputs'], data['data_samples'], mode='predict'):
                predicted.append(result.pred_loss)
                real.append(result.target_loss)
    torch.testing.assert_close(views['target'], torch.stack(real))
    torch.testing.assert_close(model.loss_prediction_head.from_pooled(views['pooled']),
                               torch.stack(predicted))
    assert views['uncertainty'].shape == (6, ) and views['target'].std() > 0


def test_diagnosis_scores_the_module_the_proxies_a_refit_and_a_ceiling(detector):
    model, loader = detector
    views = clean_views(model, loader, uncertainty=True)
    before = {k: v.clone() for k, v in model.loss_prediction_head.state_dict().items()}
    result = diagnose(model, views, views, batch_size=2, epochs=20)
    pred = model.loss_prediction_head.from_pooled(views['pooled']).detach()
    assert result['module_val'] == result['module_labeled'] == \
        ranking_accuracy(pred, views['target'])
    assert result['entropy_val'] == ranking_accuracy(views['uncertainty'], views['target'])
    assert 0 <= result['refit_val'] <= 1 and 0 <= result['ceiling_val'] <= 1
    assert (result['labeled'], result['val']) == (6, 6)
    for key, value in model.loss_prediction_head.state_dict().items():  # fits work on copies
        assert torch.equal(value, before[key])


def test_a_dir_without_state_says_what_is_expected(tmp_path):
    with pytest.raises(SystemExit, match='no .*al_state.json; expected a run dir'):
        main([str(tmp_path)])
