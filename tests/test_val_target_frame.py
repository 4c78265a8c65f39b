"""Validation target losses of detectors are computed where the network sees the boxes.

mmdet's VOC test pipelines load the annotations after ``Resize``: a val sample's boxes are in
the image file's pixels, the anchors in network-input pixels. Each sample's target loss must
equal its loss through the train pipeline without augmentation, while the evaluator still gets
the original boxes."""
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.evaluator import BaseMetric
from mmengine.registry import DATASETS, METRICS, MODELS, DefaultScope, init_default_scope
from mmengine.runner import Runner

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


@pytest.mark.parametrize('config',
                         ['ssd_voc_learnloss.py', 'mini/faster-rcnn_voc_learnloss_mini.py'])
def test_val_target_loss_equals_the_loss_through_the_train_pipeline(config, voc_root):
    model, val, plain = build(config, voc_root)
    model.read_eval_pipeline(val.pipeline.transforms)
    assert model.eval_gt_frame == 'original'  # the framework's test pipeline: Resize first
    inputs, samples = batch(model, val)
    plain_inputs, plain_samples = batch(model, plain)
    torch.testing.assert_close(inputs, plain_inputs)
    original = [s.gt_instances.bboxes.clone() for s in samples]
    assert any(not torch.allclose(o, p.gt_instances.bboxes)
               for o, p in zip(original, plain_samples))

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


class RecordedTargets(BaseMetric):
    """Keeps each evaluated sample's ``target_loss`` by image id (a metric, so it sees what
    any entry point of mmengine evaluates)."""

    seen: dict = {}

    def process(self, data_batch, data_samples):
        self.results.extend((s['img_id'], float(s['target_loss'])) for s in data_samples)

    def compute_metrics(self, results):
        RecordedTargets.seen = dict(results)
        return {}


METRICS.register_module(name='RecordedTargetsForFrameTest', module=RecordedTargets, force=True)


def runner_cfg(voc_root, tmp_path, hooks=True):
    """The shipped SSD300 config on the mini VOC set (images of other sizes than 300 px), for
    plain training: mmdet's own VOC pipelines, the evaluator plus :class:`RecordedTargets`."""
    cfg = Config.fromfile(config_path('ssd_voc_learnloss.py'))
    cfg.model.architecture.backbone.init_cfg = None
    for dataset in cfg.train_dataloader.dataset.dataset.datasets:
        dataset.data_root = voc_root
    cfg.merge_from_dict({'train_dataloader.batch_size': 4, 'train_dataloader.num_workers': 0,
                         'train_dataloader.persistent_workers': False,
                         'val_dataloader.num_workers': 0,
                         'val_dataloader.persistent_workers': False,
                         'val_dataloader.dataset.data_root': voc_root})
    cfg.test_dataloader = cfg.val_dataloader
    cfg.val_evaluator = [*cfg.val_evaluator, dict(type='RecordedTargetsForFrameTest')]
    cfg.test_evaluator = cfg.val_evaluator
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    if not hooks:
        cfg.custom_hooks = [h for h in cfg.custom_hooks
                            if h['type'] != 'mmlearnloss.GroundTruthFrameHook']
    cfg.work_dir = str(tmp_path / 'work')
    return cfg


def expected_targets(model, voc_root):
    """Each test image's loss through the train pipeline's order without augmentation."""
    dataset_cfg = Config.fromfile(config_path('ssd_voc_learnloss.py')).val_dataloader.dataset
    dataset_cfg = dict(dataset_cfg.to_dict(), data_root=voc_root)
    dataset_cfg['pipeline'] = no_augmentation(dataset_cfg['pipeline'])
    with DefaultScope.overwrite_default_scope('mmdet'):
        plain = DATASETS.build(dataset_cfg)
    model.eval()
    inputs, samples = batch(model, plain)
    with torch.no_grad():
        values = model.adapter.replay(model.architecture, inputs, samples,
                                      model.architecture.extract_feat(inputs))
    return {s.img_id: float(v) for s, v in zip(samples, values)}


def assert_targets_where_the_network_sees_the_boxes(model, voc_root):
    expected = expected_targets(model, voc_root)
    seen = RecordedTargets.seen
    assert sorted(seen) == sorted(expected) and len(seen) == NUM
    torch.testing.assert_close(torch.tensor([seen[i] for i in sorted(seen)]),
                               torch.tensor([expected[i] for i in sorted(seen)]),
                               rtol=1e-4, atol=1e-5)


def test_runner_test_computes_targets_where_the_network_sees_the_boxes(voc_root, tmp_path):
    RecordedTargets.seen = {}
    runner = Runner.from_cfg(runner_cfg(voc_root, tmp_path))
    # Runner.test() initialises no weights (it expects a checkpoint): without this, SSD's
    # L2Norm keeps uninitialised memory and the losses can be NaN.
    runner.model.init_weights()
    metrics = runner.test()
    assert 'learnloss/rank_acc' in metrics
    assert_targets_where_the_network_sees_the_boxes(runner.model, voc_root)


def test_plain_training_validates_with_targets_where_the_network_sees_the_boxes(
        voc_root, tmp_path):
    RecordedTargets.seen = {}
    runner = Runner.from_cfg(runner_cfg(voc_root, tmp_path))
    runner.train()  # one epoch, then mmengine's ValLoop
    assert runner.model.eval_gt_frame == 'original'
    assert_targets_where_the_network_sees_the_boxes(runner.model, voc_root)


def test_evaluating_resized_boxes_without_knowing_their_frame_stops(voc_root, tmp_path):
    runner = Runner.from_cfg(runner_cfg(voc_root, tmp_path, hooks=False))
    with pytest.raises(RuntimeError, match='does not know in which frame the evaluation '
                                           'pipeline delivers the ground truth'):
        runner.test()
