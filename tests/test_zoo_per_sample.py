"""Per-sample target losses of the frameworks' own zoo models (mmdet, mmpose, mmpretrain configs).

Every model is built from its config under ``.mim/configs`` without pretrained weights, fed a
small framework-made batch (``mmdet.testing.demo_mm_inputs``, ``mmpose.testing
.get_packed_inputs``) and wrapped in :class:`LearningLoss`. One mechanism gives every family its
per-sample losses: each sample's loss is the architecture's own loss on that sample alone,
whatever the loss does to its samples (RTMDet-Ins converts their masks) or to its model (DDOD
counts positives across calls), and validation targets are computed in training mode without
noise for the losses that need it (Deformable DETR, DINO, VFNet, RepPoints, YOLACT run only
there; FCOS's and CondInst's heads read the mode). The families that cannot have per-sample
losses are refused when the wrapper is built (``REFUSED``).
"""
import copy
import logging
import os
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Callable, Optional, Tuple

import mmdet
import mmpose
import mmpretrain
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub, MMLogger
from mmengine.registry import MODELS, DefaultScope
from mmengine.structures import BaseDataElement

from mmlearnloss.models import FeatureTaps, LearningLoss
from mmlearnloss.models.per_sample import kept_features, total_loss
from mmlearnloss.models.per_sample.isolation import (counters, counters_restored,
                                                     training_mode_without_noise)
from mmlearnloss.models.per_sample.recorders import batch_independent
from mmlearnloss.utils import seeded_rng

CONFIG_ROOTS = {
    pkg.__name__: os.path.join(os.path.dirname(pkg.__file__), '.mim', 'configs')
    for pkg in (mmdet, mmpose, mmpretrain)
}
DET, POSE, CLS = 'mmdet', 'mmpose', 'mmpretrain'


def fewer_rois(cfg):
    """Sample 64 RoIs per image instead of 512 (every cascade stage): CPU time, same code."""
    stages = cfg.train_cfg.rcnn
    for stage in stages if isinstance(stages, list) else [stages]:
        stage.sampler.num = 64


def every_sample(cfg):
    """RPN and RoI samplers that keep every candidate: the batch pass and a replay then sample
    the same anchors and RoIs (in another order), so the one pass must equal the replay."""
    cfg.train_cfg.rpn.sampler.num = 10**6
    cfg.train_cfg.rcnn.sampler.num = 10**6


def fewer_queries(cfg):
    """50 queries instead of 300 (Deformable DETR) or 900 (DINO: a 64x64 input has 85
    positions to pick them from)."""
    cfg.num_queries = 50


def simcc_input(cfg):
    """SimCC's head is sized for its input: 128x96 instead of 256x192."""
    cfg.head.input_size = (96, 128)
    cfg.head.in_featuremap_size = (3, 4)


def dsnt_input(cfg):
    """DSNT's head is sized for its input: 64x64 instead of 256x256."""
    cfg.head.in_featuremap_size = (2, 2)


def coarser_grids(cfg):
    """SOLOv2's kernel and category branches on grids a quarter as fine (10x10 ... 3x3 cells
    instead of 40x40 ... 12x12): they run at the grid's size whatever the input's."""
    cfg.mask_head.num_grids = [10, 9, 6, 4, 3]


def fewer_stages(cfg):
    """Sparse R-CNN with 20 proposals instead of 100, through 2 of its 6 stages."""
    cfg.rpn_head.num_proposals = 20
    cfg.roi_head.num_stages = 2
    cfg.roi_head.stage_loss_weights = cfg.roi_head.stage_loss_weights[:2]
    cfg.roi_head.bbox_head = cfg.roi_head.bbox_head[:2]
    cfg.train_cfg.rcnn = cfg.train_cfg.rcnn[:2]


def narrower(cfg):
    """ResNet-18 and 64 channels after it instead of ResNet-50 and 256: DDOD's deformable
    convolutions need every level at least 3 px wide, P7 included, so its input is 288 px."""
    cfg.backbone.depth = 18
    cfg.neck.in_channels = [64, 128, 256, 512]
    cfg.neck.out_channels = cfg.bbox_head.in_channels = cfg.bbox_head.feat_channels = 64


def small_windows(cfg):
    """Swin at 64 px: windows of 2x2 tokens instead of 7x7 (its last stage has 2x2)."""
    cfg.backbone.img_size = 64
    cfg.backbone.window_size = 2


@dataclass(frozen=True)
class Case:
    """How to feed one zoo model."""
    size: Tuple[int, int] = (64, 64)  # (h, w) of the network input
    batch: int = 2
    taps: Tuple[str, ...] = ('neck', )
    #: How the framework reduces the batch: the per-sample losses 'mean' or 'sum' to its loss
    #: exactly; None where it normalises by the batch's positives or boxes (detectors).
    reduces: Optional[str] = None
    masks: bool = False
    #: The architecture's loss runs in training mode only (its loss inputs are built there).
    train_only: bool = False
    #: A head's forward reads ``self.training`` (its eval outputs are not what its loss takes).
    reads_training: bool = False
    #: Several labels per image (multi-label classification).
    multi_label: bool = False
    #: The adapter defines an entropy for the uncertainty strategy.
    entropy: bool = False
    #: The per-sample losses are read from the batch loss (one pass), not replayed per sample.
    one_pass: bool = False
    #: Test-only changes to the model config that keep its code path (smaller sizes).
    shrink: Optional[Callable] = field(default=None, compare=False)

    @property
    def validated_in_training_mode(self) -> bool:
        """Its validation targets are computed in training mode without noise."""
        return self.train_only or self.reads_training


ZOO = {
    # mmdet single-stage
    (DET, 'ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py'):
    Case(size=(160, 160), entropy=True, one_pass=True),
    (DET, 'retinanet/retinanet_r18_fpn_1x_coco.py'): Case(one_pass=True),
    (DET, 'atss/atss_r50_fpn_1x_coco.py'): Case(one_pass=True),
    (DET, 'gfl/gfl_r50_fpn_1x_coco.py'): Case(one_pass=True),
    (DET, 'free_anchor/freeanchor_r50_fpn_1x_coco.py'): Case(),
    # FCOSHead scales its boxes by the stride in eval mode where norm_on_bbox (not here)
    (DET, 'fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py'): Case(reads_training=True, one_pass=True),
    (DET, 'yolox/yolox_tiny_8xb8-300e_coco.py'): Case(one_pass=True),
    (DET, 'rtmdet/rtmdet_tiny_8xb32-300e_coco.py'): Case(one_pass=True),
    (DET, 'yolo/yolov3_mobilenetv2_8xb24-320-300e_coco.py'): Case(),
    (DET, 'centernet/centernet_r18_8xb16-crop512-140e_coco.py'): Case(),
    (DET, 'vfnet/vfnet_r50_fpn_1x_coco.py'): Case(train_only=True, reads_training=True),
    (DET, 'reppoints/reppoints-moment_r50_fpn-gn_head-gn_1x_coco.py'):
    Case(train_only=True, reads_training=True),
    # DDOD's head counts the positives of every call (the replays start from its counts)
    (DET, 'ddod/ddod_r50_fpn_1x_coco.py'): Case(size=(288, 288), shrink=narrower),
    (DET, 'tood/tood_r50_fpn_1x_coco.py'): Case(one_pass=True),
    (DET, 'paa/paa_r50_fpn_1x_coco.py'): Case(),
    (DET, 'autoassign/autoassign_r50-caffe_fpn_1x_coco.py'): Case(),
    # mmdet instance segmentation, single-stage (RTMDet-Ins converts its samples' masks)
    (DET, 'rtmdet/rtmdet-ins_tiny_8xb32-300e_coco.py'): Case(masks=True),
    (DET, 'solov2/solov2-light_r18_fpn_ms-3x_coco.py'): Case(masks=True, shrink=coarser_grids),
    # CondInst's box head scales its boxes by the stride in eval mode (norm_on_bbox)
    (DET, 'condinst/condinst_r50_fpn_ms-poly-90k_coco_instance.py'):
    Case(masks=True, reads_training=True),
    (DET, 'yolact/yolact_r50_1xb8-55e_coco.py'):
    Case(masks=True, train_only=True, reads_training=True),
    # mmdet two-stage
    (DET, 'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'):
    Case(entropy=True, one_pass=True, shrink=every_sample),
    (DET, 'mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'):
    Case(masks=True, entropy=True, shrink=fewer_rois),
    (DET, 'cascade_rcnn/cascade-rcnn_r50_fpn_1x_coco.py'): Case(shrink=fewer_rois),
    # mmdet query-based: the DETR family, Sparse R-CNN
    (DET, 'detr/detr_r18_8xb2-500e_coco.py'): Case(),
    (DET, 'deformable_detr/deformable-detr_r50_16xb2-50e_coco.py'):
    Case(train_only=True, shrink=fewer_queries),
    (DET, 'dino/dino-4scale_r50_8xb2-12e_coco.py'): Case(train_only=True, shrink=fewer_queries),
    (DET, 'conditional_detr/conditional-detr_r50_8xb2-50e_coco.py'): Case(shrink=fewer_queries),
    (DET, 'dab_detr/dab-detr_r50_8xb2-50e_coco.py'): Case(shrink=fewer_queries),
    (DET, 'sparse_rcnn/sparse-rcnn_r50_fpn_1x_coco.py'): Case(shrink=fewer_stages),
    # mmpose top-down: heatmap, SimCC, RTMPose, RLE and plain regression
    (POSE, 'body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py'):
    Case(size=(128, 96), taps=('backbone', ), reduces='mean', entropy=True, one_pass=True),
    # KLDiscretLoss sums over the batch (and averages over keypoints)
    (POSE, 'body_2d_keypoint/simcc/coco/simcc_res50_8xb64-210e_coco-256x192.py'):
    Case(size=(128, 96), taps=('backbone', ), reduces='sum', entropy=True, shrink=simcc_input,
         one_pass=True),
    (POSE, 'body_2d_keypoint/rtmpose/coco/rtmpose-t_8xb256-420e_coco-256x192.py'):
    Case(size=(256, 192), taps=('backbone', ), reduces='sum', entropy=True, one_pass=True),
    (POSE, 'body_2d_keypoint/topdown_regression/coco/td-reg_res50_rle-8xb64-210e_coco-256x192.py'):
    Case(size=(128, 96), taps=('backbone', ), reduces='mean', one_pass=True),
    (POSE, 'body_2d_keypoint/topdown_regression/coco/td-reg_res50_8xb64-210e_coco-256x192.py'):
    Case(size=(128, 96), taps=('backbone', ), reduces='mean', one_pass=True),
    # beyond ResNet: HRNet, Lite-HRNet, ViTPose; integral regression (DSNT)
    (POSE, 'body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py'):
    Case(size=(64, 64), taps=('backbone', ), reduces='mean', one_pass=True),
    (POSE, 'body_2d_keypoint/topdown_heatmap/coco/td-hm_litehrnet-18_8xb64-210e_coco-256x192.py'):
    Case(size=(64, 64), taps=('backbone', ), reduces='mean', one_pass=True),
    (POSE, 'body_2d_keypoint/topdown_heatmap/coco/'
     'td-hm_ViTPose-small_8xb64-210e_coco-256x192.py'):
    Case(size=(128, 96), taps=('backbone', ), reduces='mean', one_pass=True),
    (POSE, 'body_2d_keypoint/integral_regression/coco/ipr_res50_dsnt-8xb64-210e_coco-256x256.py'):
    Case(size=(64, 64), taps=('backbone', ), reduces='mean', shrink=dsnt_input),
    # mmpretrain: plain; Mixup with a multi-label head; Mixup+CutMix with BCE; ViT (DeiT) with
    # Mixup+CutMix and label smoothing
    (CLS, 'resnet/resnet18_8xb16_cifar10.py'):
    Case(size=(32, 32), batch=4, taps=('backbone', ), reduces='mean', entropy=True,
         one_pass=True),
    (CLS, 'resnet/resnet50_8xb16-mixup_cifar10.py'):
    Case(size=(32, 32), batch=4, taps=('backbone', ), reduces='mean'),
    (CLS, 'resnet/resnet50_8xb256-rsb-a3-100e_in1k.py'):
    Case(size=(64, 64), batch=4, taps=('backbone', ), reduces='mean',
         one_pass=True),
    (CLS, 'deit/deit-tiny_4xb256_in1k.py'):
    Case(size=(64, 64), batch=4, taps=('backbone', ), reduces='mean', entropy=True,
         one_pass=True),
    # transformers and hybrids
    (CLS, 'swin_transformer/swin-tiny_16xb64_in1k.py'):
    Case(size=(64, 64), batch=4, taps=('backbone', ), reduces='mean', one_pass=True,
         shrink=small_windows),
    (CLS, 't2t_vit/t2t-vit-t-14_8xb64_in1k.py'):
    Case(size=(64, 64), batch=4, taps=('backbone', ), reduces='mean', one_pass=True),
    (CLS, 'mobilevit/mobilevit-xxsmall_8xb128_in1k.py'):
    Case(size=(64, 64), batch=4, taps=('backbone', ), reduces='mean', one_pass=True),
    # re-parameterised (trained with their branches) and other convolutional networks
    (CLS, 'repvgg/repvgg-A0_8xb32_in1k.py'):
    Case(size=(64, 64), batch=4, taps=('backbone', ), reduces='mean', one_pass=True),
    (CLS, 'mobileone/mobileone-s0_8xb32_in1k.py'):
    Case(size=(64, 64), batch=4, taps=('backbone', ), reduces='mean', one_pass=True),
    (CLS, 'convnext/convnext-tiny_32xb128_in1k.py'):
    Case(size=(64, 64), batch=4, taps=('backbone', ), reduces='mean', one_pass=True),
    # multi-label (VOC's 20 classes, sigmoid BCE)
    (CLS, 'csra/resnet101-csra_1xb16_voc07-448px.py'):
    Case(size=(64, 64), batch=4, taps=('backbone', ), reduces='mean', multi_label=True),
}


#: Zoo families the wrapper refuses when it is built, and what its message says.
REFUSED = {
    (CLS, 'mocov2/mocov2_resnet50_8xb32-coslr-200e_in1k.py'):
    r'self-supervised algorithm.*learns without labels.*Wrap the supervised model',
    (CLS, 'simclr/simclr_resnet50_8xb32-coslr-200e_in1k.py'):
    r'self-supervised algorithm.*learns without labels.*Wrap the supervised model',
}


def without_pretrained(cfg):
    """The config with every ``Pretrained`` init_cfg and ``pretrained`` key dropped."""
    if isinstance(cfg, dict):
        return type(cfg)({
            key: None if key == 'init_cfg' and 'Pretrained' in str(value) else
            without_pretrained(value)
            for key, value in cfg.items() if key != 'pretrained'
        })
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(without_pretrained(v) for v in cfg)
    return cfg


def build_architecture(scope: str, config: str, case: Case):
    cfg = Config.fromfile(os.path.join(CONFIG_ROOTS[scope], config))
    model_cfg = without_pretrained(cfg.model)
    if 'data_preprocessor' not in model_cfg and 'data_preprocessor' in cfg:
        model_cfg.data_preprocessor = cfg.data_preprocessor  # mmpretrain keeps it there
    if case.shrink is not None:
        case.shrink(model_cfg)
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(model_cfg)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # no per-parameter init report
    try:
        model.init_weights()  # DETR-family transformers diverge from PyTorch's default init
    finally:
        logger.setLevel(level)
    return model


def num_classes(arch) -> int:
    """Classes of a detector's or classifier's head (SOLO's is its mask head; CSRA's have no
    num_classes: its last convolution's outputs)."""
    for name in ('roi_head', 'bbox_head', 'mask_head', 'head'):
        head = getattr(arch, name, None)
        if head is None:
            continue
        head = getattr(head, 'bbox_head', head)
        head = head[-1] if isinstance(head, torch.nn.ModuleList) else head
        if hasattr(head, 'num_classes'):
            return head.num_classes
        last = [m for m in head.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
        return getattr(last[-1], 'out_features', None) or last[-1].out_channels
    raise AttributeError(f'{type(arch).__name__} has no head with classes')


def make_batch(arch, scope: str, case: Case, training=True):
    """A preprocessed batch from the framework's own test-input makers (batch augments such
    as Mixup/CutMix applied when ``training``)."""
    n, (h, w) = case.batch, case.size
    if scope == DET:
        from mmdet.testing import demo_mm_inputs
        packed = demo_mm_inputs(batch_size=n, image_shapes=[(3, h, w)] * n,
                                num_items=[3, 1, 2, 4][:n], num_classes=num_classes(arch),
                                with_mask=case.masks)
    elif scope == POSE:
        from mmpose.testing import get_packed_inputs
        packed = get_packed_inputs(batch_size=n, num_keypoints=17, img_shape=(h, w),
                                   input_size=(w, h), heatmap_size=(w // 4, h // 4))
    else:
        from mmpretrain.structures import DataSample
        gen = torch.Generator().manual_seed(0)
        classes = num_classes(arch)
        labels = [[k % classes, (3 * k + 1) % classes] if case.multi_label else k % classes
                  for k in range(n)]
        packed = dict(
            inputs=[torch.randint(0, 256, (3, h, w), generator=gen, dtype=torch.uint8)
                    for _ in range(n)],
            data_samples=[DataSample().set_gt_label(label) for label in labels])
    # YOLOX's BatchSyncRandomResize reads the iteration, TOOD's head the epoch (the runner
    # sets both)
    MessageHub.get_current_instance().update_info('iter', 0)
    MessageHub.get_current_instance().update_info('epoch', 0)
    torch.manual_seed(0)  # Mixup / CutMix draw from the global stream
    data = arch.data_preprocessor(packed, training)
    return data['inputs'], data['data_samples']


class Zoo:
    """One wrapped zoo model and its batch, with the per-sample losses computed once."""

    def __init__(self, scope: str, config: str, case: Case):
        self.scope, self.config, self.case = scope, config, case
        arch = build_architecture(scope, config, case)
        self.inputs, self.samples = make_batch(arch, scope, case)
        with torch.no_grad():  # until in_channels are inferred by the wrapper itself
            in_channels = [int(f.shape[1]) for f in FeatureTaps(arch, case.taps)
                           .run_until_complete(arch.extract_feat, self.inputs)]
        self.model = LearningLoss(
            architecture=arch, taps=list(case.taps),
            loss_prediction_head=dict(type='mmlearnloss.LossPredictionHead',
                                      in_channels=in_channels))
        # the framework's test batches draw their boxes on the input (scale_factor aside)
        self.model.eval_gt_frame = 'input'
        self._losses = None

    @property
    def arch(self):
        return self.model.architecture

    @contextmanager
    def comparison_mode(self):
        """Eval mode (batch-independent features), or training mode without noise (BatchNorm
        on running statistics, dropout off) where the loss runs only in training mode."""
        self.model.eval()
        with training_mode_without_noise(self.arch) if self.case.train_only else nullcontext():
            yield

    def per_sample(self, order=None):
        """(the batch loss dict, per-sample losses) of the batch, or of it permuted."""
        if order is None and self._losses is not None:
            return self._losses
        inputs, samples = self.inputs, self.samples
        if order is not None:
            inputs, samples = inputs[order], [samples[k] for k in order]
        # Every test finds the model as it was built: DDOD's head counts the positives of
        # every loss call in a plain list.
        with self.comparison_mode(), torch.no_grad(), counters_restored(self.arch):
            result = self.model.adapter.loss(self.arch, inputs, samples)
        if order is None:
            self._losses = result
        return result

    def alone(self, inputs, samples):
        """Each sample's loss computed alone by a full pass (backbone included), every pass
        from the same model: random generators seeded as a replay's, counters restored, on a
        copy of the sample."""
        losses = []
        with torch.no_grad():
            for i in range(len(samples)):
                with seeded_rng(self.model.adapter.seed, inputs.device), \
                        counters_restored(self.arch):
                    losses.append(total_loss(self.arch.loss(inputs[i:i + 1],
                                                            [copy.deepcopy(samples[i])])))
        return torch.stack(losses)


@pytest.fixture(scope='module', params=list(ZOO), ids=[config for _, config in ZOO])
def zoo(request):
    """Built once per config; pytest runs every test of one config in a row."""
    yield Zoo(*request.param, ZOO[request.param])


def zoo_where(condition: Callable[[Case], bool]):
    """Run the test on the configs whose case meets ``condition`` only (the others are not
    collected: the test does not apply to them)."""
    keys = [key for key, case in ZOO.items() if condition(case)]
    assert keys, 'no zoo config meets the condition'
    return pytest.mark.parametrize('zoo', keys, indirect=True, ids=[config for _, config in keys])


def test_one_finite_loss_per_sample_that_follows_its_sample_when_the_batch_is_permuted(zoo):
    _, losses = zoo.per_sample()
    assert losses.shape == (zoo.case.batch, ) and torch.isfinite(losses).all()
    order = list(range(zoo.case.batch))[::-1]
    _, permuted = zoo.per_sample(order)
    torch.testing.assert_close(permuted, losses[order], rtol=1e-3, atol=1e-4)


def test_each_sample_loss_is_the_architecture_loss_on_that_sample_alone(zoo):
    _, losses = zoo.per_sample()
    with zoo.comparison_mode():
        alone = zoo.alone(zoo.inputs, zoo.samples)
    torch.testing.assert_close(losses, alone, rtol=1e-3, atol=1e-4)


# Detectors normalise by the batch's positives or boxes: for them the 'alone' invariant holds.
@zoo_where(lambda case: case.reduces is not None)
def test_per_sample_losses_reduce_to_the_framework_batch_loss(zoo):
    batch_losses, losses = zoo.per_sample()
    reduced = losses.mean() if zoo.case.reduces == 'mean' else losses.sum()
    torch.testing.assert_close(reduced, total_loss(batch_losses), rtol=1e-4, atol=1e-6)


def test_the_wrapper_takes_the_one_pass_path_exactly_for_the_families_that_have_one(zoo):
    path = zoo.model.adapter.path(zoo.arch)
    assert path.startswith('one pass' if zoo.case.one_pass else 'replay'), path


@zoo_where(lambda case: case.one_pass)
def test_the_one_pass_leaves_the_framework_batch_loss_and_its_gradients_as_they_are(zoo):
    # The one pass computes some loss terms once, unreduced, and reduces them itself.
    def step(loss_fn):
        zoo.arch.zero_grad(set_to_none=True)
        with zoo.comparison_mode(), counters_restored(zoo.arch), \
                seeded_rng(zoo.model.adapter.seed, zoo.inputs.device):
            losses = loss_fn()
            total_loss(losses).backward()
        grads = {name: p.grad.clone() for name, p in zoo.arch.named_parameters()
                 if p.grad is not None}
        zoo.arch.zero_grad(set_to_none=True)
        flat = {key: torch.cat([v.detach().reshape(-1) for v in
                                (value if isinstance(value, (list, tuple)) else [value])])
                for key, value in losses.items()}  # SSD: a list of per-image terms
        return flat, grads

    plain, plain_grads = step(lambda: zoo.arch.loss(zoo.inputs, zoo.samples))
    wrapped, wrapped_grads = step(
        lambda: zoo.model.adapter.loss(zoo.arch, zoo.inputs, zoo.samples)[0])
    assert set(wrapped) == set(plain)
    for key in plain:
        torch.testing.assert_close(wrapped[key], plain[key], rtol=1e-5, atol=1e-7, msg=key)
    assert plain_grads and set(wrapped_grads) == set(plain_grads)
    for name in plain_grads:
        torch.testing.assert_close(wrapped_grads[name], plain_grads[name], rtol=1e-4,
                                   atol=1e-6, msg=name)


@zoo_where(lambda case: case.one_pass)
def test_one_pass_losses_equal_the_replay_of_each_sample(zoo):
    with zoo.comparison_mode(), torch.no_grad():
        feats = zoo.arch.extract_feat(zoo.inputs)
        one_pass = zoo.model.adapter.replay(zoo.arch, zoo.inputs, zoo.samples, feats)
        replayed = zoo.model.adapter.replay_each(zoo.arch, zoo.inputs, zoo.samples, feats)
        # and read from the batch loss of a training-style call
        _, from_batch_loss = zoo.model.adapter.loss(zoo.arch, zoo.inputs, zoo.samples)
    torch.testing.assert_close(one_pass, replayed, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(from_batch_loss, replayed, rtol=1e-4, atol=1e-6)
    recorder = zoo.model.adapter.one_pass(zoo.arch)  # None: classifiers' own one pass
    if recorder is not None:
        with torch.no_grad(), recorder(zoo.arch) as per_image:
            zoo.arch.loss(zoo.inputs, zoo.samples)
            read = per_image(zoo.case.batch)
        assert read is not None, 'the recorder fell back to the replay'
        torch.testing.assert_close(read, replayed, rtol=1e-4, atol=1e-6)


@zoo_where(lambda case: case.one_pass and case.reduces is None)  # the detectors
@pytest.mark.parametrize('empty', ['the last image', 'every image'])
def test_one_pass_losses_of_images_without_boxes_equal_the_replay(zoo, empty):
    samples = [sample.clone() for sample in zoo.samples]
    for sample in samples[-1:] if empty == 'the last image' else samples:
        instances = sample.gt_instances
        sample.gt_instances = instances[instances.labels < 0]  # none
    with zoo.comparison_mode(), torch.no_grad():
        feats = zoo.arch.extract_feat(zoo.inputs)
        replayed = zoo.model.adapter.replay_each(zoo.arch, zoo.inputs, samples, feats)
        recorder = zoo.model.adapter.one_pass(zoo.arch)
        with counters_restored(zoo.arch), recorder(zoo.arch) as per_image:
            zoo.arch.loss(zoo.inputs, samples)
            read = per_image(zoo.case.batch)
    assert len(samples[-1].gt_instances) == 0 and len(zoo.samples[-1].gt_instances) > 0
    assert read is not None, 'the recorder fell back to the replay'
    assert torch.isfinite(read).all(), read
    torch.testing.assert_close(read, replayed, rtol=1e-4, atol=1e-6)


@zoo_where(lambda case: case is ZOO[(DET, 'tood/tood_r50_fpn_1x_coco.py')])
def test_tood_after_its_initial_epochs_has_one_pass_losses_equal_to_the_replay(zoo):
    # From `initial_epoch` on, TOOD assigns by task alignment and scores by quality focal loss
    hub = MessageHub.get_current_instance()
    hub.update_info('epoch', zoo.arch.bbox_head.initial_epoch)
    try:
        with zoo.comparison_mode(), torch.no_grad():
            feats = zoo.arch.extract_feat(zoo.inputs)
            replayed = zoo.model.adapter.replay_each(zoo.arch, zoo.inputs, zoo.samples, feats)
            with zoo.model.adapter.one_pass(zoo.arch)(zoo.arch) as per_image:
                zoo.arch.loss(zoo.inputs, zoo.samples)
                read = per_image(zoo.case.batch)
            assert zoo.arch.bbox_head.epoch == zoo.arch.bbox_head.initial_epoch
    finally:
        hub.update_info('epoch', 0)
    assert read is not None, 'the recorder fell back to the replay'
    torch.testing.assert_close(read, replayed, rtol=1e-4, atol=1e-6)


def same(a, b) -> bool:
    """Deep equality of data samples, tensors, arrays and containers."""
    if isinstance(a, BaseDataElement):
        return type(a) is type(b) and same(a.to_dict(), b.to_dict())
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if hasattr(a, '__dict__'):  # e.g. BitmapMasks
        return type(a) is type(b) and same(vars(a), vars(b))
    return a == b


def test_training_replays_change_no_buffer_no_data_sample_and_no_random_stream(zoo):
    arch = zoo.arch
    arch.train()
    with torch.no_grad():
        feats = arch.extract_feat(zoo.inputs)
    samples = copy.deepcopy(zoo.samples)
    buffers = {name: buf.clone() for name, buf in arch.named_buffers()}
    state = counters(arch)
    rng = torch.get_rng_state()
    with torch.no_grad():
        zoo.model.adapter.replay(arch, zoo.inputs, samples, feats)
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(buf, buffers[name]) for name, buf in arch.named_buffers())
    assert counters(arch) == state
    assert same(samples, zoo.samples)


def test_a_training_step_trains_the_loss_prediction_head_and_the_architecture(zoo):
    model = zoo.model
    model.train()
    model.zero_grad(set_to_none=True)
    samples = copy.deepcopy(zoo.samples)
    losses = model(zoo.inputs, samples, mode='loss')
    # the batch loss worked on copies (RTMDet-Ins converts its samples' masks in place)
    assert same(samples, zoo.samples)
    assert torch.isfinite(losses['loss_pred'])
    total, _ = model.parse_losses(losses)
    total.backward()

    def grad_sum(module):
        return sum(p.grad.abs().sum().item() for p in module.parameters() if p.grad is not None)

    assert grad_sum(model.loss_prediction_head) > 0
    assert grad_sum(model.architecture.backbone) > 0
    model.zero_grad(set_to_none=True)


def test_predict_and_score_give_one_pred_loss_per_sample(zoo):
    model = zoo.model
    model.eval()
    inputs, samples = make_batch(zoo.arch, zoo.scope, zoo.case, training=False)
    with torch.no_grad():
        results = model(inputs, samples, mode='predict')
        scored = model.score(inputs, samples)['pred_loss']
    assert len(results) == zoo.case.batch
    torch.testing.assert_close(torch.stack([r.pred_loss for r in results]), scored,
                               rtol=1e-4, atol=1e-5)
    assert all(torch.isfinite(r.target_loss) for r in results)


@contextmanager
def forwards_counted(arch):
    """Count, by name, the forwards of the architecture's direct submodules that really run."""
    calls = {}

    def counted(name, forward):
        def run(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return forward(*args, **kwargs)
        return run

    children = dict(arch.named_children())
    for name, child in children.items():
        child.forward = counted(name, child.forward)
    try:
        yield calls
    finally:
        for child in children.values():
            del child.forward


@zoo_where(lambda case: not case.one_pass)
def test_training_replays_reuse_the_batch_head_outputs_of_heads_that_compute_each_sample_alone(
        zoo):
    model, arch = zoo.model, zoo.arch
    model.train()
    with torch.no_grad(), counters_restored(arch), kept_features(arch) as feats, \
            forwards_counted(arch) as counted:
        _, targets = model.adapter.loss(arch, zoo.inputs, zoo.samples)
    with torch.no_grad(), counters_restored(arch):
        replayed = model.adapter.replay_each(arch, zoo.inputs, zoo.samples, feats[0])
    torch.testing.assert_close(targets, replayed, rtol=1e-4, atol=1e-5)
    # Heads on the features run once per batch where they compute each sample alone (no
    # BatchNorm in training mode, no dropout), else once more per sample.
    heads = {name: child for name, child in arch.named_children()
             if name in ('head', 'bbox_head', 'rpn_head') and name in counted
             and not (name == 'bbox_head' and (hasattr(arch, 'roi_head')
                                               or hasattr(arch, 'decoder')))}
    for name, head in heads.items():
        assert counted[name] == (1 if batch_independent(head) else 1 + zoo.case.batch), name


@zoo_where(lambda case: not case.validated_in_training_mode)
def test_validation_target_losses_reuse_the_predict_pass_and_equal_the_replay(zoo):
    model, arch = zoo.model, zoo.arch
    model.eval()
    inputs, samples = make_batch(arch, zoo.scope, zoo.case, training=False)
    with torch.no_grad():
        model.val_target_loss = False
        with forwards_counted(arch) as plain:
            model.predict(inputs, samples)
        model.val_target_loss = True
        with forwards_counted(arch) as with_targets:
            results = model.predict(inputs, samples)
    with torch.no_grad():
        replayed = model.adapter.replay_each(arch, inputs, samples, arch.extract_feat(inputs))
    torch.testing.assert_close(torch.stack([r.target_loss for r in results]), replayed,
                               rtol=1e-3, atol=1e-4)
    assert not model.adapter.loss_in_training_mode
    # The backbone and neck run once per batch either way; so do the heads that take their
    # output (not the RoI and DETR heads, which take proposals or queries).
    once = [name for name in ('backbone', 'neck', 'head', 'bbox_head', 'rpn_head')
            if name in plain and not (name == 'bbox_head' and hasattr(arch, 'roi_head')
                                      or name == 'bbox_head' and hasattr(arch, 'decoder'))]
    assert 'backbone' in once
    assert {name: with_targets[name] for name in once} == {name: plain[name] for name in once}


@zoo_where(lambda case: case.validated_in_training_mode)
def test_a_loss_that_needs_training_mode_is_validated_in_training_mode_without_noise(zoo):
    model, arch = zoo.model, zoo.arch
    model.eval()
    inputs, samples = make_batch(arch, zoo.scope, zoo.case, training=False)
    buffers = {name: buf.clone() for name, buf in arch.named_buffers()}
    state = counters(arch)
    with torch.no_grad(), forwards_counted(arch) as calls:
        results = model.predict(inputs, samples)
    with training_mode_without_noise(arch):
        alone = zoo.alone(inputs, samples)
    torch.testing.assert_close(torch.stack([r.target_loss for r in results]), alone,
                               rtol=1e-3, atol=1e-4)
    assert calls['backbone'] == 1  # the replays reuse the features of predict's pass
    assert model.adapter.loss_in_training_mode
    assert not any(module.training for module in arch.modules())
    assert all(torch.equal(buf, buffers[name]) for name, buf in arch.named_buffers())
    assert counters(arch) == state


@zoo_where(lambda case: case.train_only)
def test_a_loss_that_runs_only_in_training_mode_says_so_when_called_in_eval_mode(zoo):
    zoo.model.eval()
    with torch.no_grad(), pytest.raises(RuntimeError, match=r'fails in eval mode.*call it in '
                                        r'training mode'):
        zoo.model.adapter.loss(zoo.arch, zoo.inputs, zoo.samples)


@zoo_where(lambda case: case.entropy)
def test_entropy_gives_one_bounded_value_per_sample_that_follows_its_sample(zoo):
    model = zoo.model
    model.eval()
    inputs, samples = make_batch(zoo.arch, zoo.scope, zoo.case, training=False)
    order = list(range(zoo.case.batch))[::-1]
    with torch.no_grad():
        unc = model.score(inputs, samples, needs=('uncertainty', ))['uncertainty']
        permuted = model.score(inputs[order], [samples[k] for k in order],
                               needs=('uncertainty', ))['uncertainty']
    assert unc.shape == (zoo.case.batch, ) and torch.isfinite(unc).all() and (unc >= 0).all()
    if zoo.scope == DET:  # over the classes and the background
        assert (unc <= np.log(num_classes(zoo.arch) + 1) + 1e-5).all()
    torch.testing.assert_close(permuted, unc[order], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize('scope, config', list(REFUSED), ids=[config for _, config in REFUSED])
def test_a_family_without_per_sample_losses_is_refused_when_the_wrapper_is_built(scope, config):
    arch = build_architecture(scope, config, Case())
    with pytest.raises(TypeError, match=REFUSED[scope, config]):
        LearningLoss(architecture=arch, taps=['backbone'], probe_shape=(3, 64, 64))
