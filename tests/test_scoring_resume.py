"""A pool is scored in chunks saved as they are done: a run that died while scoring scores only
what is missing, and selects what an uninterrupted run selects."""
import copy
import os
import subprocess
import sys

import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmpretrain.structures import DataSample
from torch.utils.data import DataLoader

from conftest import ROOT, build_model, running_alongside
from mmlearnloss.active.scoring import score_pool
from test_al_train import (CLS_OPTIONS, al_train, al_train_command, load_state,  # noqa: F401
                           mini_root)


class Interrupted(Exception):
    pass


class RecordingScorer(torch.nn.Module):
    """A model's ``score_step`` that records the samples it is given, and raises before scoring
    the ``fail_at``-th batch (counted from 0), as a kill would stop it."""

    def __init__(self, model, fail_at=None):
        super().__init__()
        self.model = model
        self.fail_at = fail_at
        self.scored = []

    def score_step(self, data, needs):
        if self.fail_at is not None and len(self.scored) == self.fail_at:
            raise Interrupted
        self.scored.append([s.sample_idx for s in data['data_samples']])
        return self.model.score_step(data, needs)


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return build_model('resnet18_cifar10_learnloss.py', 'mmpretrain')


def image_loader(n=10, batch_size=2):
    generator = torch.Generator().manual_seed(0)
    samples = [dict(inputs=torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8,
                                         generator=generator),
                    data_samples=DataSample(metainfo=dict(sample_idx=i))) for i in range(n)]
    return DataLoader(samples, batch_size=batch_size, collate_fn=pseudo_collate)


IDS = [f'img_{i}' for i in range(10)]
NEEDS = ('pred_loss', 'features')


def test_a_resumed_scoring_scores_only_the_unsaved_chunks_and_equals_an_uninterrupted_one(
        model, tmp_path):
    loader = image_loader()
    _, reference = score_pool(RecordingScorer(model), loader, IDS, NEEDS)
    # Chunks of 4 samples (2 batches); killed while scoring the second chunk.
    killed = RecordingScorer(model, fail_at=3)
    with pytest.raises(Interrupted):
        score_pool(killed, loader, IDS, NEEDS, chunk_dir=str(tmp_path), chunk_size=4)
    assert killed.scored == [[0, 1], [2, 3], [4, 5]]
    assert len(list(tmp_path.glob('*_chunk_*.pth'))) == 1  # the first chunk only
    resumed = RecordingScorer(model)
    out_ids, values = score_pool(resumed, loader, IDS, NEEDS, chunk_dir=str(tmp_path),
                                 chunk_size=4)
    assert resumed.scored == [[4, 5], [6, 7], [8, 9]]  # batched as in the uninterrupted run
    assert out_ids == IDS
    for name in NEEDS:
        assert torch.equal(values[name], reference[name])
    assert sorted(p.name.rsplit('_chunk_')[1] for p in tmp_path.glob('*.pth')) == \
        ['0.pth', '1.pth', '2.pth']
    again = RecordingScorer(model)
    _, values = score_pool(again, loader, IDS, NEEDS, chunk_dir=str(tmp_path), chunk_size=4)
    assert again.scored == [] and torch.equal(values['features'], reference['features'])


def test_a_chunk_is_whole_batches_and_files_hold_plain_tensors(model, tmp_path):
    score_pool(RecordingScorer(model), image_loader(), IDS, 'pred_loss', chunk_dir=str(tmp_path),
               chunk_size=5)  # rounded down to 2 batches of 2
    saved = [torch.load(p, weights_only=True) for p in sorted(tmp_path.glob('*.pth'))]
    assert [s['indices'].tolist() for s in saved] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert all(s['pred_loss'].shape == (len(s['indices']), ) for s in saved)
    assert not list(tmp_path.glob('*.tmp'))


@pytest.mark.parametrize('change', ['ids', 'needs', 'weights', 'key'])
def test_chunks_of_another_pool_output_model_or_experiment_are_not_reused(
        change, model, tmp_path):
    loader = image_loader()
    score_pool(RecordingScorer(model), loader, IDS, NEEDS, chunk_dir=str(tmp_path),
               chunk_size=4, chunk_key='experiment-a')
    ids, needs, key, other = IDS, NEEDS, 'experiment-a', model
    if change == 'ids':
        ids = IDS[::-1]
    elif change == 'needs':
        needs = ('pred_loss', )
    elif change == 'key':
        key = 'experiment-b'
    else:
        other = copy.deepcopy(model)
        with torch.no_grad():
            other.loss_prediction_head.fc.bias.add_(1.0)
    scorer = RecordingScorer(other)
    _, values = score_pool(scorer, loader, ids, needs, chunk_dir=str(tmp_path), chunk_size=4,
                           chunk_key=key)
    assert sum(scorer.scored, []) == list(range(10))  # every sample scored again
    _, fresh = score_pool(RecordingScorer(other), loader, ids, needs)
    assert torch.equal(values['pred_loss'], fresh['pred_loss'])
    assert len(list(tmp_path.glob('*.pth'))) == 6  # both keys' chunks, side by side


#: Runs tools/al_train.py, killed (os._exit, no clean-up) when it asks for the 4th batch of
#: scores: the 3 chunks before it are saved.
KILLED_WHILE_SCORING = '''
import os, runpy, sys
from mmlearnloss.models.learning_loss import LearningLoss
score_step, calls = LearningLoss.score_step, []
def killed_at_the_fourth_batch(self, data, needs=('pred_loss', )):
    calls.append(1)
    if len(calls) == 4:
        os._exit(9)
    return score_step(self, data, needs)
LearningLoss.score_step = killed_at_the_fourth_batch
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
'''


@pytest.mark.slow  # kill-and-resume: the slow tier (make test-slow)
def test_a_run_killed_while_scoring_resumes_with_the_saved_chunks_and_selects_the_same(
        mini_root, tmp_path):  # noqa: F811
    # 40 samples scored in batches of 10, a chunk each; no dry run, so every score_step call
    # is the pool's scoring.
    options = (*CLS_OPTIONS, 'train_cfg.score_chunk_size=10', 'train_cfg.dry_run=False')
    config = 'resnet18_cifar10_learnloss_mini.py'
    whole, killed = tmp_path / 'whole', tmp_path / 'killed'
    # The uninterrupted run goes alongside the one that dies (neither depends on the other).
    whole_log = tmp_path / 'whole.log'
    with running_alongside(al_train_command(config, whole, *options), mini_root,
                           whole_log) as uninterrupted:
        driver = tmp_path / 'killed_while_scoring.py'
        driver.write_text(KILLED_WHILE_SCORING)
        cmd = [sys.executable, str(driver), *al_train_command(config, killed, *options)[1:]]
        died = subprocess.run(cmd, cwd=mini_root, env=dict(os.environ, PYTHONPATH=ROOT),
                              capture_output=True, text=True, timeout=900)
    assert uninterrupted.returncode == 0, whole_log.read_text()[-3000:]
    assert 'Scoring: reused 0 of 40 samples' in whole_log.read_text()
    assert died.returncode == 9, died.stderr[-3000:]
    assert load_state(killed)['stages'][0]['status'] == 'evaluated'
    assert len(list((killed / 'score_chunks' / 'stage_0_pool').glob('*.pth'))) == 3
    result = al_train(mini_root, config, killed, *options, resume=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'Scoring: reused 30 of 40 samples' in result.stdout
    assert ', 10 to score.' in result.stdout
    resumed, reference = load_state(killed), load_state(whole)
    assert resumed['labeled'] == reference['labeled']
    assert resumed['stages'][0]['selected'] == reference['stages'][0]['selected']
    assert resumed['stages'][0]['scores'] == reference['stages'][0]['scores']
    # The selection is in the state: the chunks are gone, in both runs.
    assert not list(killed.glob('score_chunks/*/*')) and not list(whole.glob('score_chunks/*/*'))
