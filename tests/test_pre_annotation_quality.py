"""tools/analysis/pre_annotation_quality.py: pre-annotated boxes of a query against the true ones,
read back through the Label Studio converters as an annotator would submit them."""
import json
import os.path as osp
import sys
import xml.etree.ElementTree as ET

import pytest

from conftest import ROOT
from mmlearnloss.testing.voc import make_voc

sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))
import pre_annotation_quality as quality  # noqa: E402
from mmlearnloss.active.splits import PoolSplitter  # noqa: E402
from mmlearnloss.annotation.label_studio import import_tasks, write_import_files  # noqa: E402

IDS = ['VOC2007/000001', 'VOC2007/000002', 'VOC2012/2012_000001']


@pytest.fixture
def voc(tmp_path):
    data_root = make_voc(str(tmp_path / 'data'), n07=3, n12=3, n_test=1) + '/'
    dataset = dict(type='ConcatDataset', datasets=[
        dict(type='VOCDataset', data_root=data_root,
             ann_file=f'{year}/ImageSets/Main/trainval.txt',
             data_prefix=dict(sub_data_root=f'{year}/'), pipeline=[])
        for year in ('VOC2007', 'VOC2012')])
    config = tmp_path / 'voc.py'
    config.write_text(f'train_dataloader = dict(dataset={dataset!r})\n')
    pool = PoolSplitter(dataset)
    xmls = {i: pool.writers[i.startswith('VOC2012')].annotation_path(i) for i in IDS}
    truth = {i: quality.voc_objects(path) for i, path in xmls.items()}
    shapes = {i: [int(ET.parse(path).getroot().find('size').findtext(k))
                  for k in ('height', 'width')] for i, path in xmls.items()}
    return dict(pool=pool, config=str(config), truth=truth, shapes=shapes,
                query=tmp_path / 'query')


def perfect(voc):
    """Predictions equal to the true boxes, as mmdet loads VOC XMLs (minus 1)."""
    truth, classes = voc['truth'], list(voc['pool'].writers[0].classes())
    return {i: dict(ori_shape=voc['shapes'][i], pred_loss=1.0,
                    bboxes=[[v - 1 for v in o['bbox']] for o in objects],
                    labels=[classes.index(o['name']) for o in objects],
                    scores=[0.9] * len(objects)) for i, objects in truth.items()}


def run(voc, predictions, *options):
    voc['query'].mkdir(exist_ok=True)
    tasks = import_tasks(voc['pool'], IDS, None, predictions, score_threshold=0.3)
    write_import_files(voc['pool'], str(voc['query']), tasks)
    return quality.main([str(voc['query']), '--config', voc['config'], *options])


def test_predictions_equal_to_the_truth_leave_nothing_to_correct(voc):
    figures = run(voc, perfect(voc))
    boxes = sum(len(v) for v in voc['truth'].values())
    assert boxes >= 3
    assert figures['true_boxes'] == figures['predicted_boxes'] == figures['right_boxes'] == boxes
    assert (figures['precision'], figures['recall']) == (1.0, 1.0)
    assert figures['submit_only'] == len(IDS)
    assert figures['corrections'] == 0 and figures['from_scratch'] == boxes


def test_a_missed_a_relabelled_and_an_unsure_box_count_as_corrections(voc):
    names = list(voc['pool'].writers[0].classes())
    predictions = perfect(voc)
    first, second, third = (predictions[i] for i in IDS)
    for key in ('bboxes', 'labels', 'scores'):  # missed: no box at all
        first[key] = first[key][1:]
    second['labels'][0] = (second['labels'][0] + 1) % len(names)  # the wrong class
    third['scores'][0] = 0.1  # under the threshold: not pre-annotated
    figures = run(voc, predictions)
    boxes = sum(len(v) for v in voc['truth'].values())
    assert figures['predicted_boxes'] == boxes - 2
    assert figures['right_boxes'] == boxes - 3
    assert figures['recall'] == pytest.approx((boxes - 3) / boxes)
    assert figures['precision'] == pytest.approx((boxes - 3) / (boxes - 2))
    assert figures['submit_only'] == 0
    assert figures['corrections'] == 1 + 3  # one wrong box; three true ones not right


def test_a_box_off_the_object_is_wrong_from_the_iou_asked_for(voc):
    predictions = perfect(voc)
    box = predictions[IDS[0]]['bboxes'][0]
    width = box[2] - box[0] + 1
    shift = width / 3  # IoU of a box shifted sideways by a third of its width: 0.5
    predictions[IDS[0]]['bboxes'][0] = [box[0] + shift, box[1], box[2] + shift, box[3]]
    strict = run(voc, predictions, '--iou', '0.7', '--out', str(voc['query'] / 'q.json'))
    lenient = run(voc, predictions, '--iou', '0.3')
    assert strict['right_boxes'] == lenient['right_boxes'] - 1
    saved = json.loads((voc['query'] / 'q.json').read_text())
    assert saved['iou'] == 0.7 and saved['right_boxes'] == strict['right_boxes']
    assert [p['sample_id'] for p in saved['per_image']] == IDS


def test_a_score_threshold_counts_only_the_boxes_that_confident(voc):
    predictions = perfect(voc)
    predictions[IDS[1]]['scores'][0] = 0.5
    everything = run(voc, predictions)
    sure = run(voc, predictions, '--score-threshold', '0.6')
    assert sure['predicted_boxes'] == sure['right_boxes'] == everything['right_boxes'] - 1
    assert sure['submit_only'] == everything['submit_only'] - 1 == len(IDS) - 1


def test_a_folder_without_tasks_is_named(voc, capsys):
    voc['query'].mkdir()
    with pytest.raises(SystemExit, match='no label_studio_tasks.json in .*al_select.py'):
        quality.main([str(voc['query']), '--config', voc['config']])
