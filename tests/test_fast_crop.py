"""FastMinIoURandomCrop: mmdet's MinIoURandomCrop, the same crops from the same random state."""
import copy

import numpy as np
import pytest
import torch
from mmdet.datasets import VOCDataset
from mmdet.datasets.transforms import MinIoURandomCrop
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from mmlearnloss.datasets import FastMinIoURandomCrop
from mmlearnloss.datasets.transforms import patch_overlaps
from mmlearnloss.testing.voc import make_voc


def assert_same(ours: dict, theirs: dict) -> None:
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        if isinstance(value, HorizontalBoxes):
            assert torch.equal(ours[key].tensor, value.tensor), key
        elif isinstance(value, BitmapMasks):
            assert np.array_equal(ours[key].masks, value.masks), key
        elif isinstance(value, np.ndarray):
            assert np.array_equal(ours[key], value), key
        else:
            assert ours[key] == value, key


def crop_both(results: dict, seed: int, **kwargs):
    outputs = []
    for crop in (FastMinIoURandomCrop(**kwargs), MinIoURandomCrop(**kwargs)):
        np.random.seed(seed)
        outputs.append(crop(copy.deepcopy(results)))
        outputs.append(np.random.rand())  # the random stream is left at the same place
    return outputs


def test_voc_images_after_expand_are_cropped_as_mmdet_crops_them(tmp_path):
    init_default_scope('mmdet')
    make_voc(str(tmp_path), n07=12, n12=0, n_test=1, seed=0)
    load = Compose([
        dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
        dict(type='Expand', mean=[123.675, 116.28, 103.53], to_rgb=True, ratio_range=(1, 4))])
    voc = VOCDataset(data_root=str(tmp_path / 'VOCdevkit'),
                     ann_file='VOC2007/ImageSets/Main/trainval.txt',
                     data_prefix=dict(sub_data_root='VOC2007/'), pipeline=[])
    assert len(voc) == 12
    cropped = 0
    for seed in range(60):
        np.random.seed(1000 + seed)
        results = load(voc[seed % len(voc)])
        ours, after_ours, theirs, after_theirs = crop_both(results, seed)
        assert_same(ours, theirs)
        assert after_ours == after_theirs
        cropped += ours['img'].shape != results['img'].shape
    assert cropped >= 30  # mode 1 (no crop) is one draw in seven


def synthetic(seed: int, boxes: int) -> dict:
    rng = np.random.default_rng(seed)
    h, w = 90, 120
    xy = rng.uniform(0, [w - 10, h - 10], size=(boxes, 2))
    wh = rng.uniform(4, 60, size=(boxes, 2))
    xyxy = np.concatenate([xy, np.minimum(xy + wh, [w, h])], axis=1).astype(np.float32)
    return dict(
        img=rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8), img_shape=(h, w),
        gt_bboxes=HorizontalBoxes(xyxy), gt_bboxes_labels=np.arange(boxes, dtype=np.int64),
        gt_ignore_flags=rng.random(boxes) < 0.3,
        gt_masks=BitmapMasks(rng.random((boxes, h, w)) < 0.5, h, w),
        gt_seg_map=rng.integers(0, 20, size=(h, w), dtype=np.uint8))


@pytest.mark.parametrize('boxes', [0, 1, 5])
@pytest.mark.parametrize('bbox_clip_border', [True, False])
def test_masks_flags_labels_and_maps_are_cut_as_mmdet_cuts_them(boxes, bbox_clip_border):
    for seed in range(25):
        ours, after_ours, theirs, after_theirs = crop_both(
            synthetic(seed, boxes), seed, min_crop_size=0.3, bbox_clip_border=bbox_clip_border)
        assert_same(ours, theirs)
        assert after_ours == after_theirs


def test_overlaps_equal_mmdet_bits():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, size=(200, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(0, 50, size=(200, 2))], 1).astype(np.float32)
    for patch in ([0, 0, 40, 30], [10, 20, 150, 60], [3, 3, 4, 4]):
        theirs = HorizontalBoxes.overlaps(
            HorizontalBoxes(np.array([patch], dtype=np.float32)), HorizontalBoxes(boxes))
        assert np.array_equal(patch_overlaps(np.array(patch), boxes), theirs.numpy()[0])
