"""The Label Studio oracle against a real Label Studio server (tools/label_studio_server.py).

A detection run on mini VOC stops after its selection with the queried images as tasks in a
project, pre-annotated with the model's boxes; the test plays the annotators over the HTTP API,
resumes, and checks the human boxes end up in the next stage's split. The first use creates
Label Studio's own environment (.venv-label-studio, about 4 minutes); later runs start the server
in about 15 s.
"""
import json
import os
import os.path as osp
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET

import pytest

import label_studio_server
from conftest import ROOT, tree_digest
from mmlearnloss.active.splits import PoolSplitter
from mmlearnloss.annotation.label_studio.oracle import (LabelStudioClient, LabelStudioError,
                                                        LabelStudioOracle, collect_returned)
from mmlearnloss.annotation.query import write_query
from mmlearnloss.testing.voc import make_voc

# The slow tier (make test-slow): a real server, from Label Studio's own environment.
pytestmark = pytest.mark.slow

OPTIONS = ('train_cfg.num_stages=2', 'train_cfg.initial_size=4', 'train_cfg.query_size=3',
           'train_cfg.max_epochs=1', 'train_dataloader.batch_size=4', 'val_dataloader.batch_size=4')
TIMINGS = {}


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    """A Label Studio serving the images under a fresh folder; stopped after the module."""
    root = tmp_path_factory.mktemp('label_studio')
    began = time.time()
    label_studio_server.ensure_env()
    TIMINGS['environment ready'] = time.time() - began
    # A password beginning with '-', as secrets.token_urlsafe draws one time in 64: the server
    # must take it as the value, not as an option.
    info = label_studio_server.start(files_root=str(root), password='-Pa55-word')
    TIMINGS['server start'] = info['startup_seconds']
    yield dict(info, root=root)
    label_studio_server.stop(info)
    print('\nLabel Studio timings (s): ' + ', '.join(f'{k} {v:.1f}' for k, v in TIMINGS.items()))


@pytest.fixture(scope='module')
def queried(server):
    """The run stopped after stage 1's selection, its tasks in Label Studio."""
    root = server['root']
    make_voc(str(root / 'data' / 'mini'), n07=6, n12=6, n_test=2, seed=0)
    config = root / 'ssd_voc_label_studio.py'
    config.write_text(
        f"_base_ = {osp.join(ROOT, 'configs', 'mini', 'ssd_voc_learnloss_mini.py')!r}\n"
        "train_cfg = dict(oracle=dict(type='label_studio', url={url!r}, project='mini VOC',\n"
        "                             files_root={files_root!r}, score_threshold=0.0))\n".format(
            url=server['url'], files_root=str(root)))
    work = root / 'work'
    began = time.time()
    first = al_train(server, config, work)
    TIMINGS['train, select and send the query'] = time.time() - began
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    state = load_state(work)
    with open(work / 'queries' / 'stage_0' / 'label_studio.json') as f:
        sent = json.load(f)
    return dict(root=root, config=config, work=work, first=first, state=state, sent=sent,
                client=LabelStudioClient(server['url'], server['token']))


def al_train(server, config, work, *options, token=None):
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'al_train.py'), str(config), '--work-dir',
           str(work), '--cfg-options', *OPTIONS, *options]
    if osp.exists(osp.join(work, 'al_state.json')):
        cmd.append('--resume')
    env = dict(os.environ, PYTHONPATH=ROOT, LABEL_STUDIO_API_KEY=token or server['token'])
    return subprocess.run(cmd, cwd=server['root'], env=env, capture_output=True, text=True,
                          timeout=900)


def load_state(work):
    with open(osp.join(work, 'al_state.json')) as f:
        return json.load(f)


def query_tasks(queried):
    """The project's tasks of this query, by sample id."""
    tasks = queried['client'].export(queried['sent']['project'])
    return {t['data']['sample_id']: t for t in tasks
            if t['data'].get('query') == queried['sent']['query']}


def submit(client, task, result):
    client.request('POST', f'/api/tasks/{task["id"]}/annotations',
                   dict(result=result, was_cancelled=False))


def predicted_result(client, task):
    [prediction] = task['predictions']
    if isinstance(prediction, int):  # the export lists prediction ids
        prediction = client.request('GET', f'/api/predictions/{prediction}')
    return prediction


def voc_boxes(path):
    objects = ET.parse(path).getroot().findall('object')
    return [(o.findtext('name'), [int(o.find('bndbox').findtext(k))
                                  for k in ('xmin', 'ymin', 'xmax', 'ymax')]) for o in objects]


def expected_voc_box(item):
    """What the XML must hold for a Label Studio rectangle: the pixels it covers, 1-based
    inclusive as VOC writes them (the rectangle from 0 to 10 covers pixels 1..10)."""
    value, w, h = item['value'], item['original_width'], item['original_height']
    x0, y0 = value['x'] * w / 100, value['y'] * h / 100
    x1, y1 = x0 + value['width'] * w / 100, y0 + value['height'] * h / 100
    return (value['rectanglelabels'][0],
            [round(max(0, x0)) + 1, round(max(0, y0)) + 1, round(min(w, x1)), round(min(h, y1))])


def test_query_becomes_pre_annotated_tasks_ranked_by_predicted_loss(queried):
    record = queried['state']['stages'][0]
    assert record['status'] == 'queried' and len(record['selected']) == 3
    assert len(queried['state']['labeled']) == 4
    tasks = query_tasks(queried)
    assert sorted(tasks) == sorted(record['selected'])
    ranked = sorted(tasks.values(), key=lambda t: t['id'])  # imported most informative first
    assert [t['data']['sample_id'] for t in ranked] == record['selected']
    assert [t['data']['selection_score'] for t in ranked] == pytest.approx(record['scores'])
    for task in ranked:
        assert task['data']['predicted_loss'] == pytest.approx(task['data']['selection_score'],
                                                               rel=1e-4)
        prediction = predicted_result(queried['client'], task)
        assert prediction['result'], 'every task is pre-annotated with the model\'s boxes'
        # Label Studio shows the score as the prediction's confidence: the boxes' mean score.
        assert prediction['score'] == pytest.approx(
            sum(r['score'] for r in prediction['result']) / len(prediction['result']))
        assert 0 <= prediction['score'] <= 1
        assert {r['type'] for r in prediction['result']} == {'rectanglelabels'}
    project = queried['client'].request('GET', f'/api/projects/{queried["sent"]["project"]}')
    assert '<Label value="aeroplane"/>' in project['label_config']
    assert queried['sent']['project_url'] in queried['first'].stdout
    assert '--resume' in queried['first'].stdout
    # The server serves the images to the annotators.
    client = queried['client']
    image = urllib.request.Request(client.url + ranked[0]['data']['image'],
                                   headers={'Authorization': f'Token {client.token}'})
    with urllib.request.urlopen(image) as response:
        assert response.read()[:2] == b'\xff\xd8'  # a JPEG


def test_wrong_token_is_named_and_nothing_changes(server, queried, monkeypatch):
    # What `al_train.py --resume` calls first (through the loop); the run itself is tested below.
    monkeypatch.setenv('LABEL_STUDIO_API_KEY', 'not-the-token')
    query_dir = str(queried['work'] / 'queries' / 'stage_0')
    before = tree_digest(query_dir)
    with pytest.raises(LabelStudioError, match=r'refused the API token from \$LABEL_STUDIO_'):
        collect_returned(None, query_dir, LabelStudioOracle(url=server['url']))
    assert tree_digest(query_dir) == before


def test_unreachable_server_is_named_and_nothing_changes(queried, monkeypatch):
    monkeypatch.setenv('LABEL_STUDIO_API_KEY', 'any')
    gone = 'http://127.0.0.1:9'  # discard port: nothing listens there
    query_dir = str(queried['work'] / 'queries' / 'stage_0')
    before = tree_digest(query_dir)
    with pytest.raises(LabelStudioError, match=f'Cannot reach Label Studio at {gone}'):
        collect_returned(None, query_dir, LabelStudioOracle(url=gone))
    assert tree_digest(query_dir) == before


def test_resume_with_open_tasks_reports_them_and_changes_nothing(server, queried):
    tasks = query_tasks(queried)
    first = queried['state']['stages'][0]['selected'][0]
    if not tasks[first]['annotations']:
        submit(queried['client'], tasks[first],
               predicted_result(queried['client'], tasks[first])['result'][:1])
    voc = queried['root'] / 'data' / 'mini' / 'VOCdevkit'
    before = tree_digest(voc), tree_digest(queried['work'] / 'queries')
    result = al_train(server, queried['config'], queried['work'])
    assert result.returncode != 0
    assert 'al_train.py: error: AnnotationsPending: 2 of 3 tasks of this query are still ' \
           'open' in result.stderr and 'Traceback' not in result.stderr
    assert queried['sent']['project_url'] in result.stderr
    assert (tree_digest(voc), tree_digest(queried['work'] / 'queries')) == before
    assert load_state(queried['work']) == queried['state']


def test_submitted_boxes_become_the_next_stage_labels(server, queried):
    client, record = queried['client'], queried['state']['stages'][0]
    tasks = query_tasks(queried)
    began = time.time()
    submitted = {}
    for rank, sample_id in enumerate(record['selected']):
        task = tasks[sample_id]
        if task['annotations']:  # annotated by the test above: accepted as predicted
            submitted[sample_id] = task['annotations'][0]['result']
            continue
        predicted = predicted_result(client, task)['result']
        if rank == 1:  # an annotator corrects the model: other class, box moved
            item = json.loads(json.dumps(predicted[0]))
            item['value'].update(x=10.0, y=20.0, width=30.0, height=40.0,
                                 rectanglelabels=['dog'])
            result = [item]
        else:  # accepted as predicted (the most confident box)
            result = predicted[:1]
        submit(client, task, result)
        submitted[sample_id] = result
    TIMINGS['annotate over the API'] = time.time() - began

    began = time.time()
    done = al_train(server, queried['config'], queried['work'])
    TIMINGS['resume: fetch, convert, check, train stage 2'] = time.time() - began
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    final = load_state(queried['work'])
    assert final['labeled'] == queried['state']['labeled'] + record['selected']
    assert [s['status'] for s in final['stages']] == ['selected', 'selected']
    split = []
    for year in ('VOC2007', 'VOC2012'):
        path = queried['work'] / 'splits' / f'stage_1_labeled_{year}.txt'
        if path.exists():
            split += [f'{year}/{line}' for line in path.read_text().split()]
    assert sorted(split) == sorted(final['labeled'])
    voc = queried['root'] / 'data' / 'mini' / 'VOCdevkit'
    for sample_id, result in submitted.items():
        year, image_id = sample_id.split('/')
        xml = voc / year / 'Annotations' / f'{image_id}.xml'
        assert voc_boxes(xml) == [expected_voc_box(item) for item in result]
    edited = record['selected'][1]
    assert voc_boxes(voc / edited.split('/')[0] / 'Annotations' /
                     f'{edited.split("/")[1]}.xml')[0][0] == 'dog'


def test_client_errors_name_the_url_and_the_token_variable(server):
    with pytest.raises(LabelStudioError, match='Cannot reach Label Studio at http://127.0.0.1:9'):
        LabelStudioClient('http://127.0.0.1:9', 'x').check()
    with pytest.raises(LabelStudioError, match=r'refused the API token from \$MY_TOKEN'):
        LabelStudioClient(server['url'], 'wrong', token_env='MY_TOKEN').check()


def test_a_project_serves_several_queries_and_refuses_another_labeling_config(
        server, tmp_path, monkeypatch):
    monkeypatch.setenv('LABEL_STUDIO_API_KEY', server['token'])
    data = server['root'] / 'reuse'
    root = make_voc(str(data), n07=3, n12=1, n_test=1)
    pool = PoolSplitter(dict(type='VOCDataset', data_root=root + '/',
                             ann_file='VOC2007/ImageSets/Main/trainval.txt',
                             data_prefix=dict(sub_data_root='VOC2007/'), pipeline=[]))
    oracle = LabelStudioOracle(url=server['url'], project='two queries',
                               files_root=str(server['root']))
    first = write_query(pool, ['VOC2007/000002'], [0.7], str(data / 'q0'))
    second = write_query(pool, ['VOC2007/000003', 'VOC2007/000001'], [0.9, 0.4],
                         str(data / 'q1'))
    url = oracle.ask(pool, first, [0.7], None, stage=0)
    assert oracle.ask(pool, second, [0.9, 0.4], None, stage=1) == url
    oracle.ask(pool, second, [0.9, 0.4], None, stage=1)  # asked again: no duplicate tasks
    client = LabelStudioClient(server['url'], server['token'])
    project = int(url.split('/projects/')[1].split('/')[0])
    by_query = {}
    for task in client.export(project):
        by_query.setdefault(task['data']['query'], []).append(task['data']['sample_id'])
    assert by_query == {first['dir']: ['VOC2007/000002'],
                        second['dir']: ['VOC2007/000003', 'VOC2007/000001']}

    client.project('cats and dogs', '<View><Image name="image" value="$image"/><Choices '
                   'name="label" toName="image"><Choice value="cat"/></Choices></View>')
    with pytest.raises(LabelStudioError, match='has another labeling config'):
        LabelStudioOracle(url=server['url'], project='cats and dogs').ask(
            pool, first, None, None, stage=0)
