"""What differs per family: build-time fixes, whether samples carry ground truth, the frame of
evaluation ground truth, the one-pass path where there is one, and the entropy strategy's
uncertainty."""
from torch import nn

from mmlearnloss.registry import PER_SAMPLE
from .entropy import classifier_entropy, dense_softmax_entropy, keypoint_entropy, roi_entropy
from .one_pass import ONE_PASS
from .replay import ReplayAdapter


@PER_SAMPLE.register_module()
class ImageClassifierAdapter(ReplayAdapter):
    """mmpretrain ``ImageClassifier``: one pass with ``reduction_override='none'`` where the
    head is a plain ``ClsHead`` (exactly the replay, batch augments' soft ``gt_score`` included),
    the replay otherwise."""

    architectures = ('ImageClassifier', )
    one_passes = ONE_PASS['ImageClassifier']

    def has_targets(self, data_samples):
        return super().has_targets(data_samples) and all(
            'gt_label' in s or 'gt_score' in s for s in data_samples)

    def uncertainty(self, model, inputs, data_samples):
        return classifier_entropy(model, inputs)


@PER_SAMPLE.register_module()
class DetectorAdapter(ReplayAdapter):
    """mmdet detectors (``BaseDetector``): targets need boxes in ``gt_instances``.

    mmdet's test pipelines (VOC's among them) load the annotations after ``Resize``, so that
    the evaluator compares predictions rescaled to the image file with boxes of the file; a
    loss needs them where the anchors are, in network-input pixels: ``in_input_frame`` scales
    them by the sample's ``scale_factor``, exactly as ``Resize`` scales training boxes.
    """

    architectures = ('BaseDetector', )

    #: Detections or proposals whose class distributions enter an image's mean entropy.
    num_detections = 100

    def has_targets(self, data_samples):
        # PackDetInputs adds an empty gt_instances even when no annotations were loaded.
        return super().has_targets(data_samples) and all(
            'gt_instances' in s and 'bboxes' in s.gt_instances for s in data_samples)

    def gt_frame(self, transforms):
        names = [type(t).__name__ for t in transforms]
        load = next((i for i, name in enumerate(names) if 'LoadAnnotations' in name), None)
        if load is None:
            return 'input'  # no ground truth: has_targets says so
        before = names[:load]
        resizes = [name for name in before if 'Resize' in name]
        moving = [name for name in before if 'Resize' not in name
                  and not name.startswith('Load') and name != 'Pad']
        if resizes and getattr(transforms[load], 'with_mask', False):
            raise ValueError(
                f'The evaluation pipeline {names} loads masks after {resizes}: mmlearnloss maps '
                f'only boxes to the network input. Load the annotations before Resize.')
        if moving or len(resizes) > 1:
            raise ValueError(
                f'The evaluation pipeline {names} loads its annotations after '
                f'{moving or resizes}: mmlearnloss maps such boxes to the network input with '
                f'the sample\'s scale_factor, which says what one Resize did, not what '
                f'{moving or resizes} did. Load the annotations before them, or right after a '
                f'single Resize (as mmdet\'s test pipelines do).')
        return 'original' if resizes else 'input'

    def frame_matters(self, data_samples):
        # Boxes move between the frames where an image was resized; scale_factor says by what.
        return any(tuple(s.metainfo.get('scale_factor', (1.0, 1.0))) != (1.0, 1.0)
                   for s in data_samples if 'gt_instances' in s and 'bboxes' in s.gt_instances
                   and len(s.gt_instances.bboxes))

    def in_input_frame(self, data_samples):
        from mmdet.structures.bbox import scale_boxes
        mapped = []
        for sample in data_samples:
            sample = sample.clone()
            factor = sample.metainfo.get('scale_factor', (1.0, 1.0))
            for key in ('gt_instances', 'ignored_instances'):
                if key not in sample:
                    continue
                instances = sample.get(key).clone()
                if 'bboxes' in instances:
                    instances.bboxes = scale_boxes(instances.bboxes.clone(), factor)
                sample.set_field(instances, key)
            mapped.append(sample)
        return mapped


@PER_SAMPLE.register_module()
class SingleStageDetectorAdapter(DetectorAdapter):
    """mmdet single-stage detectors; entropy for softmax heads (SSD). The per-sample losses of
    SSD, the anchor-head family (RetinaNet), ATSS, GFL, RTMDet, TOOD, FCOS and YOLOX come from
    the batch loss (:mod:`.one_pass.mmdet`), other heads' from the replay."""

    architectures = ('SingleStageDetector', )
    one_passes = ONE_PASS['SingleStageDetector']

    def prepare(self, model):
        super().prepare(model)
        head = model.bbox_head
        if type(head).__name__ == 'SSDHead' and not hasattr(head, 'loss_cls'):
            # mmdet 3.3.0: SSDHead never sets loss_cls, but BaseDenseHead.predict_by_feat reads
            # it, so SSD cannot predict (open-mmlab/mmdetection#11305, #11780).
            head.loss_cls = None

    def uncertainty(self, model, inputs, data_samples):
        return dense_softmax_entropy(model, inputs, self.num_detections)


@PER_SAMPLE.register_module()
class TwoStageDetectorAdapter(DetectorAdapter):
    """mmdet two-stage detectors; entropy of the RoI head's class posteriors over the top RPN
    proposals of each image. Faster R-CNN's per-sample losses come from the batch loss
    (:func:`~.one_pass.mmdet.faster_rcnn_terms`), other two-stage detectors' from the replay."""

    architectures = ('TwoStageDetector', )
    one_passes = ONE_PASS['TwoStageDetector']

    def uncertainty(self, model, inputs, data_samples):
        return roi_entropy(model, inputs, data_samples, self.num_detections)


@PER_SAMPLE.register_module()
class TopdownPoseEstimatorAdapter(ReplayAdapter):
    """mmpose ``TopdownPoseEstimator``: targets need keypoint labels; entropy of heatmaps or
    SimCC distributions. Heads of :data:`~.one_pass.mmpose.POSE_HEADS` give their per-sample
    losses from the batch pass (:func:`~.one_pass.mmpose.pose_loss_terms`), other heads by the
    replay."""

    architectures = ('TopdownPoseEstimator', )
    one_passes = ONE_PASS['TopdownPoseEstimator']

    def has_targets(self, data_samples):
        return super().has_targets(data_samples) and all(
            'gt_instance_labels' in s and 'keypoint_weights' in s.gt_instance_labels
            for s in data_samples)

    def uncertainty(self, model, inputs, data_samples):
        return keypoint_entropy(model, inputs)


@PER_SAMPLE.register_module()
class SelfSupervisorAdapter(ReplayAdapter):
    """mmpretrain self-supervised algorithms (``BaseSelfSupervisor``: MoCo, SimCLR, BYOL, MAE,
    ...): refused when the wrapper is built."""

    architectures = ('BaseSelfSupervisor', )

    def prepare(self, model):
        raise TypeError(
            f'{type(model).__name__} is a self-supervised algorithm (mmpretrain '
            f'BaseSelfSupervisor): it learns without labels, so choosing which samples to label '
            f'cannot improve it, and its loss is not one per sample (contrastive methods such as '
            f'MoCo and SimCLR compare each view with the rest of the batch or a queue of earlier '
            f'batches). Wrap the supervised model that uses its backbone instead (an '
            f'ImageClassifier, a detector or a pose estimator).')


def get_adapter(model: nn.Module, per_sample=None) -> ReplayAdapter:
    """The per-sample computation named by ``per_sample`` (a type of
    :data:`mmlearnloss.registry.PER_SAMPLE`, or its config dict); by default the adapter registered
    for ``model``'s class or its nearest base class, else :class:`ReplayAdapter`."""
    if per_sample is not None:
        return PER_SAMPLE.build(dict(type=per_sample) if isinstance(per_sample, str)
                                else dict(per_sample))
    for klass in type(model).__mro__:
        for adapter in PER_SAMPLE.module_dict.values():
            if klass.__name__ in adapter.architectures:
                return adapter()
    return ReplayAdapter()
