"""The human oracle: query folders, checks of the returned annotations, and their use afterwards."""
import copy
import csv
import json
import os
import os.path as osp
import shutil
from importlib import import_module

import pytest

from mmlearnloss.active.splits import PoolSplitter
from mmlearnloss.annotation.query import (ReturnedAnnotationError, apply_returned, check_returned,
                                          write_query)
from mmlearnloss.testing.voc import make_voc


def build_dataset(cfg, scope):
    from mmengine.registry import init_default_scope
    init_default_scope(scope)
    return import_module(f'{scope}.registry').DATASETS.build(copy.deepcopy(cfg))


def read_csv(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def returned_path(query, index=0):
    return query['returned'][index]


# -- Pascal VOC: the labels are the XML files, the returned file is the ImageSets list ------------


@pytest.fixture
def voc_pool(tmp_path):
    """The mini VOC07+12 training set (4 + 4 images) as mmdet's voc0712 config wraps it."""
    data_root = make_voc(str(tmp_path / 'data'), n07=4, n12=4, n_test=1) + '/'
    leaves = [dict(type='VOCDataset', data_root=data_root,
                   ann_file=f'{year}/ImageSets/Main/trainval.txt',
                   data_prefix=dict(sub_data_root=f'{year}/'),
                   filter_cfg=dict(filter_empty_gt=True, min_size=32), pipeline=[])
              for year in ('VOC2007', 'VOC2012')]
    return PoolSplitter(dict(type='RepeatDataset', times=1,
                             dataset=dict(type='ConcatDataset', datasets=leaves)))


VOC_QUERY = ['VOC2012/2012_000003', 'VOC2007/000002', 'VOC2012/2012_000001']
VOC_LABELED = ['VOC2007/000001', 'VOC2007/000004']


@pytest.fixture
def voc_query(voc_pool, tmp_path):
    return write_query(voc_pool, VOC_QUERY, [0.9, 0.5, 0.1], str(tmp_path / 'query'),
                       labeled=VOC_LABELED, resume_command='python tools/al_train.py X --resume')


def return_voc(query, lines_per_file=None):
    """Copy the query lists to returned/ (or write other lines there) as an annotator would."""
    for index, (src, dst) in enumerate(zip(query['files'], query['returned'])):
        os.makedirs(osp.dirname(dst), exist_ok=True)
        if lines_per_file is None:
            shutil.copy(src, dst)
        else:
            with open(dst, 'w') as f:
                f.write(''.join(f'{line}\n' for line in lines_per_file[index]))


def test_query_folder_has_a_list_per_year_a_ranked_csv_and_instructions(voc_pool, voc_query):
    assert [osp.basename(f) for f in voc_query['files']] == ['query_VOC2007.txt',
                                                             'query_VOC2012.txt']
    assert open(voc_query['files'][0]).read() == '000002\n'
    assert open(voc_query['files'][1]).read() == '2012_000003\n2012_000001\n'
    rows = read_csv(voc_query['csv'])
    assert [r['id'] for r in rows] == VOC_QUERY
    assert [int(r['rank']) for r in rows] == [1, 2, 3]
    assert [float(r['score']) for r in rows] == [0.9, 0.5, 0.1]
    assert rows[0]['file'].endswith('VOC2012/JPEGImages/2012_000003.jpg')
    assert all(osp.isfile(r['file']) for r in rows)
    readme = open(voc_query['readme']).read()
    assert 'VOC2007/Annotations/<image id>.xml' in readme
    assert returned_path(voc_query) in readme
    assert 'python tools/al_train.py X --resume' in readme


def test_voc_query_loads_with_mmdet_vocdataset(voc_pool, voc_query):
    leaf = dict(voc_pool.writers[1].dataset_cfg, ann_file=voc_query['files'][1], test_mode=True)
    dataset = build_dataset(leaf, 'mmdet')
    assert [dataset.get_data_info(i)['img_id'] for i in range(len(dataset))] == [
        '2012_000003', '2012_000001'
    ]


def test_voc_return_of_every_queried_image_passes(voc_pool, voc_query):
    return_voc(voc_query)
    returned = apply_returned(voc_pool, voc_query['dir'])
    assert returned.ids == VOC_QUERY
    assert returned.annotations == {i: None for i in VOC_QUERY}  # the XMLs are the labels


def test_voc_missing_images_are_listed(voc_pool, voc_query):
    return_voc(voc_query, [['000002'], []])
    with pytest.raises(ReturnedAnnotationError) as error:
        check_returned(voc_pool, voc_query['dir'])
    assert error.value.missing == ['VOC2012/2012_000003', 'VOC2012/2012_000001']
    assert not (error.value.extra or error.value.unknown)
    assert 'missing: queried but not returned (2): [VOC2012/2012_000003, ' \
           'VOC2012/2012_000001]' in str(error.value)


def test_voc_extra_image_is_listed(voc_pool, voc_query):
    return_voc(voc_query, [['000002', '000003'], ['2012_000003', '2012_000001']])
    with pytest.raises(ReturnedAnnotationError) as error:
        check_returned(voc_pool, voc_query['dir'])
    assert error.value.extra == ['VOC2007/000003']
    assert not (error.value.missing or error.value.unknown)
    assert 'VOC2007/000003' in str(error.value)


def test_voc_unknown_image_is_listed(voc_pool, voc_query):
    return_voc(voc_query, [['000002', '999999'], ['2012_000003', '2012_000001']])
    with pytest.raises(ReturnedAnnotationError) as error:
        check_returned(voc_pool, voc_query['dir'])
    assert error.value.unknown == ['VOC2007/999999']
    assert not (error.value.missing or error.value.extra)


def test_voc_queried_image_whose_xml_has_no_object_is_not_labeled(voc_pool, voc_query):
    xml = voc_pool.writers[0].annotation_path('VOC2007/000002')
    with open(xml, 'w') as f:
        f.write('<annotation><size><width>64</width><height>48</height></size></annotation>')
    return_voc(voc_query)
    with pytest.raises(ReturnedAnnotationError) as error:
        check_returned(voc_pool, voc_query['dir'])
    assert list(error.value.unlabeled) == ['VOC2007/000002']
    assert 'has no <object>' in error.value.unlabeled['VOC2007/000002']


def test_voc_edited_xml_of_a_labeled_image_is_reported(voc_pool, voc_query):
    xml = voc_pool.writers[0].annotation_path('VOC2007/000004')
    with open(xml) as f:
        text = f.read()
    with open(xml, 'w') as f:
        f.write(text.replace('<difficult>0</difficult>', '<difficult>1</difficult>', 1))
    return_voc(voc_query)
    with pytest.raises(ReturnedAnnotationError) as error:
        check_returned(voc_pool, voc_query['dir'])
    assert error.value.changed == ['VOC2007/000004']


def test_missing_returned_file_names_where_it_must_go(voc_pool, voc_query):
    with pytest.raises(FileNotFoundError, match='query_VOC2007.txt'):
        check_returned(voc_pool, voc_query['dir'])


# -- MPII json list: the returned list holds the queried entries with their joints ---------------


def mpii_entry(image, i, filled=True):
    joints = [[10.0 + i + j, 20.0 + j] for j in range(16)] if filled else [[1.0, 1.0]] * 16
    return dict(joints_vis=[1 if filled else 0] * 16, joints=joints, image=image,
                scale=1.0 + i / 10, center=[50.0 + i, 60.0])


@pytest.fixture
def mpii_pool(tmp_path):
    """30 persons; images 0 and 1 show two each. Unlabeled entries carry placeholder joints
    (mmpose drops entries without a positive joint coordinate)."""
    root = tmp_path / 'mpii'
    (root / 'annotations').mkdir(parents=True)
    images = ['000000000.jpg'] * 2 + ['000000001.jpg'] * 2 + [f'{i:09d}.jpg' for i in range(2, 28)]
    entries = [mpii_entry(image, i, filled=i >= 20) for i, image in enumerate(images)]
    (root / 'annotations' / 'mpii_train.json').write_text(json.dumps(entries))
    return PoolSplitter(dict(type='MpiiDataset', data_root=str(root) + '/', data_mode='topdown',
                             ann_file='annotations/mpii_train.json',
                             data_prefix=dict(img='images/'), pipeline=[]))


def annotate(entry, shift):
    """What an annotator returns for a placeholder entry."""
    done = copy.deepcopy(entry)
    done['joints'] = [[30.0 + shift + j, 40.0 + j] for j in range(16)]
    done['joints_vis'] = [1] * 16
    return done


def return_json(query, data):
    os.makedirs(osp.dirname(returned_path(query)), exist_ok=True)
    with open(returned_path(query), 'w') as f:
        json.dump(data, f)


def test_mpii_returned_joints_are_used_by_later_splits(mpii_pool, tmp_path):
    query = write_query(mpii_pool, ['3', '1', '5'], [3.0, 2.0, 1.0], str(tmp_path / 'q'))
    queried = json.load(open(query['files'][0]))
    assert [e['image'] for e in queried] == ['000000001.jpg', '000000000.jpg', '000000003.jpg']
    # Returned in another order: entries are matched by image, not by position.
    returned = [annotate(queried[2], 5), annotate(queried[0], 3), annotate(queried[1], 1)]
    return_json(query, returned)
    result = apply_returned(mpii_pool, query['dir'])
    assert result.annotations['3'] == returned[1] and result.annotations['5'] == returned[0]

    cfg, _ = mpii_pool.write(['20', '3', '1', '5'], str(tmp_path / 'splits'), 'stage_1_labeled')
    written = json.load(open(cfg['ann_file']))
    original = json.load(open(mpii_pool.writers[0]._ann_path()))
    assert written == [original[20], returned[1], returned[2], returned[0]]
    dataset = build_dataset(dict(cfg, test_mode=True), 'mmpose')
    # The returned first joints: x = 30 + shift.
    assert [float(dataset.get_data_info(i)['keypoints'][0, 0, 0]) for i in range(1, 4)] == [
        33.0, 31.0, 35.0
    ]


def test_mpii_entries_of_one_image_are_matched_in_query_order(mpii_pool, tmp_path):
    query = write_query(mpii_pool, ['1', '0'], None, str(tmp_path / 'q'))
    queried = json.load(open(query['files'][0]))
    return_json(query, [annotate(queried[0], 1), annotate(queried[1], 2)])
    result = check_returned(mpii_pool, query['dir'])
    assert result.annotations['1']['joints'][0] == [31.0, 40.0]
    assert result.annotations['0']['joints'][0] == [32.0, 40.0]


def test_mpii_entry_without_visible_joint_is_not_labeled(mpii_pool, tmp_path):
    query = write_query(mpii_pool, ['4', '6'], None, str(tmp_path / 'q'))
    queried = json.load(open(query['files'][0]))
    return_json(query, [annotate(queried[0], 1), queried[1]])  # the second left as it was
    with pytest.raises(ReturnedAnnotationError) as error:
        check_returned(mpii_pool, query['dir'])
    assert list(error.value.unlabeled) == ['6']
    assert 'no visible joint' in str(error.value)


def test_mpii_unknown_image_and_extra_person_are_listed(mpii_pool, tmp_path):
    query = write_query(mpii_pool, ['4'], None, str(tmp_path / 'q'))
    queried = json.load(open(query['files'][0]))
    entries = json.load(open(mpii_pool.writers[0]._ann_path()))
    stranger = dict(annotate(queried[0], 1), image='999999999.jpg')
    return_json(query, [annotate(queried[0], 1), annotate(entries[7], 1), stranger])
    with pytest.raises(ReturnedAnnotationError) as error:
        check_returned(mpii_pool, query['dir'])
    assert error.value.extra == ['7']
    assert error.value.unknown == ['999999999.jpg']
    assert not error.value.missing


def test_error_lists_twenty_ids_then_how_many_more(mpii_pool, tmp_path):
    ids = [str(i) for i in range(25)]
    query = write_query(mpii_pool, ids, None, str(tmp_path / 'q'))
    return_json(query, [])
    with pytest.raises(ReturnedAnnotationError) as error:
        check_returned(mpii_pool, query['dir'])
    assert error.value.missing == ids
    line = next(ln for ln in str(error.value).splitlines() if 'missing' in ln)
    assert line.endswith(f'(25): [{", ".join(ids[:20])}] and 5 more')


# -- COCO json: the returned images with their annotations --------------------------------------


@pytest.fixture
def coco_pool(tmp_path):
    root = tmp_path / 'coco'
    (root / 'annotations').mkdir(parents=True)
    images = [dict(id=i, file_name=f'{i:06d}.jpg', width=64, height=48) for i in (30, 10, 20)]
    annotations = [dict(id=1, image_id=30, category_id=1, bbox=[1, 2, 20, 10], area=200.0,
                        iscrowd=0)]  # 10 and 20 are unlabeled
    coco = dict(images=images, annotations=annotations,
                categories=[dict(id=1, name='person'), dict(id=2, name='bicycle')])
    (root / 'annotations' / 'train.json').write_text(json.dumps(coco))
    # Scoped: under mmpose's default scope a plain 'CocoDataset' is mmpose's.
    return PoolSplitter(dict(type='mmdet.CocoDataset', data_root=str(root) + '/',
                             ann_file='annotations/train.json', data_prefix=dict(img='train/'),
                             pipeline=[]))


def test_coco_returned_annotations_are_used_by_later_splits(coco_pool, tmp_path):
    query = write_query(coco_pool, ['20'], [1.0], str(tmp_path / 'q'))
    coco = json.load(open(query['files'][0]))
    assert [img['id'] for img in coco['images']] == [20] and coco['annotations'] == []
    coco['annotations'] = [dict(id=7, image_id=20, category_id=2, bbox=[3, 4, 30, 20],
                                area=600.0, iscrowd=0)]
    return_json(query, coco)
    apply_returned(coco_pool, query['dir'])
    cfg, _ = coco_pool.write(['30', '20'], str(tmp_path / 'splits'), 'stage_1_labeled')
    dataset = build_dataset(dict(cfg, test_mode=True), 'mmdet')
    boxes = {dataset.get_data_info(i)['img_id']: [inst['bbox'] for inst in
                                                  dataset.get_data_info(i)['instances']]
             for i in range(len(dataset))}
    assert boxes == {30: [[1, 2, 21, 12]], 20: [[3, 4, 33, 24]]}


def test_coco_annotation_id_of_another_image_is_refused(coco_pool, tmp_path):
    query = write_query(coco_pool, ['20'], None, str(tmp_path / 'q'))
    coco = json.load(open(query['files'][0]))
    coco['annotations'] = [dict(id=1, image_id=20, category_id=2, bbox=[3, 4, 30, 20],
                                area=600.0, iscrowd=0)]
    return_json(query, coco)
    with pytest.raises(ReturnedAnnotationError) as error:
        check_returned(coco_pool, query['dir'])
    assert error.value.unlabeled == {'20': 'annotation id 1 is used by image 30 already'}


@pytest.mark.parametrize('scores', [None, [], [None, None]])
def test_query_without_scores_leaves_the_score_column_empty(mpii_pool, tmp_path, scores):
    query = write_query(mpii_pool, ['8', '2'], scores, str(tmp_path / 'q'))
    rows = read_csv(query['csv'])
    assert [(r['id'], r['score'], r['rank']) for r in rows] == [('8', '', '1'), ('2', '', '2')]
