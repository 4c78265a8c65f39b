"""Scores belong to the samples they were computed on, whatever batch sampler the val config
has (mmdet's AspectRatioBatchSampler regroups samples by shape)."""
import xml.etree.ElementTree as ET

import pytest
import torch
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from mmlearnloss.active.scoring import pool_loader_cfg, score_pool
from mmlearnloss.active.splits import PoolSplitter
from mmlearnloss.testing.voc import make_voc


class WidthScorer(torch.nn.Module):
    """Scores each sample by its image's width, so a score shows whose it is."""

    def score_step(self, data, needs=('pred_loss', )):
        return dict(pred_loss=torch.tensor(
            [float(s.metainfo['ori_shape'][1]) for s in data['data_samples']]))


@pytest.fixture
def voc(tmp_path):
    data_root = make_voc(str(tmp_path / 'data'), n07=8, n12=8, n_test=1, seed=0) + '/'
    pool = PoolSplitter(dict(type='ConcatDataset', datasets=[
        dict(type='VOCDataset', data_root=data_root,
             ann_file=f'{year}/ImageSets/Main/trainval.txt',
             data_prefix=dict(sub_data_root=f'{year}/'), pipeline=[])
        for year in ('VOC2007', 'VOC2012')]))
    val_dataloader = dict(
        batch_size=3, num_workers=0, drop_last=True,
        batch_sampler=dict(type='AspectRatioBatchSampler'),
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(type='VOCDataset', data_root=data_root,
                     ann_file='VOC2007/ImageSets/Main/test.txt',
                     data_prefix=dict(sub_data_root='VOC2007/'), test_mode=True,
                     pipeline=[dict(type='LoadImageFromFile'),
                               dict(type='PackDetInputs', meta_keys=('img_id', 'ori_shape'))]))
    widths = {}
    for sample_id in pool.sample_ids():
        writer = pool.writers[sample_id.startswith('VOC2012')]
        size = ET.parse(writer.annotation_path(sample_id)).getroot().find('size')
        widths[sample_id] = (int(size.findtext('width')), int(size.findtext('height')))
    # Both orientations, so the aspect-ratio sampler would regroup the samples.
    assert len({w < h for w, h in widths.values()}) == 2
    return pool, val_dataloader, widths


def test_scores_follow_the_ids_with_an_aspect_ratio_batch_sampler_in_the_val_config(
        voc, tmp_path):
    pool, val_dataloader, widths = voc
    ids = pool.sample_ids()
    with DefaultScope.overwrite_default_scope('mmdet'):
        loader_cfg, ordered = pool_loader_cfg(val_dataloader, pool, ids, str(tmp_path), 'score')
        out_ids, scores = score_pool(WidthScorer(), Runner.build_dataloader(loader_cfg),
                                     ordered, 'pred_loss')
    assert sorted(out_ids) == sorted(ids)  # none dropped, though the val config drops the last
    assert scores.tolist() == [float(widths[i][0]) for i in out_ids]


def test_a_loader_that_regroups_batches_is_refused(voc, tmp_path):
    pool, val_dataloader, _ = voc
    ids = pool.sample_ids()
    with DefaultScope.overwrite_default_scope('mmdet'):
        loader_cfg, ordered = pool_loader_cfg(val_dataloader, pool, ids, str(tmp_path), 'score')
        loader_cfg['batch_sampler'] = dict(type='AspectRatioBatchSampler')
        loader = Runner.build_dataloader(loader_cfg)
    with pytest.raises(RuntimeError, match='batches with a AspectRatioBatchSampler'):
        score_pool(WidthScorer(), loader, ordered, 'pred_loss')
