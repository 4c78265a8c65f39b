"""Label Studio without a server: import files with pre-annotations, exports read back as the
returned annotations of a query (VOC XMLs, MPII json list)."""
import json
import os
import os.path as osp
import subprocess
import sys
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest
import torch

from conftest import ROOT, build_model, config_path
from mmlearnloss.active.splits import PoolSplitter
from mmlearnloss.annotation.formats import IndexSplitWriter
from mmlearnloss.annotation.label_studio.formats import (ChoicesFormat, LabelStudioFormat,
                                                         label_studio_format)
from mmlearnloss.annotation.label_studio.tasks import (import_tasks, labeling_config,
                                                       returned_from_export, write_import_files)
from mmlearnloss.annotation.query import ReturnedAnnotationError, apply_returned, write_query
from mmlearnloss.registry import LABEL_STUDIO_FORMATS
from mmlearnloss.testing.mpii import make_mpii
from mmlearnloss.testing.voc import VOC_CLASSES, make_voc, voc_xml

VOC_QUERY = ['VOC2012/2012_000003', 'VOC2007/000002']


@pytest.fixture
def voc_pool(tmp_path):
    data_root = make_voc(str(tmp_path / 'data'), n07=3, n12=3, n_test=1) + '/'
    leaves = [dict(type='VOCDataset', data_root=data_root,
                   ann_file=f'{year}/ImageSets/Main/trainval.txt',
                   data_prefix=dict(sub_data_root=f'{year}/'), pipeline=[])
              for year in ('VOC2007', 'VOC2012')]
    return PoolSplitter(dict(type='ConcatDataset', datasets=leaves))


def box(name, x, y, w, h, width=64, height=48):
    """A Label Studio rectangle (percent of the image) as the editor saves it."""
    return dict(from_name='label', to_name='image', type='rectanglelabels',
                original_width=width, original_height=height,
                value=dict(x=100 * x / width, y=100 * y / height, width=100 * w / width,
                           height=100 * h / height, rotation=0, rectanglelabels=[name]))


def exported(tasks, results_per_task):
    """What Label Studio's JSON export holds once each task got its results."""
    return [dict(task, id=index + 1, annotations=[] if results is None else [
        dict(id=index + 1, result=results, was_cancelled=False,
             updated_at='2026-01-01T00:00:00Z')]) for index, (task, results) in
            enumerate(zip(tasks, results_per_task))]


def voc_objects(path):
    root = ET.parse(path).getroot()
    return [(o.findtext('name'), [int(o.find('bndbox').findtext(k))
                                  for k in ('xmin', 'ymin', 'xmax', 'ymax')])
            for o in root.findall('object')]


def accepted_as_predicted(pool, ids, predictions):
    """The tasks of ``ids`` with their pre-annotations, exported as submitted unchanged."""
    tasks = import_tasks(pool, ids, None, predictions, score_threshold=0.)
    return exported(tasks, [t['predictions'][0]['result'] for t in tasks])


def rectangles(items):
    """Pixel ``[x0, y0, x1, y1]`` of Label Studio rectangles."""
    return [[v['x'] * r['original_width'] / 100, v['y'] * r['original_height'] / 100,
             (v['x'] + v['width']) * r['original_width'] / 100,
             (v['y'] + v['height']) * r['original_height'] / 100]
            for r, v in ((r, r['value']) for r in items)]


def test_voc_labeling_config_lists_the_twenty_classes_as_rectangle_labels(voc_pool):
    config = ET.fromstring(labeling_config(voc_pool))
    labels = config.find('RectangleLabels')
    assert labels.get('toName') == config.find('Image').get('name') == 'image'
    assert [label.get('value') for label in labels] == list(VOC_CLASSES)


def test_tasks_are_ranked_and_carry_the_predicted_boxes_above_the_threshold(voc_pool):
    predictions = {
        'VOC2012/2012_000003': dict(ori_shape=[48, 64], pred_loss=2.5, labels=[14, 6],
                                    bboxes=[[8., 12., 39., 35.], [0., 0., 5., 5.]],
                                    scores=[0.9, 0.1]),
        'VOC2007/000002': dict(ori_shape=[48, 64], pred_loss=1.5, labels=[], bboxes=[],
                               scores=[]),
    }
    tasks = import_tasks(voc_pool, VOC_QUERY, [2.5, 1.5], predictions, files_root='/',
                         query='q', score_threshold=0.3)
    assert [t['data']['sample_id'] for t in tasks] == VOC_QUERY
    assert [t['data']['rank'] for t in tasks] == [1, 2]
    first = tasks[0]
    assert first['data']['image'] == '/data/local-files/?d=' + \
        voc_pool.image_path(VOC_QUERY[0]).lstrip('/')
    [result] = first['predictions'][0]['result']  # the 0.1 box is left out
    assert result['value']['rectanglelabels'] == ['person']
    # mmdet's VOC box [8, 12, 39, 35] covers the pixels 8..39, 12..35: the rectangle 8..40, 12..36.
    assert result['value']['x'] == pytest.approx(12.5) and result['value']['width'] == 50
    assert result['value']['y'] == 25 and result['value']['height'] == 50
    assert tasks[1]['predictions'][0]['result'] == []


def test_prediction_score_is_the_confidence_and_the_predicted_loss_has_its_own_field(voc_pool):
    predictions = {
        'VOC2012/2012_000003': dict(ori_shape=[48, 64], pred_loss=9.61, labels=[14, 6, 2],
                                    bboxes=[[8., 12., 39., 35.], [0., 0., 9., 9.],
                                            [1., 1., 4., 4.]], scores=[0.9, 0.5, 0.1]),
        'VOC2007/000002': dict(ori_shape=[48, 64], pred_loss=0.4, labels=[], bboxes=[],
                               scores=[]),
    }
    tasks = import_tasks(voc_pool, VOC_QUERY, [9.61, 0.4], predictions, score_threshold=0.3)
    first, second = tasks
    # The mean score of the boxes shown (0.9, 0.5), not the loss.
    assert first['predictions'][0]['score'] == pytest.approx(0.7)
    assert [r['score'] for r in first['predictions'][0]['result']] == [0.9, 0.5]
    assert first['data']['predicted_loss'] == pytest.approx(9.61)
    assert first['data']['selection_score'] == pytest.approx(9.61)
    assert first['data']['rank'] == 1
    assert 'score' not in second['predictions'][0]  # no box shown: no confidence to show
    assert second['data']['predicted_loss'] == pytest.approx(0.4)


def test_images_outside_the_files_root_are_refused(voc_pool, tmp_path):
    with pytest.raises(ValueError, match='not under the Label Studio files root'):
        import_tasks(voc_pool, VOC_QUERY, files_root=str(tmp_path / 'elsewhere'))


def test_export_in_returned_becomes_the_voc_labels(voc_pool, tmp_path):
    query = write_query(voc_pool, VOC_QUERY, [2.5, 1.5], str(tmp_path / 'query'))
    tasks, _ = write_import_files(voc_pool, query['dir'], import_tasks(voc_pool, VOC_QUERY))
    tasks = json.load(open(tasks))
    export = exported(tasks, [[box('dog', 8, 12, 32, 24)],
                              [box('cat', 0, 0, 10, 10), box('car', 30, 20, 20, 20)]])
    os.makedirs(osp.join(query['dir'], 'returned'))
    with open(osp.join(query['dir'], 'returned', 'project-1-at-2026.json'), 'w') as f:
        json.dump(export, f)

    assert returned_from_export(voc_pool, query['dir']) == query['returned']
    assert apply_returned(voc_pool, query['dir']).ids == VOC_QUERY
    xml_2012 = voc_pool.writers[1].annotation_path('VOC2012/2012_000003')
    # 1-based inclusive pixels, as VOC writes them: the rectangle 8..40 covers pixels 9..40.
    assert voc_objects(xml_2012) == [('dog', [9, 13, 40, 36])]
    assert voc_objects(voc_pool.writers[0].annotation_path('VOC2007/000002')) == [
        ('cat', [1, 1, 10, 10]), ('car', [31, 21, 50, 40])]
    # The dataset's own XML is kept aside.
    assert osp.isfile(osp.join(query['dir'], 'returned', 'replaced', 'VOC2012', '2012_000003.xml'))


def test_export_with_an_unannotated_task_is_refused_and_writes_nothing(voc_pool, tmp_path):
    query = write_query(voc_pool, VOC_QUERY, None, str(tmp_path / 'query'))
    xml = voc_pool.writers[0].annotation_path('VOC2007/000002')
    before = open(xml).read()
    export = exported(import_tasks(voc_pool, VOC_QUERY), [[box('dog', 8, 12, 32, 24)], None])
    with pytest.raises(ReturnedAnnotationError) as error:
        returned_from_export(voc_pool, query['dir'], export)
    assert list(error.value.unlabeled) == ['VOC2007/000002']
    assert 'no submitted annotation' in str(error.value)
    assert open(xml).read() == before
    assert not osp.exists(query['returned'][0])


def test_export_with_a_label_outside_the_classes_or_an_extra_image_is_refused(voc_pool, tmp_path):
    query = write_query(voc_pool, VOC_QUERY, None, str(tmp_path / 'query'))
    tasks = import_tasks(voc_pool, VOC_QUERY + ['VOC2007/000003'])
    export = exported(tasks, [[box('unicorn', 8, 12, 32, 24)], [box('cat', 0, 0, 9, 9)],
                              [box('cat', 0, 0, 9, 9)]])
    with pytest.raises(ReturnedAnnotationError) as error:
        returned_from_export(voc_pool, query['dir'], export)
    assert list(error.value.unlabeled) == ['VOC2012/2012_000003']
    assert "['unicorn']" in error.value.unlabeled['VOC2012/2012_000003']
    assert error.value.extra == ['VOC2007/000003']


def test_tasks_made_by_hand_are_matched_by_image_file_name(voc_pool, tmp_path):
    query = write_query(voc_pool, VOC_QUERY, None, str(tmp_path / 'query'))
    tasks = [dict(data=dict(image='/data/upload/1/5d2a9c1e-2012_000003.jpg')),
             dict(data=dict(image='/data/local-files/?d=x/VOC2007/JPEGImages/000002.jpg'))]
    export = exported(tasks, [[box('dog', 8, 12, 32, 24)], [box('cat', 0, 0, 9, 9)]])
    returned_from_export(voc_pool, query['dir'], export)
    assert apply_returned(voc_pool, query['dir']).ids == VOC_QUERY


@pytest.fixture
def mpii_pool(tmp_path):
    make_mpii(str(tmp_path / 'data'), n_train=4, n_val=1)
    ann = tmp_path / 'data' / 'mpii' / 'annotations' / 'mpii_train.json'
    return PoolSplitter(dict(type='MpiiDataset', data_root=str(tmp_path / 'data' / 'mpii'),
                             ann_file=str(ann), data_prefix=dict(img='images/'), pipeline=[]))


def test_mpii_export_becomes_the_returned_json_list(mpii_pool, tmp_path):
    pool = mpii_pool
    assert '<KeyPointLabels' in labeling_config(pool)
    query = write_query(pool, ['2', '0'], None, str(tmp_path / 'query'))
    point = lambda name, x, y: dict(  # noqa: E731
        type='keypointlabels', original_width=192, original_height=192,
        value=dict(x=100 * x / 192, y=100 * y / 192, width=0.5, keypointlabels=[name]))
    export = exported(import_tasks(pool, ['2', '0']),
                      [[point('head_top', 96, 20), point('pelvis', 90, 100)],
                       [point('left_wrist', 48, 96)]])
    returned_from_export(pool, query['dir'], export)
    returned = apply_returned(pool, query['dir'])
    head = returned.annotations['2']
    assert head['joints'][9] == pytest.approx([96, 20]) and head['joints_vis'][9] == 1
    assert head['joints'][6] == pytest.approx([90, 100]) and sum(head['joints_vis']) == 2
    assert returned.annotations['0']['joints_vis'] == [0] * 15 + [1]


def test_al_select_writes_a_label_studio_import_file(tmp_path):
    """al_select.py --format label-studio on mini VOC: tasks with the model's predictions."""
    make_voc(str(tmp_path / 'data' / 'mini'), n07=3, n12=3, n_test=1)
    model = build_model('mini/ssd_voc_learnloss_mini.py', 'mmdet').eval()
    checkpoint = str(tmp_path / 'ssd.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    result = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'al_select.py'),
         config_path('mini/ssd_voc_learnloss_mini.py'), checkpoint, '--budget', '2', '--out',
         'query', '--format', 'label-studio', '--score-threshold', '0', '--device', 'cpu'],
        cwd=tmp_path, env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True,
        timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    tasks = json.load(open(tmp_path / 'query' / 'label_studio_tasks.json'))
    rows = open(tmp_path / 'query' / 'query.csv').read().splitlines()[1:]
    assert [t['data']['sample_id'] for t in tasks] == [row.split(',')[0] for row in rows]
    for task in tasks:
        [prediction] = task['predictions']
        assert task['data']['predicted_loss'] == pytest.approx(task['data']['selection_score'],
                                                               rel=1e-4)
        assert prediction['result'], 'threshold 0: the untrained model\'s boxes are kept'
        assert 0 <= prediction['score'] <= 1
        assert prediction['score'] == pytest.approx(
            sum(r['score'] for r in prediction['result']) / len(prediction['result']))
        assert all(r['type'] == 'rectanglelabels' for r in prediction['result'])
    assert ET.parse(tmp_path / 'query' / 'label_studio_config.xml').find('RectangleLabels')
    assert 'label_studio_tasks.json' in open(tmp_path / 'query' / 'README.txt').read()


@pytest.fixture
def coco_pool(tmp_path):
    root = tmp_path / 'coco'
    (root / 'annotations').mkdir(parents=True)
    coco = dict(images=[dict(id=i, file_name=f'{i:06d}.jpg', width=64, height=48)
                        for i in (30, 10, 20)],
                annotations=[dict(id=5, image_id=30, category_id=1, bbox=[1, 2, 20, 10],
                                  area=200.0, iscrowd=0)],
                categories=[dict(id=1, name='person'), dict(id=2, name='bicycle')])
    (root / 'annotations' / 'train.json').write_text(json.dumps(coco))
    return PoolSplitter(dict(type='mmdet.CocoDataset', data_root=str(root) + '/',
                             ann_file='annotations/train.json', data_prefix=dict(img='train/'),
                             pipeline=[]))


def test_coco_export_becomes_the_returned_json_with_fresh_annotation_ids(coco_pool, tmp_path):
    pool = coco_pool
    assert [label.get('value') for label in
            ET.fromstring(labeling_config(pool)).find('RectangleLabels')] == ['person', 'bicycle']
    query = write_query(pool, ['20', '10'], None, str(tmp_path / 'query'))
    export = exported(import_tasks(pool, ['20', '10']),
                      [[box('bicycle', 3, 4, 30, 20)], [box('person', 0, 0, 8, 8)]])
    returned_from_export(pool, query['dir'], export)
    returned = apply_returned(pool, query['dir'])
    anns = {i: returned.annotations[i]['annotations'] for i in ('20', '10')}
    assert [(a['id'], a['category_id'], a['bbox']) for a in anns['20']] == [
        (6, 2, pytest.approx([3, 4, 30, 20]))]
    assert [(a['id'], a['category_id']) for a in anns['10']] == [(7, 1)]


def test_classification_export_sets_gt_label_from_the_choice(tmp_path):
    from mmengine.dataset import BaseDataset
    ann = dict(metainfo=dict(classes=['cat', 'dog']),
               data_list=[dict(img_path=f'{i}.jpg') for i in range(3)])
    (tmp_path / 'ann.json').write_text(json.dumps(ann))
    pool = PoolSplitter(dict(type=BaseDataset, data_root=str(tmp_path), ann_file='ann.json',
                             pipeline=[]))
    choices = ET.fromstring(labeling_config(pool)).find('Choices')
    assert [c.get('value') for c in choices] == ['cat', 'dog']
    [task] = import_tasks(pool, ['2'], [3.5], {'2': dict(ori_shape=[8, 8], label=1, score=0.8,
                                                         pred_loss=3.5)})
    assert task['predictions'][0]['result'][0]['value'] == dict(choices=['dog'])
    assert task['predictions'][0]['score'] == pytest.approx(0.8)  # the class's probability
    assert task['data']['predicted_loss'] == pytest.approx(3.5)
    query = write_query(pool, ['2'], None, str(tmp_path / 'query'))
    choice = dict(type='choices', value=dict(choices=['cat']))
    returned_from_export(pool, query['dir'], exported([task], [[choice]]))
    assert apply_returned(pool, query['dir']).annotations['2'] == dict(img_path='2.jpg',
                                                                       gt_label=0)


def test_voc_boxes_round_trip_to_the_same_xml_integers(voc_pool, tmp_path):
    """XML box -> mmdet's loaded box, predicted as such -> Label Studio rectangle -> XML box."""
    from mmdet.datasets import VOCDataset
    sample_id, leaf = 'VOC2007/000002', voc_pool.writers[0]
    xml = leaf.annotation_path(sample_id)
    width, height = (int(ET.parse(xml).getroot().findtext(f'size/{k}'))
                     for k in ('width', 'height'))
    original = [('dog', [1, 1, 40, 30]),  # at the top-left corner, 0-based 0, 0
                ('cat', [width - 49, height - 29, width, height]),  # on the right / bottom edge
                ('car', [13, 17, 52, 60])]
    with open(xml, 'wb') as f:
        f.write(voc_xml('VOC2007', '000002', width, height, [
            dict(name=name, bbox=[v - 1 for v in box]) for name, box in original]))
    cfg = {k: v for k, v in voc_pool.dataset_cfg['datasets'][0].items() if k != 'type'}
    dataset = VOCDataset(**cfg)
    [info] = [dataset.get_data_info(i) for i in range(len(dataset))
              if dataset.get_data_info(i)['img_id'] == '000002']
    classes = dataset.metainfo['classes']
    assert [classes[i['bbox_label']] for i in info['instances']] == ['dog', 'cat', 'car']
    prediction = dict(ori_shape=[height, width], pred_loss=1.,
                      bboxes=[[float(v) for v in i['bbox']] for i in info['instances']],
                      labels=[i['bbox_label'] for i in info['instances']], scores=[1.] * 3)
    query = write_query(voc_pool, [sample_id], None, str(tmp_path / 'query'))
    export = accepted_as_predicted(voc_pool, [sample_id], {sample_id: prediction})
    result = export[0]['annotations'][0]['result']
    # The rectangles the annotator would draw on the objects' pixels: 0-based xmin - 1 .. xmax.
    assert rectangles(result) == [pytest.approx([b[0] - 1, b[1] - 1, b[2], b[3]])
                                  for _, b in original]
    returned_from_export(voc_pool, query['dir'], export)
    assert voc_objects(xml) == original


def test_coco_boxes_round_trip_to_the_same_numbers(coco_pool, tmp_path):
    """COCO [x, y, w, h] -> mmdet's loaded box, predicted as such -> rectangle -> COCO box."""
    from mmdet.datasets import CocoDataset
    original = [(1, [0, 0, 20, 10]), (2, [44, 30, 20, 18]),  # at 0, 0; on the right / bottom
                (1, [3.25, 4.5, 30.75, 20])]
    coco = json.load(open(coco_pool.writers[0]._ann_path()))
    coco['annotations'] = [dict(id=i + 1, image_id=30, category_id=c, bbox=b, area=b[2] * b[3],
                                iscrowd=0) for i, (c, b) in enumerate(original)]
    with open(coco_pool.writers[0]._ann_path(), 'w') as f:
        json.dump(coco, f)
    cfg = coco_pool.dataset_cfg
    dataset = CocoDataset(**{k: v for k, v in cfg.items() if k != 'type'},
                          metainfo=dict(classes=('person', 'bicycle')))
    [info] = [dataset.get_data_info(i) for i in range(len(dataset))
              if dataset.get_data_info(i)['img_id'] == 30]
    prediction = dict(ori_shape=[48, 64], bboxes=[i['bbox'] for i in info['instances']],
                      labels=[i['bbox_label'] for i in info['instances']], scores=[1.] * 3)
    pool = PoolSplitter(cfg)  # reads the json written above
    query = write_query(pool, ['30'], None, str(tmp_path / 'query'))
    returned_from_export(pool, query['dir'],
                         accepted_as_predicted(pool, ['30'], {'30': prediction}))
    returned = apply_returned(pool, query['dir']).annotations['30']['annotations']
    assert [(a['category_id'], a['bbox']) for a in returned] == original


def test_mpii_joints_round_trip_to_the_same_coordinates(mpii_pool, tmp_path):
    """MPII joints -> mmpose's loaded keypoints, predicted as such -> Label Studio points ->
    returned joints."""
    from mmpose.datasets import MpiiDataset
    ann_file = mpii_pool.dataset_cfg['ann_file']
    people = json.load(open(ann_file))
    joints = people[2]['joints']
    joints[0], joints[1], joints[2] = [0, 0], [192, 192], [37, 150]  # corner, edge, integers
    with open(ann_file, 'w') as f:
        json.dump(people, f)
    dataset = MpiiDataset(**{k: v for k, v in mpii_pool.dataset_cfg.items() if k != 'type'})
    keypoints = dataset.get_data_info(2)['keypoints'][0]
    scores = [0.9] * 8 + [0.5] * 8
    prediction = dict(ori_shape=[192, 192], pred_loss=4.2, keypoints=keypoints.tolist(),
                      keypoint_scores=scores)
    pool = PoolSplitter(mpii_pool.dataset_cfg)  # reads the json written above
    query = write_query(pool, ['2'], None, str(tmp_path / 'query'))
    export = accepted_as_predicted(pool, ['2'], {'2': prediction})
    assert import_tasks(pool, ['2'], None, {'2': prediction}, score_threshold=0.)[0][
        'predictions'][0]['score'] == pytest.approx(0.7)  # the joints' mean score
    returned_from_export(pool, query['dir'], export)
    returned = apply_returned(pool, query['dir']).annotations['2']
    assert returned['joints'][:3] == [[0, 0], [192, 192], [37, 150]]
    assert returned['joints'] == [pytest.approx(j, abs=1e-3) for j in joints]
    assert returned['joints_vis'] == [1] * 16


# -- Picking the format of a pool ----------------------------------------------------------------


def cifar_pool():
    """A pool whose writer splits by index: no annotation file Label Studio could fill."""
    return SimpleNamespace(writers=[IndexSplitWriter(dict(type='CIFAR10', data_root='cifar10'))])


def test_a_pool_no_format_serves_is_refused_naming_the_supported_formats():
    with pytest.raises(ValueError, match=r"cannot label \[.CIFAR10\(data_root='cifar10'.*"
                       r'supported are VOC \(boxes\), COCO \(boxes\), MPII json \(joints\), '
                       r'OpenMMLab 2.0 json with gt_label \(classes\)'):
        label_studio_format(cifar_pool())


class IndexChoicesFormat(ChoicesFormat):
    supports = 'index-split datasets (classes)'

    @classmethod
    def serves(cls, writer):
        return isinstance(writer, IndexSplitWriter)


def test_a_registered_format_serves_the_writers_it_names():
    LABEL_STUDIO_FORMATS.register_module(module=IndexChoicesFormat)
    try:
        adapter = label_studio_format(cifar_pool())
    finally:
        LABEL_STUDIO_FORMATS.module_dict.pop('IndexChoicesFormat')
    assert type(adapter) is IndexChoicesFormat and isinstance(adapter, LabelStudioFormat)
