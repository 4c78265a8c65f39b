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
from mmlearnloss.active import ALState, PoolSplitter
from mmlearnloss.engine import pipeline_transforms
from mmlearnloss.engine.loss_module_fit_hook import clean_views
from mmlearnloss.evaluation.ranking_metric import ranking_accuracy
from mmlearnloss.testing.voc import make_voc

sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))

from loss_proxy_ranking import build_wrapped, diagnose, main  # noqa: E402

CONFIG = 'mini/ssd_voc_learnloss_mini.py'


@pytest.fixture(scope='module')
def voc_config(tmp_path_factory):
    """The mini SSD300's config on a mini VOC: 4 pool images, 6 test images (other sizes than
    300 px)."""
    root = make_voc(str(tmp_path_factory.mktemp('voc')), n07=2, n12=2, n_test=6, seed=0)
    cfg = Config.fromfile(config_path(CONFIG))
    cfg.val_dataloader.dataset.data_root = root
    for dataset in cfg.train_dataloader.dataset.dataset.datasets:
        dataset.data_root = root
    return cfg


@pytest.fixture(scope='module')
def detector(voc_config):
    """The mini SSD300 and a loader of the 6 VOC test images, through the framework's test
    pipeline, which loads the boxes after Resize."""
    cfg = voc_config
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


def test_the_tool_reads_a_run_dir_and_prints_a_row_per_stage_with_a_checkpoint(
        voc_config, detector, tmp_path, capsys):
    model, loader = detector
    checkpoint = str(tmp_path / 'stage_1.pth')
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    voc_config.dump(str(tmp_path / 'ssd_voc_learnloss_mini.py'))  # as mmengine copies it
    labeled = PoolSplitter(voc_config.train_dataloader.dataset.to_dict()).sample_ids()
    ALState(config_hash='0' * 64, seed=0, stage=1, labeled=labeled,
            stages=[dict(stage=0, num_labeled=3, status='selected', checkpoint=checkpoint),
                    dict(stage=1, num_labeled=4, status='trained')]).save(
                        str(tmp_path / 'al_state.json'))
    main([str(tmp_path), '--epochs', '2'])
    rows = capsys.readouterr().out.strip().splitlines()
    assert rows[1].split(' | ') == ['stage', 'labels', 'module, labeled', 'module, val',
                                    'entropy, val', 'refit, val', 'ceiling, val']
    assert len(rows) == 3  # the stage without a checkpoint has no row
    cells = [float(cell) for cell in rows[2].split(' | ')]
    assert cells[:2] == [1, 3]
    views = clean_views(model, loader, uncertainty=True)
    pred = model.loss_prediction_head.from_pooled(views['pooled']).detach()
    assert cells[3] == pytest.approx(ranking_accuracy(pred, views['target']), abs=5e-4)
    assert cells[4] == pytest.approx(ranking_accuracy(views['uncertainty'], views['target']),
                                     abs=5e-4)
    assert all(0 <= cell <= 1 for cell in cells[2:])


def test_a_state_file_that_is_not_a_run_s_state_says_what_is_wrong(tmp_path):
    (tmp_path / 'al_state.json').write_text('{"format_version": 1, "stages": []}')
    with pytest.raises(SystemExit, match=r'al_state.json is malformed: .*seed'):
        main([str(tmp_path)])
