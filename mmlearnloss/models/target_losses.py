"""Per-sample target losses and uncertainties, one adapter per model family.

The loss prediction module learns from the real loss of every sample, so the architecture's
batch loss has to be taken apart per sample. How depends on the framework; this module is the
only place that knows. Adapters are picked by the architecture's class (or a base class), with
:class:`HeadSlicingAdapter` as the fallback for any ``extract_feat`` + ``head.loss`` model.
"""
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LossDict = Dict[str, object]


def slice_batch(feats, i: int):
    """Sample ``i`` of batch-first tensors (nested in tuples, lists, dicts), keeping the batch dim."""
    if isinstance(feats, Tensor):
        return feats[i:i + 1]
    if isinstance(feats, (tuple, list)):
        return type(feats)(slice_batch(f, i) for f in feats)
    if isinstance(feats, dict):
        return {key: slice_batch(value, i) for key, value in feats.items()}
    return feats


def total_loss(losses: LossDict) -> Tensor:
    """Sum the entries whose key contains 'loss', as mmengine's ``BaseModel.parse_losses``."""
    terms = []
    for key, value in losses.items():
        if 'loss' not in key:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        terms.extend(v.mean() for v in values)
    return sum(terms)


def _head_of(model: nn.Module) -> nn.Module:
    for name in ('head', 'bbox_head'):
        head = getattr(model, name, None)
        if head is not None:
            return head
    raise TypeError(f'{type(model).__name__} has no `head` or `bbox_head`; the generic per-sample '
                    f'loss needs one. Register an adapter for it in mmlearnloss.models.'
                    f'target_losses.ADAPTERS.')


def entropy(probs: Tensor, dim: int = -1) -> Tensor:
    """Shannon entropy (nats) of probability vectors along ``dim``."""
    return -(probs * probs.clamp_min(1e-12).log()).sum(dim)


class HeadSlicingAdapter:
    """Generic: the head's loss on the whole batch, and evaluated again for each sample.

    Works for any model with ``extract_feat(inputs)`` and a ``head``/``bbox_head`` whose
    ``loss(feats, data_samples)`` returns a loss dict. Costs B extra head passes (no backbone).
    """

    def prepare(self, model: nn.Module) -> None:
        """Called once when the model is wrapped; fixes known framework issues in place."""

    def has_targets(self, data_samples) -> bool:
        """Whether the samples carry the ground truth the loss needs (not so at inference)."""
        return data_samples is not None and len(data_samples) > 0

    def head_loss(self, model, feats, data_samples) -> LossDict:
        return _head_of(model).loss(feats, data_samples)

    def loss(self, model, inputs: Tensor, data_samples) -> Tuple[LossDict, Tensor]:
        """Return the architecture's loss dict and the per-sample total loss [B]."""
        feats = model.extract_feat(inputs)
        losses = self.head_loss(model, feats, data_samples)
        per_sample = torch.stack([
            total_loss(self.head_loss(model, slice_batch(feats, i), [data_samples[i]]))
            for i in range(len(data_samples))
        ])
        return losses, per_sample

    def uncertainty(self, model, inputs: Tensor, data_samples) -> Tensor:
        raise NotImplementedError(
            f'No entropy is defined for {type(model).__name__}: register an adapter with an '
            f'`uncertainty` method in mmlearnloss.models.target_losses.ADAPTERS, or use the '
            f'random, coreset or learning_loss strategy.')


class ImageClassifierAdapter(HeadSlicingAdapter):
    """mmpretrain ``ImageClassifier``: the head's loss with ``reduction_override='none'``."""

    def has_targets(self, data_samples):
        return super().has_targets(data_samples) and all(
            'gt_label' in s or 'gt_score' in s for s in data_samples)

    def loss(self, model, inputs, data_samples):
        feats = model.extract_feat(inputs)
        losses = model.head.loss(feats, data_samples)
        per_sample = model.head.loss(feats, data_samples, reduction_override='none')['loss']
        return losses, per_sample

    def uncertainty(self, model, inputs, data_samples):
        logits = model.head(model.extract_feat(inputs))
        return entropy(F.softmax(logits, dim=1))


class SingleStageDetectorAdapter(HeadSlicingAdapter):
    """mmdet single-stage detectors (SSD first).

    Heads such as ``SSDHead`` compute their losses image by image (``multi_apply`` over images)
    and return per-image lists, normalised by the batch's positives: these already sum to the
    framework's loss. Heads that return batch scalars fall back to per-image head passes.
    """

    #: Detections whose class distribution enters the image's mean entropy.
    num_detections = 100

    def prepare(self, model):
        head = model.bbox_head
        if type(head).__name__ == 'SSDHead' and not hasattr(head, 'loss_cls'):
            # mmdet 3.3.0: SSDHead never sets loss_cls, but BaseDenseHead.predict_by_feat reads
            # it, so SSD cannot predict (open-mmlab/mmdetection#11305, #11780).
            head.loss_cls = None

    def head_loss(self, model, feats, data_samples):
        return model.bbox_head.loss(feats, data_samples)

    def has_targets(self, data_samples):
        return super().has_targets(data_samples) and all(
            'gt_instances' in s for s in data_samples)

    def loss(self, model, inputs, data_samples):
        num = len(data_samples)
        feats = model.extract_feat(inputs)
        losses = self.head_loss(model, feats, data_samples)
        per_image = [
            torch.stack([v.sum() for v in value]) for key, value in losses.items()
            if 'loss' in key and isinstance(value, (list, tuple)) and len(value) == num
        ]
        scalars = [key for key, value in losses.items()
                   if 'loss' in key and not isinstance(value, (list, tuple))]
        if per_image and not scalars:
            return losses, sum(per_image)
        per_sample = torch.stack([
            total_loss(self.head_loss(model, slice_batch(feats, i), [data_samples[i]]))
            for i in range(num)
        ])
        return losses, per_sample

    def uncertainty(self, model, inputs, data_samples):
        head = model.bbox_head
        if getattr(head, 'use_sigmoid_cls', False):
            raise NotImplementedError(f'{type(head).__name__} uses sigmoid scores; the entropy '
                                      f'strategy supports softmax heads such as SSDHead.')
        cls_scores = head(model.extract_feat(inputs))[0]
        channels = head.cls_out_channels
        # [B, A*(C+1), H, W] per level -> [B, N, C+1], the layout of mmdet's predict_by_feat.
        logits = torch.cat([s.permute(0, 2, 3, 1).reshape(s.shape[0], -1, channels)
                            for s in cls_scores], dim=1)
        probs = F.softmax(logits, dim=-1)
        foreground = probs[..., :-1].max(dim=-1).values
        top = foreground.topk(min(self.num_detections, foreground.shape[1]), dim=1).indices
        picked = probs.gather(1, top[..., None].expand(-1, -1, channels))
        return entropy(picked).mean(dim=1)


class TopdownPoseEstimatorAdapter(HeadSlicingAdapter):
    """mmpose ``TopdownPoseEstimator`` with heatmap heads (``HeatmapHead``, ``CPMHead``).

    The head's loss modules (keypoint MSE with target weights) are recorded while the head
    computes its batch loss, then evaluated again on each sample's slice of their inputs. A
    mean-reduced loss over equally sized samples averages back to the framework's loss.
    """

    def head_loss(self, model, feats, data_samples):
        return model.head.loss(feats, data_samples, train_cfg=model.train_cfg)

    def has_targets(self, data_samples):
        return super().has_targets(data_samples) and all(
            'gt_fields' in s and 'heatmaps' in s.gt_fields for s in data_samples)

    def loss(self, model, inputs, data_samples):
        feats = model.extract_feat(inputs)
        calls: List[Tuple[nn.Module, tuple, dict]] = []
        loss_modules = [m for name, m in model.head.named_modules() if name.startswith(
            'loss_module') and not isinstance(m, nn.ModuleList)]
        handles = [
            m.register_forward_hook(
                lambda mod, args, kwargs, out: calls.append((mod, args, kwargs)),
                with_kwargs=True) for m in loss_modules
        ]
        try:
            losses = self.head_loss(model, feats, data_samples)
        finally:
            for handle in handles:
                handle.remove()
        num = len(data_samples)
        per_sample = torch.stack([
            sum(mod(*slice_batch(args, i), **slice_batch(kwargs, i)) for mod, args, kwargs in calls)
            for i in range(num)
        ]) if calls else super().loss(model, inputs, data_samples)[1]
        return losses, per_sample

    def uncertainty(self, model, inputs, data_samples):
        heatmaps = model.head.forward(model.extract_feat(inputs))
        if isinstance(heatmaps, (list, tuple)):
            heatmaps = heatmaps[-1]
        probs = F.softmax(heatmaps.flatten(2), dim=-1)
        return entropy(probs).mean(dim=1)



#: Adapters by architecture class name; the first match along the class's MRO wins.
ADAPTERS: Dict[str, HeadSlicingAdapter] = {
    'ImageClassifier': ImageClassifierAdapter(),
    'SingleStageDetector': SingleStageDetectorAdapter(),
    'TopdownPoseEstimator': TopdownPoseEstimatorAdapter(),
}


def get_adapter(model: nn.Module) -> HeadSlicingAdapter:
    """The adapter for ``model``'s class or its nearest registered base class."""
    for klass in type(model).__mro__:
        if klass.__name__ in ADAPTERS:
            return ADAPTERS[klass.__name__]
    return HeadSlicingAdapter()
