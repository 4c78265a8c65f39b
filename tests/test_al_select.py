"""tools/al_select.py: score a pool with a checkpoint and export the query, on mini VOC and MPII;
the strategy (the config's, or --strategy) on a few MNIST-format digits with LeNet-5."""
import copy
import csv
import json
import os
import os.path as osp
import subprocess
import sys
from importlib import import_module

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

import al_select
import make_mnist5k
from conftest import ROOT, build_model, config_path
from mmlearnloss.active.strategies import (CoresetStrategy, DiverseLearningLossStrategy,
                                           LearningLossStrategy, RandomStrategy)
from mmlearnloss.testing.mpii import make_mpii
from mmlearnloss.testing.voc import make_voc

AL_SELECT = osp.join(ROOT, 'tools', 'al_select.py')
VOC_CONFIG = 'mini/ssd_voc_learnloss_mini.py'
MPII_CONFIG = 'mini/hourglass_mpii_learnloss_mini.py'
VOC2012_POOL = 'data/mini/VOCdevkit/VOC2012/ImageSets/Main/trainval.txt'
DIVERSE_CONFIG = 'mnist5k/lenet5_mnist5k_learnloss_diverse.py'
CORESET_CONFIG = 'mnist5k/lenet5_mnist5k_coreset.py'
MNIST_ROOT = osp.join('data', 'mnist5k')  # where the mnist5k configs look, from the workdir


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
    """A folder with tiny mini datasets where the mini configs look for them (data/mini)."""
    root = tmp_path_factory.mktemp('select')
    make_voc(str(root / 'data' / 'mini'), n07=4, n12=6, n_test=1)
    make_mpii(str(root / 'data' / 'mini'), n_train=6, n_val=1)
    return root


@pytest.fixture(scope='module')
def mnist_workdir(tmp_path_factory):
    """A folder with 24 random 28x28 "digits" in mnist5k's format (train.json: 20, val.json: 4),
    plus unlabeled.json / labeled.json splitting the train entries 14 / 6."""
    root = tmp_path_factory.mktemp('select_mnist')
    images = np.random.default_rng(0).integers(0, 256, (24, 28, 28), dtype=np.uint8)
    labels = np.arange(24) % 10
    rows = {'train': np.arange(20), 'val': np.arange(20, 24),
            'unlabeled': np.arange(14), 'labeled': np.arange(14, 20)}
    make_mnist5k.write_dataset(
        str(root / MNIST_ROOT), images,
        {f'{name}.json': make_mnist5k.annotation(r, labels) for name, r in rows.items()})
    return root


@pytest.fixture(scope='module')
def lenet_model(mnist_workdir):
    """An untrained LeNet-5 learning-loss model and its checkpoint. Built here, not with
    conftest.build_model: LeNet5 takes no init_cfg, and the config's top-level
    data_preprocessor (the digits' mean and std) goes into the model as the Runner puts it."""
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(config_path(DIVERSE_CONFIG))
    model = MODELS.build(dict(cfg.model, data_preprocessor=cfg.data_preprocessor))
    model.init_weights()
    return save_checkpoint(model.eval(), mnist_workdir / 'lenet.pth')


@pytest.fixture(scope='module')
def voc_model(workdir):
    return save_fresh_model(VOC_CONFIG, 'mmdet', workdir / 'ssd.pth')


@pytest.fixture(scope='module')
def mpii_model(workdir):
    return save_fresh_model(MPII_CONFIG, 'mmpose', workdir / 'hourglass.pth')


def save_fresh_model(config, scope, path):
    """An untrained model of the config and its checkpoint, as a runner would save it."""
    return save_checkpoint(build_model(config, scope).eval(), path)


def save_checkpoint(model, path):
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


def mnist_outputs(model, ann_file):
    """pred_loss and features of every digit of ``ann_file``, scored in one batch by the model
    itself (not through al_select), and the sample ids (entry indices)."""
    leaf = dict(type='BaseDataset', data_root=MNIST_ROOT, ann_file=ann_file,
                data_prefix=dict(img_path='images'), test_mode=True,
                pipeline=val_pipeline(DIVERSE_CONFIG))
    dataset = build_dataset(leaf, 'mmpretrain')
    with torch.no_grad():
        values = model.score_step(pseudo_collate([dataset[i] for i in range(len(dataset))]),
                                  needs=('pred_loss', 'features'))
    return [str(i) for i in range(len(dataset))], values


def select_mnist(config, checkpoint, out, *args):
    """al_select.main in this process (the cwd holds data/mnist5k); returns the query's ids."""
    al_select.main([config_path(config), checkpoint, '--out', str(out), *args])
    return [row['id'] for row in read_csv(out / 'query.csv')]


def test_default_strategy_is_the_configs_diverse_learning_loss(mnist_workdir, lenet_model,
                                                               tmp_path, monkeypatch, capsys):
    model, checkpoint = lenet_model
    monkeypatch.chdir(mnist_workdir)
    selected = select_mnist(DIVERSE_CONFIG, checkpoint, tmp_path / 'q', '--budget', '4')
    assert 'Strategy: DiverseLearningLossStrategy(candidate_factor=3' in capsys.readouterr().out

    ids, values = mnist_outputs(model, 'train.json')
    assert selected == DiverseLearningLossStrategy(candidate_factor=3).select(ids, 4, values)
    # not the plain top-4 of learning loss: the config's strategy did the selecting
    assert selected != LearningLossStrategy().select(ids, 4, values['pred_loss'])


def test_strategy_flag_overrides_the_configs(mnist_workdir, lenet_model, tmp_path, monkeypatch,
                                             capsys):
    model, checkpoint = lenet_model
    monkeypatch.chdir(mnist_workdir)
    selected = select_mnist(DIVERSE_CONFIG, checkpoint, tmp_path / 'q', '--budget', '4',
                            '--strategy', 'random', '--seed', '5')
    assert 'RandomStrategy(needs=None, needs_labeled=False), from --strategy random' in \
        capsys.readouterr().out

    ids, values = mnist_outputs(model, 'train.json')
    assert selected == RandomStrategy().select(ids, 4, seed=5)
    assert selected != DiverseLearningLossStrategy(candidate_factor=3).select(ids, 4, values)


def test_configs_strategy_options_are_kept():
    cfg = Config.fromfile(config_path(DIVERSE_CONFIG))
    cfg.merge_from_dict({'train_cfg.strategy.candidate_factor': 1.5})
    strategy, source = al_select.choose_strategy(cfg, None)
    assert isinstance(strategy, DiverseLearningLossStrategy)
    assert strategy.candidate_factor == 1.5
    assert source.startswith('train_cfg.strategy of ')


def test_coreset_of_the_config_starts_from_the_labeled_sets_features(mnist_workdir, lenet_model,
                                                                     tmp_path, monkeypatch):
    model, checkpoint = lenet_model  # same architecture: the coreset config differs in strategy
    monkeypatch.chdir(mnist_workdir)
    selected = select_mnist(CORESET_CONFIG, checkpoint, tmp_path / 'q', '--budget', '3',
                            '--pool', f'{MNIST_ROOT}/unlabeled.json',
                            '--labeled', f'{MNIST_ROOT}/labeled.json')
    ids, pool = mnist_outputs(model, 'unlabeled.json')
    _, labeled = mnist_outputs(model, 'labeled.json')
    assert selected == CoresetStrategy().select(ids, 3, pool['features'], labeled['features'])


def test_configs_strategy_needing_the_labeled_set_without_it_is_refused(mnist_workdir,
                                                                        monkeypatch):
    monkeypatch.chdir(mnist_workdir)
    with pytest.raises(SystemExit, match=r'CoresetStrategy \(train_cfg.strategy of .*\) needs '
                       r'the features of the labeled set too: pass --labeled ANN'):
        al_select.main([config_path(CORESET_CONFIG), 'unused.pth', '--budget', '2', '--out',
                        'q'])


def test_unknown_strategy_is_refused_with_the_registered_ones(mnist_workdir, monkeypatch):
    monkeypatch.chdir(mnist_workdir)
    with pytest.raises(SystemExit) as error:
        al_select.main([config_path(DIVERSE_CONFIG), 'unused.pth', '--budget', '2', '--out',
                        'q', '--strategy', 'most_confusing'])
    message = str(error.value)
    assert "cannot build the strategy 'most_confusing' of --strategy most_confusing" in message
    registered = message.split('Registered strategies: ')[1]
    for name in ('diverse_learning_loss', 'learning_loss', 'random', 'coreset', 'entropy',
                 'DiverseLearningLossStrategy', 'CoresetStrategy'):
        assert name in registered
    assert not osp.exists(mnist_workdir / 'q')
