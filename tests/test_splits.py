"""Split writers: every written split is read back with the framework's own dataset class."""
import copy
import json
import os
import os.path as osp
import pickle
from contextlib import contextmanager
from importlib import import_module

import numpy as np
import pytest
from PIL import Image

from mmlearnloss.active.splits import PoolSplitter
from mmlearnloss.annotation.formats import (BaseSplitWriter, COCOSplitWriter, IndexSplitWriter,
                                            JsonListSplitWriter, VOCSplitWriter, build_split_writer,
                                            supported_datasets)
from mmlearnloss.registry import TASK_UTILS

VOC_IMAGES = {'VOC2007': ['000005', '000007', '000009'], 'VOC2012': ['2008_000001', '2008_000002']}
VAL_PIPELINE = [dict(type='LoadImageFromFile'), dict(type='PackDetInputs')]


def build_dataset(cfg, scope):
    """Build ``cfg`` with ``scope``'s registry, as the framework's runner would."""
    from mmengine.registry import init_default_scope
    init_default_scope(scope)
    return import_module(f'{scope}.registry').DATASETS.build(copy.deepcopy(cfg))


def data_infos(dataset):
    return [dataset.get_data_info(i) for i in range(len(dataset))]


# -- Pascal VOC ----------------------------------------------------------------------------------

VOC_XML = """<annotation><folder>{folder}</folder><filename>{image}.jpg</filename>
<size><width>64</width><height>48</height><depth>3</depth></size>
<object><name>dog</name><difficult>0</difficult>
<bndbox><xmin>2</xmin><ymin>3</ymin><xmax>40</xmax><ymax>30</ymax></bndbox></object>
</annotation>
"""


@pytest.fixture
def voc_root(tmp_path):
    root = tmp_path / 'VOCdevkit'
    for folder, images in VOC_IMAGES.items():
        for sub in ('JPEGImages', 'Annotations', 'ImageSets/Main'):
            (root / folder / sub).mkdir(parents=True)
        for image in images:
            Image.new('RGB', (64, 48)).save(root / folder / 'JPEGImages' / f'{image}.jpg')
            (root / folder / 'Annotations' / f'{image}.xml').write_text(
                VOC_XML.format(folder=folder, image=image))
        (root / folder / 'ImageSets/Main/trainval.txt').write_text(''.join(
            f'{image}\n' for image in images))
    return str(root) + '/'


def voc_leaf(data_root, folder):
    # As in mmdet's configs/_base_/datasets/voc0712.py.
    return dict(
        type='VOCDataset',
        data_root=data_root,
        ann_file=f'{folder}/ImageSets/Main/trainval.txt',
        data_prefix=dict(sub_data_root=f'{folder}/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32, bbox_min_size=32),
        pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True)])


def voc0712(data_root):
    return dict(
        type='RepeatDataset',
        times=3,
        dataset=dict(
            type='ConcatDataset',
            ignore_keys=['dataset_type'],
            datasets=[voc_leaf(data_root, 'VOC2007'),
                      voc_leaf(data_root, 'VOC2012')]))


def voc_ids(dataset):
    """'VOC2007/000005' for every sample the built dataset yields, in order."""
    return [
        f"{osp.basename(osp.dirname(osp.dirname(info['img_path'])))}/{info['img_id']}"
        for info in data_infos(dataset)
    ]


def test_voc_sample_ids_are_folder_slash_image_id_in_file_order(voc_root):
    assert VOCSplitWriter(voc_leaf(voc_root, 'VOC2007')).sample_ids() == [
        'VOC2007/000005', 'VOC2007/000007', 'VOC2007/000009'
    ]
    assert PoolSplitter(voc0712(voc_root)).sample_ids() == [
        'VOC2007/000005', 'VOC2007/000007', 'VOC2007/000009', 'VOC2012/2008_000001',
        'VOC2012/2008_000002'
    ]


def test_voc_written_file_is_an_imagesets_list_in_the_order_of_the_ids(voc_root, tmp_path):
    writer = VOCSplitWriter(voc_leaf(voc_root, 'VOC2007'))
    cfg = writer.write(['VOC2007/000009', 'VOC2007/000005'], str(tmp_path / 'splits'),
                       'stage_1_labeled')
    assert cfg['ann_file'] == str(tmp_path / 'splits' / 'stage_1_labeled_VOC2007.txt')
    assert open(cfg['ann_file']).read() == '000009\n000005\n'
    assert cfg['data_prefix'] == dict(sub_data_root='VOC2007/')  # images found as before


def test_voc0712_labeled_split_keeps_repeat_and_concat_and_loads_the_ids(voc_root, tmp_path):
    ids = ['VOC2007/000009', 'VOC2007/000005', 'VOC2012/2008_000002']
    cfg, ordered = PoolSplitter(voc0712(voc_root)).write(ids, str(tmp_path), 'stage_1_labeled')
    assert ordered == ids
    assert cfg['type'] == 'RepeatDataset' and cfg['times'] == 3
    assert cfg['dataset']['type'] == 'ConcatDataset'
    dataset = build_dataset(cfg, 'mmdet')
    assert voc_ids(dataset) == ids * 3


def test_voc0712_pool_drops_repeat_sets_val_pipeline_and_test_mode(voc_root, tmp_path):
    ids = ['VOC2012/2008_000001', 'VOC2007/000007']
    cfg, ordered = PoolSplitter(voc0712(voc_root)).pool_cfg(ids, str(tmp_path), 'stage_1_pool',
                                                            pipeline=VAL_PIPELINE)
    assert cfg['type'] == 'ConcatDataset'
    for leaf in cfg['datasets']:
        assert leaf['pipeline'] == VAL_PIPELINE and leaf['test_mode'] is True
        assert leaf['filter_cfg'] is None  # mmdet asserts bbox_min_size is unset in test mode
    # A concatenation yields leaf after leaf: the returned order says so.
    assert ordered == ['VOC2007/000007', 'VOC2012/2008_000001']
    dataset = build_dataset(cfg, 'mmdet')
    assert voc_ids(dataset) == ordered
    assert dataset[0]['inputs'].shape[-2:] == (48, 64)  # the val pipeline reads the image


def test_voc0712_leaf_without_ids_is_dropped_from_the_concat(voc_root, tmp_path):
    ids = ['VOC2012/2008_000002', 'VOC2012/2008_000001']
    splitter = PoolSplitter(voc0712(voc_root))
    cfg, ordered = splitter.write(ids, str(tmp_path), 'stage_2_labeled')
    assert cfg['type'] == 'RepeatDataset' and cfg['dataset']['type'] == 'VOCDataset'
    assert voc_ids(build_dataset(cfg, 'mmdet')) == ids * 3
    pool, _ = splitter.pool_cfg(ids, str(tmp_path), 'stage_2_pool', pipeline=VAL_PIPELINE)
    assert pool['type'] == 'VOCDataset'
    assert voc_ids(build_dataset(pool, 'mmdet')) == ordered == ids
    assert not osp.exists(tmp_path / 'stage_2_labeled_VOC2007.txt')


def test_pool_splitter_refuses_the_same_id_in_two_leaves(voc_root, tmp_path):
    cfg = dict(type='ConcatDataset',
               datasets=[voc_leaf(voc_root, 'VOC2007'), voc_leaf(voc_root, 'VOC2007')])
    with pytest.raises(ValueError, match="'VOC2007/000005' is in two datasets"):
        PoolSplitter(cfg).sample_ids()


# -- COCO ----------------------------------------------------------------------------------------


@pytest.fixture
def coco_root(tmp_path):
    root = tmp_path / 'coco'
    (root / 'annotations').mkdir(parents=True)
    (root / 'train').mkdir()
    image_ids = [30, 10, 20]  # not sorted: the images list decides CocoDataset's order
    images = [dict(id=i, file_name=f'{i:06d}.jpg', width=64, height=48) for i in image_ids]
    annotations = []
    for n, image_id in enumerate([30, 10, 10, 20]):
        annotations.append(dict(id=n + 1, image_id=image_id, category_id=1 + n % 2,
                                bbox=[1, 2, 20 + n, 10], area=200.0, iscrowd=0))
    coco = dict(info=dict(description='tiny'), licenses=[], images=images,
                annotations=annotations,
                categories=[dict(id=1, name='person'), dict(id=2, name='bicycle')])
    (root / 'annotations' / 'train.json').write_text(json.dumps(coco))
    return str(root) + '/'


def coco_leaf(data_root):
    return dict(type='CocoDataset', data_root=data_root, ann_file='annotations/train.json',
                data_prefix=dict(img='train/'), test_mode=True, pipeline=[])


def test_coco_sample_ids_follow_the_images_list(coco_root):
    assert COCOSplitWriter(coco_leaf(coco_root)).sample_ids() == ['30', '10', '20']


def test_coco_split_loads_the_images_in_order_with_their_annotations(coco_root, tmp_path):
    cfg = COCOSplitWriter(coco_leaf(coco_root)).write(['20', '10'], str(tmp_path), 'stage_1_pool')
    written = json.load(open(cfg['ann_file']))
    assert [img['id'] for img in written['images']] == [20, 10]
    assert sorted(ann['id'] for ann in written['annotations']) == [2, 3, 4]
    assert written['categories'] == [dict(id=1, name='person'), dict(id=2, name='bicycle')]
    assert written['info'] == dict(description='tiny')
    infos = data_infos(build_dataset(cfg, 'mmdet'))
    assert [info['img_id'] for info in infos] == [20, 10]
    assert [len(info['instances']) for info in infos] == [1, 2]
    assert infos[0]['img_path'] == osp.join(coco_root, 'train', '000020.jpg')


# -- MPII (mmpose) and OpenMMLab 2.0 json ---------------------------------------------------------


@pytest.fixture
def mpii_root(tmp_path):
    root = tmp_path / 'mpii'
    (root / 'annotations').mkdir(parents=True)
    entries = []
    for i in range(5):
        joints = [[10.0 + i, 20.0 + j] for j in range(16)]
        if i == 3:
            joints = [[-1.0, -1.0]] * 16  # no annotated joint: MpiiDataset drops it
        entries.append(dict(joints_vis=[1] * 16, joints=joints, image=f'{i // 2:09d}.jpg',
                            scale=1.0 + i, center=[100.0 + i, 120.0]))
    (root / 'annotations' / 'mpii_train.json').write_text(json.dumps(entries))
    return str(root) + '/'


def mpii_leaf(data_root):
    # As in mmpose's td-hm_hourglass52_8xb64-210e_mpii-256x256.py.
    return dict(type='MpiiDataset', data_root=data_root, data_mode='topdown',
                ann_file='annotations/mpii_train.json', data_prefix=dict(img='images/'),
                pipeline=[])


def test_mpii_ids_are_entry_indices_without_the_entries_mmpose_drops(mpii_root):
    writer = JsonListSplitWriter(mpii_leaf(mpii_root))
    assert writer.sample_ids() == ['0', '1', '2', '4']
    full = build_dataset(mpii_leaf(mpii_root), 'mmpose')
    assert len(full) == len(writer.sample_ids())


def test_mpii_split_loads_exactly_the_entries_in_order(mpii_root, tmp_path):
    ids = ['4', '0', '2']
    cfg = JsonListSplitWriter(mpii_leaf(mpii_root)).write(ids, str(tmp_path), 'stage_1_labeled')
    assert cfg['ann_file'] == str(tmp_path / 'stage_1_labeled_mpii_train.json')
    infos = data_infos(build_dataset(cfg, 'mmpose'))
    # The fixture gives entry i the bbox center x 100 + i (mmpose subtracts 1: 1-based MATLAB).
    assert [int(info['bbox_center'][0, 0]) + 1 - 100 for info in infos] == [4, 0, 2]
    assert [osp.basename(info['img_path']) for info in infos] == [
        '000000002.jpg', '000000000.jpg', '000000001.jpg'
    ]


def test_mpii_writer_refuses_a_headbox_file(mpii_root):
    with pytest.raises(ValueError, match='headbox_file'):
        JsonListSplitWriter(dict(mpii_leaf(mpii_root), headbox_file='mpii_gt_val.mat'))


def test_openmmlab_v2_json_split_keeps_metainfo_and_order(tmp_path):
    from mmengine.dataset import BaseDataset
    ann = dict(metainfo=dict(classes=['a', 'b']),
               data_list=[dict(img_path=f'{i}.jpg', label=i) for i in range(4)])
    (tmp_path / 'ann.json').write_text(json.dumps(ann))
    leaf = dict(type=BaseDataset, data_root=str(tmp_path), ann_file='ann.json', pipeline=[])
    writer = build_split_writer(leaf)
    assert isinstance(writer, JsonListSplitWriter)
    assert writer.sample_ids() == ['0', '1', '2', '3']
    cfg = writer.write(['3', '1'], str(tmp_path / 'out'), 'stage_1_labeled')
    assert json.load(open(cfg['ann_file']))['metainfo'] == dict(classes=['a', 'b'])
    cfg = dict(cfg)
    dataset = cfg.pop('type')(**cfg)
    assert [info['label'] for info in data_infos(dataset)] == [3, 1]
    assert dataset.metainfo['classes'] == ['a', 'b']


# -- CIFAR (by index) ----------------------------------------------------------------------------


@pytest.fixture
def cifar_root(tmp_path, monkeypatch):
    """A miniature CIFAR-10 in the real file layout; mmpretrain checks md5 sums, so patch that."""
    monkeypatch.setattr('mmpretrain.datasets.cifar.check_md5', lambda path, md5: True)
    folder = tmp_path / 'cifar10' / 'cifar-10-batches-py'
    folder.mkdir(parents=True)
    value = 0
    for batch in [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']:
        data = np.stack([np.full(3072, value + k, dtype=np.uint8) for k in range(2)])
        labels = [(value + k) % 10 for k in range(2)]
        with open(folder / batch, 'wb') as f:
            pickle.dump({'data': data, 'labels': labels}, f)
        value += 2
    return str(tmp_path / 'cifar10')


def cifar_leaf(data_root):
    return dict(type='CIFAR10', data_root=data_root, split='train', download=False, pipeline=[])


def test_cifar_ids_are_indices_and_the_split_keeps_their_order(cifar_root, tmp_path):
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    writer = build_split_writer(cifar_leaf(cifar_root))
    assert isinstance(writer, IndexSplitWriter)
    assert writer.sample_ids() == [str(i) for i in range(10)]
    cfg = writer.write(['7', '2', '5'], str(tmp_path / 'splits'), 'stage_1_labeled')
    assert cfg['indices'] == [7, 2, 5]
    assert json.load(open(tmp_path / 'splits' / 'stage_1_labeled_CIFAR10_indices.json')) == [
        7, 2, 5
    ]
    # Sample i of the fixture is an image filled with the value i.
    infos = data_infos(build_dataset(cfg, 'mmpretrain'))
    assert [int(info['img'][0, 0, 0]) for info in infos] == [7, 2, 5]


def test_pool_of_a_plain_dataset_is_the_leaf_itself(cifar_root, tmp_path):
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    val_pipeline = [dict(type='PackInputs')]
    cfg, ordered = PoolSplitter(cifar_leaf(cifar_root)).pool_cfg(['3', '8'], str(tmp_path),
                                                                 'stage_1_pool', val_pipeline)
    assert ordered == ['3', '8']
    assert cfg['type'] == 'CIFAR10' and cfg['indices'] == [3, 8] and cfg['test_mode'] is True
    dataset = build_dataset(cfg, 'mmpretrain')
    assert [int(dataset[i]['data_samples'].gt_label) for i in range(2)] == [3, 8]


def test_cifar_ids_respect_indices_already_in_the_config(cifar_root):
    writer = IndexSplitWriter(dict(cifar_leaf(cifar_root), indices=[9, 4, 6]))
    assert writer.sample_ids() == ['9', '4', '6']


def test_index_writer_refuses_a_filter_cfg(cifar_root):
    with pytest.raises(ValueError, match='filter_cfg'):
        IndexSplitWriter(dict(cifar_leaf(cifar_root), filter_cfg=dict(min_size=1)))


# -- Picking a writer ----------------------------------------------------------------------------


def test_build_split_writer_picks_the_writer_by_dataset_type(voc_root, coco_root, mpii_root,
                                                             cifar_root):
    assert isinstance(build_split_writer(voc_leaf(voc_root, 'VOC2007')), VOCSplitWriter)
    assert isinstance(build_split_writer(coco_leaf(coco_root)), COCOSplitWriter)
    assert isinstance(build_split_writer(mpii_leaf(mpii_root)), JsonListSplitWriter)
    assert isinstance(build_split_writer(cifar_leaf(cifar_root)), IndexSplitWriter)
    cifar100 = dict(cifar_leaf(cifar_root), type='mmpretrain.CIFAR100')
    assert isinstance(build_split_writer(cifar100), IndexSplitWriter)


def test_build_split_writer_names_the_supported_types_for_an_unknown_one(mpii_root):
    # mmpose's CocoDataset (per-person samples) is not mmdet's CocoDataset (per-image samples).
    pose_coco = dict(mpii_leaf(mpii_root), type='mmpose.CocoDataset')
    with pytest.raises(ValueError) as info:
        build_split_writer(pose_coco)
    assert "'mmpose.CocoDataset'" in str(info.value)
    assert 'VOCDataset' in str(info.value) and 'CIFAR10' in str(info.value)


class ToyDataset:
    """A dataset type no built-in writer knows."""


class ToySplitWriter(BaseSplitWriter):
    supports = ('toy datasets', )

    @classmethod
    def serves(cls, dataset_cls, dataset_cfg):
        return dataset_cls is not None and issubclass(dataset_cls, ToyDataset)


@contextmanager
def registered(writer_cls):
    TASK_UTILS.register_module(module=writer_cls)
    try:
        yield
    finally:
        TASK_UTILS.module_dict.pop(writer_cls.__name__)


def test_a_registered_writer_serves_its_datasets_before_the_fallback_writers():
    leaf = dict(type=ToyDataset, pipeline=[])  # no ann_file: IndexSplitWriter takes it
    assert type(build_split_writer(leaf)) is IndexSplitWriter
    with registered(ToySplitWriter):
        assert type(build_split_writer(leaf)) is ToySplitWriter
        assert 'toy datasets -> ToySplitWriter' in supported_datasets()
    assert type(build_split_writer(leaf)) is IndexSplitWriter


# -- Bad input -----------------------------------------------------------------------------------


@pytest.fixture
def written_voc(voc_root, tmp_path):
    """A VOC2007 writer and the bytes of a split it already wrote as 'stage_1_labeled'."""
    writer = VOCSplitWriter(voc_leaf(voc_root, 'VOC2007'))
    cfg = writer.write(['VOC2007/000005'], str(tmp_path / 'splits'), 'stage_1_labeled')
    return writer, cfg['ann_file'], open(cfg['ann_file'], 'rb').read()


def assert_untouched(path, content):
    assert open(path, 'rb').read() == content
    assert os.listdir(osp.dirname(path)) == [osp.basename(path)]  # no temporary file left


def test_unknown_ids_are_listed_up_to_ten_and_nothing_is_written(written_voc):
    writer, path, content = written_voc
    unknown = [f'VOC2007/nope{i:02d}' for i in range(12)]
    with pytest.raises(ValueError) as info:
        writer.write(['VOC2007/000005'] + unknown, osp.dirname(path), 'stage_1_labeled')
    message = str(info.value)
    assert '12 of the ids' in message and "'VOC2007/nope09'" in message
    assert "'VOC2007/nope10'" not in message and 'and 2 more' in message
    assert_untouched(path, content)


def test_duplicate_ids_are_refused(written_voc):
    writer, path, content = written_voc
    with pytest.raises(ValueError, match="Duplicate ids.*'VOC2007/000007'"):
        writer.write(['VOC2007/000007', 'VOC2007/000005', 'VOC2007/000007'], osp.dirname(path),
                     'stage_1_labeled')
    assert_untouched(path, content)


def test_an_empty_id_list_is_refused(written_voc, voc_root, tmp_path):
    writer, path, content = written_voc
    with pytest.raises(ValueError, match='at least one sample'):
        writer.write([], osp.dirname(path), 'stage_1_labeled')
    with pytest.raises(ValueError, match='at least one sample'):
        PoolSplitter(voc0712(voc_root)).write([], str(tmp_path), 'stage_1_labeled')
    assert_untouched(path, content)


def test_ids_that_are_not_str_are_refused(written_voc):
    writer, path, content = written_voc
    with pytest.raises(TypeError, match='must be str'):
        writer.write([5], osp.dirname(path), 'stage_1_labeled')
    assert_untouched(path, content)


def test_pool_splitter_lists_unknown_ids_before_writing_any_leaf(voc_root, tmp_path):
    with pytest.raises(ValueError, match="'VOC2012/missing'"):
        PoolSplitter(voc0712(voc_root)).write(['VOC2007/000005', 'VOC2012/missing'],
                                              str(tmp_path / 'splits'), 'stage_1_labeled')
    assert not osp.exists(tmp_path / 'splits')


def test_a_missing_annotation_file_names_the_path_and_the_cfg_key(voc_root):
    leaf = dict(voc_leaf(voc_root, 'VOC2007'), ann_file='VOC2007/ImageSets/Main/nope.txt')
    with pytest.raises(FileNotFoundError) as info:
        VOCSplitWriter(leaf)
    assert osp.join(voc_root, 'VOC2007/ImageSets/Main/nope.txt') in str(info.value)
    assert 'ann_file' in str(info.value)
