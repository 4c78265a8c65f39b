"""Validation target losses of detectors are computed where the network sees the boxes.

mmdet's VOC test pipelines load the annotations after ``Resize``: a val sample's boxes are in
the image file's pixels, the anchors in network-input pixels. Each sample's target loss must
equal its loss through the train pipeline without augmentation, while the evaluator still gets
the original boxes."""
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DATASETS, MODELS, DefaultScope, init_default_scope

from conftest import config_path
from mmlearnloss.testing.voc import make_voc

NUM = 3


@pytest.fixture(scope='module')
def voc_root(tmp_path_factory):
    return make_voc(str(tmp_path_factory.mktemp('voc')), n07=2, n12=2, n_test=NUM, seed=0)


def no_augmentation(test_pipeline):
    """The train pipeline's order (annotations, then Resize) with the test pipeline's Resize."""
    resize = next(t for t in test_pipeline if t['type'] == 'Resize')
    pack = next(t for t in test_pipeline if t['type'] == 'PackDetInputs')
    return [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
            resize, pack]


def build(config, voc_root):
    init_default_scope('mmdet')
    cfg = Config.fromfile(config_path(config))
    cfg.model.architecture.backbone.init_cfg = None
    dataset_cfg = cfg.val_dataloader.dataset.to_dict()
    dataset_cfg.update(data_root=voc_root)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
        model.init_weights()
        val = DATASETS.build(dataset_cfg)
        plain = DATASETS.build(dict(dataset_cfg, pipeline=no_augmentation(dataset_cfg['pipeline'])))
    return model.eval(), val, plain


def batch(model, dataset):
    data = model.data_preprocessor(pseudo_collate([dataset[i] for i in range(NUM)]), False)
    return data['inputs'], data['data_samples']


@pytest.mark.parametrize('config', ['ssd_voc_learnloss.py', 'mini/faster-rcnn_voc_learnloss_mini.py'])
def test_val_target_loss_equals_the_loss_through_the_train_pipeline(config, voc_root):
    model, val, plain = build(config, voc_root)
    model.read_eval_pipeline(val.pipeline.transforms)
    assert model.eval_gt_frame == 'original'  # the framework's test pipeline: Resize first
    inputs, samples = batch(model, val)
    plain_inputs, plain_samples = batch(model, plain)
    torch.testing.assert_close(inputs, plain_inputs)
    original = [s.gt_instances.bboxes.clone() for s in samples]
    assert any(not torch.allclose(o, p.gt_instances.bboxes) for o, p in zip(original, plain_samples))

    with torch.no_grad():
        results = model(inputs, samples, mode='predict')
        expected = model.adapter.replay(model.architecture, plain_inputs, plain_samples,
                                        model.architecture.extract_feat(plain_inputs))
    target = torch.stack([r.target_loss for r in results])
    torch.testing.assert_close(target, expected, rtol=1e-4, atol=1e-5)
    # the evaluator still compares with the boxes of the image file
    for result, boxes in zip(results, original):
        torch.testing.assert_close(result.gt_instances.bboxes, boxes)

    # Taken as they come (the bug this guards against), the targets are other numbers.
    model.eval_gt_frame = 'input'
    with torch.no_grad():
        wrong = torch.stack([r.target_loss for r in model(inputs, samples, mode='predict')])
    assert not torch.allclose(wrong, expected, rtol=1e-2)


def test_pipeline_that_loads_boxes_before_resize_needs_no_mapping(voc_root):
    model, _, plain = build('ssd_voc_learnloss.py', voc_root)
    model.read_eval_pipeline(plain.pipeline.transforms)
    assert model.eval_gt_frame == 'input'


def test_pipeline_that_moves_boxes_before_loading_them_is_refused(voc_root):
    from mmdet.datasets.transforms import LoadAnnotations, RandomFlip, Resize
    model, _, _ = build('ssd_voc_learnloss.py', voc_root)
    transforms = [Resize(scale=(300, 300)), RandomFlip(prob=1.0), LoadAnnotations()]
    with pytest.raises(ValueError, match=r"loads its annotations after \['RandomFlip'\]"):
        model.read_eval_pipeline(transforms)


def test_masks_loaded_after_resize_are_refused(voc_root):
    from mmdet.datasets.transforms import LoadAnnotations, Resize
    model, _, _ = build('ssd_voc_learnloss.py', voc_root)
    with pytest.raises(ValueError, match=r"loads masks after \['Resize'\]"):
        model.read_eval_pipeline([Resize(scale=(300, 300)), LoadAnnotations(with_mask=True)])
