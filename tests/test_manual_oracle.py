"""The manual oracle through al_train.py: stop at the query, refuse incomplete annotations,
continue with the human labels."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from conftest import ROOT
from mmlearnloss.testing.mpii import make_mpii

# The slow tier (make test-slow): hourglass runs stopped at the query and resumed (a minute); the
# query folders and the checks of returned annotations are tested fast in test_oracle.py.
pytestmark = pytest.mark.slow

CONFIG = osp.join(ROOT, 'configs', 'mini', 'hourglass_mpii_learnloss_mini.py')
OPTIONS = ('train_cfg.oracle=manual', 'train_cfg.num_stages=2', 'train_cfg.initial_size=4',
           'train_cfg.query_size=3', 'train_cfg.subset_size=8', 'train_cfg.max_epochs=1',
           'train_dataloader.batch_size=4', 'val_dataloader.batch_size=4')


def al_train(cwd, work_dir, resume=False):
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'al_train.py'), CONFIG, '--work-dir',
           str(work_dir), '--cfg-options', *OPTIONS] + (['--resume'] if resume else [])
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, PYTHONPATH=ROOT))


def test_manual_oracle_stops_checks_the_returned_labels_and_uses_them(tmp_path):
    make_mpii(str(tmp_path / 'data' / 'mini'), n_train=16, n_val=4, seed=0)
    work = tmp_path / 'work'

    first = al_train(tmp_path, work)
    assert first.returncode == 0, first.stderr[-3000:]
    state = json.loads((work / 'al_state.json').read_text())
    record = state['stages'][0]
    assert record['status'] == 'queried' and len(record['selected']) == 3
    assert len(state['labeled']) == 4  # not labeled until the annotations come back
    query_dir = work / 'queries' / 'stage_0'
    assert (query_dir / 'query.csv').exists() and (query_dir / 'README.txt').exists()
    query_file = next(query_dir.glob('query_*.json'))
    assert 'returned' in first.stdout and '--resume' in first.stdout

    # Nothing returned yet, then one sample missing: refused, with the id, state unchanged.
    assert al_train(tmp_path, work, resume=True).returncode != 0
    queried = json.loads(query_file.read_text())
    full = json.loads((tmp_path / 'data/mini/mpii/annotations/mpii_train.json').read_text())
    labels = [dict(full[int(i)]) for i in record['selected']]
    for entry in labels:  # the annotators' joints: shifted by one pixel, so we can tell
        entry['joints'] = [[x + 1, y] for x, y in entry['joints']]
    returned = query_dir / 'returned' / query_file.name
    returned.parent.mkdir(exist_ok=True)
    returned.write_text(json.dumps(labels[:2]))
    incomplete = al_train(tmp_path, work, resume=True)
    assert incomplete.returncode != 0
    missing = record['selected'][2]
    assert f'missing: queried but not returned (1): [{missing}]' in incomplete.stderr
    assert json.loads((work / 'al_state.json').read_text())['stages'][0]['status'] == 'queried'

    returned.write_text(json.dumps(labels))
    done = al_train(tmp_path, work, resume=True)
    assert done.returncode == 0, done.stderr[-3000:]
    final = json.loads((work / 'al_state.json').read_text())
    assert final['labeled'] == state['labeled'] + record['selected']
    assert [s['status'] for s in final['stages']] == ['selected', 'selected']
    split = json.loads(next((work / 'splits').glob('stage_1_labeled*.json')).read_text())
    used = {entry['image']: entry['joints'] for entry in split}
    for entry in labels:
        assert used[entry['image']] == entry['joints']  # the human labels, not the dataset's
    assert len(queried) == 3
