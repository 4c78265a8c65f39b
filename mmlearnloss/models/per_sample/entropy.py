"""Uncertainties for the entropy strategy (Sec. 4's baseline): the Shannon entropy of each
sample's predicted distributions, per family."""
import torch
import torch.nn.functional as F
from torch import Tensor, nn


def entropy(probs: Tensor, dim: int = -1) -> Tensor:
    """Shannon entropy (nats) of probability vectors along ``dim``."""
    return -(probs * probs.clamp_min(1e-12).log()).sum(dim)


def classifier_entropy(model: nn.Module, inputs: Tensor) -> Tensor:
    """Entropy of an mmpretrain classifier's softmax."""
    logits = model.head(model.extract_feat(inputs))
    return entropy(F.softmax(logits, dim=1))


def dense_softmax_entropy(model: nn.Module, inputs: Tensor, num_detections: int) -> Tensor:
    """Mean entropy of the class distributions (background included) of a softmax dense head's
    ``num_detections`` most confident anchors (SSD)."""
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
    top = foreground.topk(min(num_detections, foreground.shape[1]), dim=1).indices
    picked = probs.gather(1, top[..., None].expand(-1, -1, channels))
    return entropy(picked).mean(dim=1)


def roi_entropy(model: nn.Module, inputs: Tensor, data_samples, num_detections: int) -> Tensor:
    """Mean entropy of a two-stage detector's RoI class posteriors over each image's
    ``num_detections`` best RPN proposals."""
    from mmdet.structures.bbox import bbox2roi
    roi_head = model.roi_head
    bbox_head = getattr(roi_head, 'bbox_head', None)
    if not hasattr(roi_head, '_bbox_forward') or isinstance(bbox_head, nn.ModuleList) or \
            getattr(getattr(bbox_head, 'loss_cls', None), 'use_sigmoid', False):
        raise NotImplementedError(
            f'The entropy strategy supports single-stage softmax RoI heads such as '
            f'StandardRoIHead, not {type(roi_head).__name__}; use another strategy, or '
            f'register an adapter with an `uncertainty` method in '
            f'mmlearnloss.registry.PER_SAMPLE.')
    feats = model.extract_feat(inputs)
    proposals = model.rpn_head.predict(feats, data_samples, rescale=False)
    # RPN results are sorted by score (NMS output): keep each image's best proposals.
    rois = bbox2roi([p.bboxes[:num_detections] for p in proposals])
    cls_score = roi_head._bbox_forward(feats, rois)['cls_score']
    if getattr(bbox_head, 'custom_activation', False):
        probs = bbox_head.loss_cls.get_activation(cls_score)
    else:
        probs = F.softmax(cls_score, dim=-1)
    image = rois[:, 0].long()  # each RoI's image index
    totals = probs.new_zeros(len(proposals)).index_add_(0, image, entropy(probs))
    counts = torch.zeros_like(totals).index_add_(0, image, torch.ones_like(totals[image]))
    return totals / counts.clamp_min(1)


def keypoint_entropy(model: nn.Module, inputs: Tensor) -> Tensor:
    """Mean per-keypoint entropy of an mmpose head's heatmaps or SimCC distributions."""
    out = model.head.forward(model.extract_feat(inputs))
    if isinstance(out, Tensor) and out.dim() == 4:  # heatmaps [B, K, H, W]
        out = [out]
    if isinstance(out, (list, tuple)) and all(o.dim() == 4 for o in out):
        # multi-stage heads (CPMHead) give a list of stages: the last is the prediction
        probs = F.softmax(out[-1].flatten(2), dim=-1)
        return entropy(probs).mean(dim=1)
    if isinstance(out, tuple) and all(o.dim() == 3 for o in out):
        # SimCC: (x, y) distributions [B, K, W_x], [B, K, W_y]
        return sum(entropy(F.softmax(o, dim=-1)).mean(dim=1) for o in out) / len(out)
    raise NotImplementedError(
        f'{type(model.head).__name__} predicts no distribution (heatmaps or SimCC) for the '
        f'entropy strategy; use the random, coreset or learning_loss strategy.')
