"""The mini datasets of mmlearnloss.testing load with the frameworks' own dataset classes.

Each dataset is generated once per module (default sizes) and loaded with the configs' own
conventions (data_root, ann_file, data_prefix), as mmdet's voc0712.py, mmpretrain's
cifar10_bs16.py and mmpose's MPII configs write them.
"""
import os
import os.path as osp
import pickle

import numpy as np
import pytest
from mmengine.registry import DefaultScope
from scipy.io import loadmat

import make_mini_datasets as tool
from conftest import tree_digest
from mmlearnloss.testing.cifar import CIFAR10_CLASSES, cifar_labels, draw_cifar_image, make_cifar10
from mmlearnloss.testing.common import DIFFICULTY_FILE, sample_rng
from mmlearnloss.testing.mpii import draw_mpii_image, make_mpii
from mmlearnloss.testing.voc import VOC_SHAPES, draw_voc_image, make_voc

SEED = 0


def _jpeg_matches(path: str, img: np.ndarray, tol: float = 3.) -> bool:
    """Whether the JPEG at ``path`` is ``img`` up to compression (8x8 block means agree)."""
    import mmcv
    jpeg = mmcv.imread(path, channel_order='rgb')
    if jpeg.shape != img.shape:
        return False
    h, w = (s // 8 * 8 for s in img.shape[:2])

    def blocks(a):
        return a[:h, :w].astype(np.float32).reshape(h // 8, 8, w // 8, 8, 3).mean(axis=(1, 3))

    return float(np.abs(blocks(jpeg) - blocks(img)).mean()) < tol


# --------------------------------------------------------------------------------------------
# PASCAL VOC
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def voc_root(tmp_path_factory):
    return make_voc(str(tmp_path_factory.mktemp('voc')), seed=SEED) + '/'


def _voc(voc_root, year, split, pipeline=(), **kwargs):
    from mmdet.datasets import VOCDataset
    return VOCDataset(data_root=voc_root, ann_file=f'{year}/ImageSets/Main/{split}.txt',
                      data_prefix=dict(sub_data_root=f'{year}/'), pipeline=list(pipeline),
                      lazy_init=False, **kwargs)


def test_voc_splits_have_the_requested_sizes_and_years(voc_root):
    train_filter = dict(filter_empty_gt=True, min_size=32, bbox_min_size=32)
    voc07 = _voc(voc_root, 'VOC2007', 'trainval', filter_cfg=train_filter)
    voc12 = _voc(voc_root, 'VOC2012', 'trainval', filter_cfg=train_filter)
    test07 = _voc(voc_root, 'VOC2007', 'test', test_mode=True)
    assert (len(voc07), len(voc12), len(test07)) == (40, 40, 24)
    assert voc07.metainfo['dataset_type'] == 'VOC2007'
    assert voc12.metainfo['dataset_type'] == 'VOC2012'
    assert voc12[0]['img_id'] == '2012_000001'
    assert test07[0]['img_id'] == '000041'  # VOC2007 test ids follow the trainval ids


def test_voc_annotations_are_the_drawn_boxes_and_labels(voc_root):
    ds = _voc(voc_root, 'VOC2007', 'trainval')
    classes = ds.metainfo['classes']
    for index in (0, 7):
        img, objects, _ = draw_voc_image(sample_rng(SEED, ('voc', 'VOC2007', 'trainval'), index))
        info = ds[index]
        assert (info['height'], info['width']) == img.shape[:2]
        assert [inst['bbox'] for inst in info['instances']] == [o['bbox'] for o in objects]
        assert [classes[inst['bbox_label']] for inst in info['instances']] == \
            [o['name'] for o in objects]
        # The JPEG on disk is the drawn image, up to compression.
        assert _jpeg_matches(info['img_path'], img)


def test_voc_uses_only_the_drawn_classes_and_keeps_every_box_in_mmdet_filters(voc_root):
    train_filter = dict(filter_empty_gt=True, min_size=32, bbox_min_size=32)
    names = set()
    for year in ('VOC2007', 'VOC2012'):
        ds = _voc(voc_root, year, 'trainval', filter_cfg=train_filter)
        for i in range(len(ds)):
            instances = ds[i]['instances']
            assert instances and all(inst['ignore_flag'] == 0 for inst in instances)
            names |= {ds.metainfo['classes'][inst['bbox_label']] for inst in instances}
    assert names == set(VOC_SHAPES)


def test_voc0712_concat_builds_like_mmdet_config(voc_root):
    from mmdet.registry import DATASETS
    sub = [dict(type='VOCDataset', data_root=voc_root,
                ann_file=f'{year}/ImageSets/Main/trainval.txt',
                data_prefix=dict(sub_data_root=f'{year}/'),
                filter_cfg=dict(filter_empty_gt=True, min_size=32, bbox_min_size=32),
                pipeline=[]) for year in ('VOC2007', 'VOC2012')]
    with DefaultScope.overwrite_default_scope('mmdet'):
        ds = DATASETS.build(dict(type='RepeatDataset', times=2, dataset=dict(
            type='ConcatDataset', ignore_keys=['dataset_type'], datasets=sub)))
    assert len(ds) == 2 * 80
    assert ds[40]['img_id'] == '2012_000001'


def test_voc_test_split_scores_map_one_with_ground_truth_as_detections(voc_root):
    """The real mmdet test pipeline reads every image and VOCMetric scores a perfect detector 1."""
    from mmdet.evaluation import VOCMetric
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                dict(type='PackDetInputs')]
    with DefaultScope.overwrite_default_scope('mmdet'):  # the transforms are mmdet's
        ds = _voc(voc_root, 'VOC2007', 'test', pipeline=pipeline, test_mode=True)
    metric = VOCMetric(metric='mAP', eval_mode='11points')
    metric.dataset_meta = ds.metainfo
    for i in range(len(ds)):
        sample = ds[i]['data_samples']
        info = ds.get_data_info(i)
        assert tuple(ds[i]['inputs'].shape[1:]) == (info['height'], info['width'])
        gt = sample.gt_instances
        sample.pred_instances = gt.new(bboxes=gt.bboxes.tensor, labels=gt.labels,
                                       scores=gt.labels.new_ones(len(gt)).float())
        sample.gt_instances = gt.new(bboxes=gt.bboxes.tensor, labels=gt.labels)
        ign = sample.ignored_instances
        sample.ignored_instances = ign.new(bboxes=ign.bboxes.tensor, labels=ign.labels)
        metric.process({}, [sample.to_dict()])
    assert metric.evaluate(len(ds))['pascal_voc/mAP'] == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def cifar_root(tmp_path_factory):
    return make_cifar10(str(tmp_path_factory.mktemp('cifar')), seed=SEED)


def test_cifar_files_are_python2_pickles_like_the_official_ones(cifar_root):
    folder = osp.join(cifar_root, 'cifar-10-batches-py')
    sizes = []
    for k in range(1, 6):
        with open(osp.join(folder, f'data_batch_{k}'), 'rb') as f:
            batch = pickle.load(f, encoding='bytes')  # the CIFAR website's reader
        assert batch[b'batch_label'] == f'training batch {k} of 5'.encode()
        assert batch[b'data'].dtype == np.uint8 and batch[b'data'].shape[1] == 3072
        assert len(batch[b'labels']) == len(batch[b'filenames']) == len(batch[b'data'])
        sizes.append(len(batch[b'data']))
    assert sizes == [120] * 5
    with open(osp.join(folder, 'test_batch'), 'rb') as f:
        assert set(pickle.load(f, encoding='latin1')) == {  # mmpretrain's and torchvision's reader
            'batch_label', 'labels', 'data', 'filenames'}
    with open(osp.join(folder, 'batches.meta'), 'rb') as f:
        meta = pickle.load(f, encoding='bytes')
    assert meta[b'label_names'] == [c.encode() for c in CIFAR10_CLASSES]
    assert meta[b'num_vis'] == 3072


def test_mmpretrain_cifar10_rejects_mini_files_on_md5(cifar_root):
    """Why MiniCIFAR10 exists: mmpretrain checks the official md5 sums."""
    from mmpretrain.datasets import CIFAR10
    with pytest.raises(RuntimeError, match='Cannot find CIFAR10'):
        CIFAR10(data_root=cifar_root, split='train', download=False, pipeline=[])


def test_mini_cifar10_loads_the_drawn_images_and_labels(cifar_root):
    from mmpretrain.registry import DATASETS

    import mmlearnloss.datasets  # noqa: F401  registers MiniCIFAR10
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        train, test = (DATASETS.build(dict(type='MiniCIFAR10', data_root=cifar_root, split=split,
                                           pipeline=[], lazy_init=False))
                       for split in ('train', 'test'))
    assert (len(train), len(test)) == (600, 200)
    assert train.metainfo['classes'] == CIFAR10_CLASSES
    labels = cifar_labels(SEED, 'test', 200)
    assert [test[i]['gt_label'] for i in range(200)] == labels
    assert np.bincount(labels).tolist() == [20] * 10
    for index in (0, 123):  # 123 is in data_batch_2
        img, _ = draw_cifar_image(cifar_labels(SEED, 'train', 600)[index],
                                  sample_rng(SEED, ('cifar', 'train'), index))
        np.testing.assert_array_equal(train[index]['img'], img)


# --------------------------------------------------------------------------------------------
# MPII
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def mpii_root(tmp_path_factory):
    return make_mpii(str(tmp_path_factory.mktemp('mpii')), seed=SEED) + '/'


def _mpii_val(mpii_root, **kwargs):
    from mmpose.datasets import MpiiDataset
    return MpiiDataset(data_root=mpii_root, ann_file='annotations/mpii_val.json',
                       headbox_file=osp.join(mpii_root, 'annotations', 'mpii_gt_val.mat'),
                       data_prefix=dict(img='images/'), test_mode=True, pipeline=[],
                       lazy_init=False, **kwargs)


def test_mpii_loads_with_mmpose_and_keeps_the_drawn_joints(mpii_root):
    from mmpose.datasets import MpiiDataset
    train = MpiiDataset(data_root=mpii_root, ann_file='annotations/mpii_train.json',
                        data_prefix=dict(img='images/'), pipeline=[], lazy_init=False)
    val = _mpii_val(mpii_root)
    assert (len(train), len(val)) == (80, 24)
    img, person = draw_mpii_image(sample_rng(SEED, ('mpii', 'train'), 3))
    info = train[3]
    assert info['img_path'] == osp.join(mpii_root, 'images', '010000004.jpg')
    # mmpose keeps MPII's 1-based joints and makes the centre 0-based (then moves it 15 px/200).
    np.testing.assert_allclose(info['keypoints'][0], person['joints'] + 1, atol=1e-3)
    assert info['keypoints_visible'].tolist() == [[1] * 16]
    np.testing.assert_allclose(info['bbox_scale'][0], [person['scale'] * 200] * 2, rtol=1e-5)
    np.testing.assert_allclose(
        info['bbox_center'][0], person['center'] + [0, 15 * person['scale']], atol=1e-2)
    assert _jpeg_matches(info['img_path'], img)


def test_mpii_head_boxes_give_each_val_person_its_head_size(mpii_root):
    val = _mpii_val(mpii_root)
    mat = loadmat(osp.join(mpii_root, 'annotations', 'mpii_gt_val.mat'))
    assert mat['headboxes_src'].shape == (2, 2, 24)
    assert mat['pos_gt_src'].shape == (16, 2, 24) and mat['jnt_missing'].shape == (16, 24)
    for index in (0, 23):
        _, person = draw_mpii_image(sample_rng(SEED, ('mpii', 'val'), index))
        x1y1, x2y2 = person['headbox']
        assert val[index]['head_size'].item() == pytest.approx(
            0.6 * np.linalg.norm(x2y2 - x1y1), rel=1e-6)
        np.testing.assert_allclose(mat['pos_gt_src'][..., index], val[index]['keypoints'][0],
                                   atol=1e-3)


@pytest.mark.parametrize('offset, pckh', [(0.0, 100.0), (0.4, 100.0), (0.6, 0.0)])
def test_mpii_pckh_of_shifted_ground_truth(mpii_root, offset, pckh):
    """PCKh@0.5 counts a joint as correct within half the head size of each person."""
    from mmpose.evaluation.metrics import MpiiPCKAccuracy
    val = _mpii_val(mpii_root)
    metric = MpiiPCKAccuracy(thr=0.5, norm_item='head')
    for i in range(len(val)):
        info = val[i]
        gt = dict(keypoints=info['keypoints'], keypoints_visible=info['keypoints_visible'],
                  head_size=info['head_size'])
        # A perfect 0-based prediction (the metric adds 1), moved by a fraction of the head size.
        pred = info['keypoints'] - 1 + [offset * info['head_size'].item(), 0]
        metric.process([], [dict(gt_instances=gt, pred_instances=dict(keypoints=pred))])
    assert metric.compute_metrics(metric.results)['PCK'] == pytest.approx(pckh)


# --------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------
SMALL = {'voc': (make_voc, (4, 3, 2)), 'cifar': (make_cifar10, (20, 10)),
         'mpii': (make_mpii, (4, 3))}


@pytest.mark.parametrize('task', list(SMALL))
def test_same_seed_gives_identical_bytes_and_other_seed_other_bytes(tmp_path, task):
    make, sizes = SMALL[task]
    a = tree_digest(make(str(tmp_path / 'a'), *sizes, seed=3))
    b = tree_digest(make(str(tmp_path / 'b'), *sizes, seed=3))
    c = tree_digest(make(str(tmp_path / 'c'), *sizes, seed=4))
    assert a == b
    assert a.keys() == c.keys()
    images_and_data = [k for k in a if k.endswith(('.jpg', '_batch')) or 'data_batch' in k]
    assert images_and_data and all(a[k] != c[k] for k in images_and_data)


def test_rerun_overwrites_identically_and_drops_stale_files(tmp_path):
    root = str(tmp_path)
    big = tree_digest(make_voc(root, 5, 4, 3, seed=0))
    small = tree_digest(make_voc(root, 2, 1, 1, seed=0))
    assert set(small) < set(big)
    # An image does not depend on how many images are drawn.
    assert small['VOC2007/JPEGImages/000002.jpg'] == big['VOC2007/JPEGImages/000002.jpg']
    assert tree_digest(make_voc(root, 2, 1, 1, seed=0)) == small


def test_generator_refuses_to_overwrite_a_folder_it_did_not_write(tmp_path):
    real = tmp_path / 'mpii'
    real.mkdir()
    (real / 'mpii_train.json').write_text('[]')
    with pytest.raises(FileExistsError, match='refusing to overwrite'):
        make_mpii(str(tmp_path), 2, 2)
    assert (real / 'mpii_train.json').read_text() == '[]'


def test_difficulty_is_recorded_and_spread_over_zero_to_one(voc_root, cifar_root):
    import json
    with open(osp.join(cifar_root, DIFFICULTY_FILE)) as f:
        train = np.array(json.load(f)['train'])
    assert len(train) == 600 and train.min() >= 0 and train.max() <= 1 and train.std() > 0.2
    with open(osp.join(voc_root, DIFFICULTY_FILE)) as f:
        assert len(json.load(f)) == 40 + 40 + 24


def test_cli_writes_the_chosen_tasks_and_says_where(tmp_path, capsys):
    tool.main(['--out', str(tmp_path), '--tasks', 'cifar', 'mpii', '--cifar-sizes', '10', '5',
               '--mpii-sizes', '2', '1'])
    out = capsys.readouterr().out
    assert f'cifar: wrote 9 files to {tmp_path}/cifar10' in out
    assert 'mpii: wrote' in out and 'voc' not in out
    assert sorted(os.listdir(tmp_path)) == ['cifar10', 'mpii']
