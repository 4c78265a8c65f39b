"""tools/al_select.py: score a pool with a checkpoint and export the query, on mini VOC and MPII."""
import copy
import csv
import json
import os
import os.path as osp
import subprocess
import sys
from importlib import import_module

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

import al_select
import make_mini_datasets as mini
from conftest import ROOT, build_model, config_path

AL_SELECT = osp.join(ROOT, 'tools', 'al_select.py')
VOC_CONFIG = 'mini/ssd_voc_learnloss_mini.py'
MPII_CONFIG = 'mini/hourglass_mpii_learnloss_mini.py'
VOC2012_POOL = 'data/mini/VOCdevkit/VOC2012/ImageSets/Main/trainval.txt'


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
    """A folder with tiny mini datasets where the mini configs look for them (data/mini)."""
    root = tmp_path_factory.mktemp('select')
    mini.make_voc(str(root / 'data' / 'mini'), n07=4, n12=6, n_test=1)
    mini.make_mpii(str(root / 'data' / 'mini'), n_train=6, n_val=1)
    return root


@pytest.fixture(scope='module')
def voc_model(workdir):
    return save_fresh_model(VOC_CONFIG, 'mmdet', workdir / 'ssd.pth')


@pytest.fixture(scope='module')
def mpii_model(workdir):
    return save_fresh_model(MPII_CONFIG, 'mmpose', workdir / 'hourglass.pth')


def save_fresh_model(config, scope, path):
    """An untrained model of the config and its checkpoint, as a runner would save it."""
    model = build_model(config, scope).eval()
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, str(path))
    return model, str(path)


def run_select(cwd, config, checkpoint, *args):
    cmd = [sys.executable, AL_SELECT, config_path(config), checkpoint, *args]
    result = subprocess.run(cmd, cwd=cwd, env=dict(os.environ, PYTHONPATH=ROOT),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


def read_csv(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def build_dataset(cfg, scope):
    init_default_scope(scope)
    return import_module(f'{scope}.registry').DATASETS.build(copy.deepcopy(cfg))


def val_pipeline(config):
    return Config.fromfile(config_path(config)).val_dataloader.to_dict()['dataset']['pipeline']


def pred_losses(model, dataset, sample_id):
    """The model's score() of every sample of ``dataset`` (one batch), by sample id."""
    data = pseudo_collate([dataset[index] for index in range(len(dataset))])
    values = model.score_step(data)['pred_loss']
    return {sample_id(dataset.get_data_info(index), index): float(values[index])
            for index in range(len(dataset))}


def assert_ranked_top_k(rows, losses, k):
    assert [int(r['rank']) for r in rows] == list(range(1, k + 1))
    scores = [float(r['score']) for r in rows]
    assert scores == sorted(scores, reverse=True)
    for row in rows:
        assert float(row['score']) == pytest.approx(losses[row['id']], rel=1e-4, abs=1e-5)
        assert osp.isfile(row['file'])
    top = sorted(losses, key=losses.get, reverse=True)[:k]
    assert [r['id'] for r in rows] == top


def test_voc_pool_file_query_is_the_k_highest_predicted_losses(workdir, voc_model, tmp_path):
    model, checkpoint = voc_model
    out = tmp_path / 'query'
    run_select(workdir, VOC_CONFIG, checkpoint, '--budget', '3', '--out', str(out), '--pool',
               VOC2012_POOL)
    assert sorted(os.listdir(out)) == ['README.txt', 'query.csv', 'query.json',
                                      'query_VOC2012.txt']
    rows = read_csv(out / 'query.csv')

    data_root = str(workdir / 'data' / 'mini' / 'VOCdevkit') + '/'
    leaf = dict(type='VOCDataset', data_root=data_root, data_prefix=dict(sub_data_root='VOC2012/'),
                test_mode=True, pipeline=val_pipeline(VOC_CONFIG))
    query = build_dataset(dict(leaf, ann_file=str(out / 'query_VOC2012.txt')), 'mmdet')
    assert len(query) == 3
    assert [f"VOC2012/{query.get_data_info(i)['img_id']}" for i in range(3)] == [
        r['id'] for r in rows
    ]
    pool = build_dataset(dict(leaf, ann_file='VOC2012/ImageSets/Main/trainval.txt'), 'mmdet')
    losses = pred_losses(model, pool, lambda info, _: f"VOC2012/{info['img_id']}")
    assert len(losses) == 6
    assert_ranked_top_k(rows, losses, 3)


def test_voc_default_pool_is_the_whole_training_set_of_both_years(workdir, voc_model, tmp_path):
    _, checkpoint = voc_model
    out = tmp_path / 'query'
    run_select(workdir, VOC_CONFIG, checkpoint, '--budget', '7', '--out', str(out),
               '--strategy', 'random', '--seed', '3')
    rows = read_csv(out / 'query.csv')
    assert len({r['id'] for r in rows}) == 7 and [r['score'] for r in rows] == [''] * 7
    by_year = {}
    for year in ('VOC2007', 'VOC2012'):
        lines = (out / f'query_{year}.txt').read_text().split()
        by_year[year] = [f'{year}/{line}' for line in lines]
    assert sorted(by_year['VOC2007'] + by_year['VOC2012']) == sorted(r['id'] for r in rows)
    # each file lists its year's images in rank order
    for year, ids in by_year.items():
        assert ids == [r['id'] for r in rows if r['id'].startswith(year)]


def test_mpii_query_is_a_json_list_of_the_k_highest_predicted_losses(workdir, mpii_model,
                                                                     tmp_path):
    model, checkpoint = mpii_model
    out = tmp_path / 'query'
    run_select(workdir, MPII_CONFIG, checkpoint, '--budget', '3', '--out', str(out),
               '--batch-size', '4')
    rows = read_csv(out / 'query.csv')
    mpii = workdir / 'data' / 'mini' / 'mpii'
    original = json.loads((mpii / 'annotations' / 'mpii_train.json').read_text())
    queried = json.loads((out / 'query_mpii_train.json').read_text())
    assert queried == [original[int(r['id'])] for r in rows]
    leaf = dict(type='MpiiDataset', data_root=str(mpii) + '/', data_mode='topdown',
                data_prefix=dict(img='images/'), test_mode=True,
                pipeline=val_pipeline(MPII_CONFIG))
    query = build_dataset(dict(leaf, ann_file=str(out / 'query_mpii_train.json')), 'mmpose')
    assert len(query) == 3
    assert [osp.basename(query.get_data_info(i)['img_path']) for i in range(3)] == [
        original[int(r['id'])]['image'] for r in rows
    ]
    pool = build_dataset(dict(leaf, ann_file='annotations/mpii_train.json'), 'mmpose')
    losses = pred_losses(model, pool, lambda _, index: str(index))
    assert len(losses) == 6
    assert_ranked_top_k(rows, losses, 3)


def test_pool_file_outside_every_dataset_folder_is_refused(workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    with pytest.raises(SystemExit, match=r'none of the training set.s dataset folders'):
        al_select.main([config_path(VOC_CONFIG), 'unused.pth', '--budget', '2', '--out',
                        'q', '--pool', 'data/mini/mpii/annotations/mpii_train.json'])


def test_budget_larger_than_the_pool_is_refused(workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    with pytest.raises(SystemExit, match='larger than the pool .6 samples'):
        al_select.main([config_path(VOC_CONFIG), 'unused.pth', '--budget', '7', '--out', 'q',
                        '--pool', VOC2012_POOL])


def test_coreset_without_the_labeled_set_is_refused(capsys):
    with pytest.raises(SystemExit):
        al_select.parse_args(['c.py', 'w.pth', '--budget', '2', '--out', 'q', '--strategy',
                              'coreset'])
    assert '--labeled ANN' in capsys.readouterr().err
