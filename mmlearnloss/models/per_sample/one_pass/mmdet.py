"""mmdet's one passes: each image's terms of the SSD, anchor-head (RetinaNet, RPN), Faster R-CNN,
ATSS, GFL, RTMDet, TOOD, FCOS and YOLOX losses, from the batch pass."""
import inspect
from contextlib import contextmanager, nullcontext
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional

import torch
from torch import Tensor, nn

from ..adapter import describe
from ..recorders import methods_replaced
from .framework import is_framework_method


def computes_ssd_loss(model: nn.Module) -> bool:
    """Whether ``model``'s loss is exactly mmdet's SSD loss: ``SingleStageDetector.loss`` on an
    ``SSDHead`` whose loss, targets and per-image terms are the framework's."""
    head = getattr(model, 'bbox_head', None)
    return (head is not None and is_framework_method(model, 'SingleStageDetector', 'loss')
            and is_framework_method(head, 'BaseDenseHead', 'loss')
            and is_framework_method(head, 'SSDHead', 'loss_by_feat', 'loss_by_feat_single')
            and is_framework_method(head, 'AnchorHead', 'get_targets', '_get_targets_single'))


@contextmanager
def image_avg_factors(head: nn.Module) -> Iterator[List[float]]:
    """Each image's ``avg_factor`` (its sampling result's: its positives, or its sampled anchors)
    as the anchor head's ``_get_targets_single`` computes them in the block, in image order."""
    factors = []
    targets_single = head._get_targets_single

    def recording(*args, **kwargs):
        out = targets_single(*args, **kwargs)
        factors.append(out[-1].avg_factor)  # the image's SamplingResult
        return out

    with methods_replaced('_get_targets_single', {head: recording}):
        yield factors


@contextmanager
def ssd_image_terms(model: nn.Module) -> Iterator[Callable[[int], Tensor]]:
    """Record the per-image terms of mmdet's SSD loss around ``model.loss``.

    ``SSDHead.loss_by_feat`` already computes the loss image by image
    (``loss_by_feat_single``, hard negative mining included), each term divided by the batch's
    positives ``A``. Alone, image i would be divided by its own positives ``a_i`` (its sampling
    result's ``avg_factor``, recorded from ``_get_targets_single``): its loss is
    ``cls_i * A / a_i + bbox_i * (A + eps) / (a_i + eps)``, eps being mmdet's
    ``weight_reduce_loss`` guard. Yields a function of the batch size returning that [B].
    """
    head = model.bbox_head
    terms = []
    loss_single = head.loss_by_feat_single

    def recording_loss(*args, avg_factor, **kwargs):
        loss_cls, loss_bbox = loss_single(*args, avg_factor=avg_factor, **kwargs)
        terms.append((loss_cls, loss_bbox, avg_factor))
        return loss_cls, loss_bbox

    def per_image(num: int) -> Tensor:
        if len(factors) != num or len(terms) != num:
            raise RuntimeError(
                f'{describe(model)}: the SSD loss computed {len(terms)} image terms and '
                f'{len(factors)} targets for a batch of {num}; per-sample losses read one each.')
        cls = torch.cat([loss_cls.reshape(1) for loss_cls, _, _ in terms])
        bbox = torch.stack([loss_bbox for _, loss_bbox, _ in terms])
        batch = float(terms[0][2])
        own = cls.new_tensor([float(f) for f in factors])
        eps = torch.finfo(torch.float32).eps
        return cls * batch / own + bbox * (batch + eps) / (own + eps)

    with image_avg_factors(head) as factors, \
            methods_replaced('loss_by_feat_single', {head: recording_loss}):
        yield per_image


#: mmdet loss modules whose 'mean' with an ``avg_factor`` is the sum of what they return with
#: ``reduction_override='none'`` (weights and ``loss_weight`` applied) over ``avg_factor + eps``,
#: and whose 'sum' is their sum.
SUMMING_LOSSES = ('CrossEntropyLoss', 'FocalLoss', 'SmoothL1Loss', 'L1Loss', 'IoULoss',
                  'GIoULoss', 'QualityFocalLoss', 'DistributionFocalLoss')

#: The guard mmdet's ``weight_reduce_loss`` adds to an ``avg_factor``.
EPS = torch.finfo(torch.float32).eps


def _sums(loss_module) -> bool:
    return any(is_framework_method(loss_module, name, 'forward') for name in SUMMING_LOSSES)


def computes_anchor_head_loss(head: nn.Module) -> bool:
    """Whether ``head``'s loss is mmdet's ``AnchorHead`` loss (RetinaNet, RPN), per level, with
    targets per image and loss modules of :data:`SUMMING_LOSSES`."""
    return (is_framework_method(head, 'BaseDenseHead', 'loss')
            and (is_framework_method(head, 'AnchorHead', 'loss_by_feat')
                 or is_framework_method(head, 'RPNHead', 'loss_by_feat'))
            and is_framework_method(head, 'AnchorHead', 'loss_by_feat_single', 'get_targets',
                                    '_get_targets_single')
            and _sums(getattr(head, 'loss_cls', None)) and _sums(getattr(head, 'loss_bbox', None)))


def computes_faster_rcnn_loss(model: nn.Module) -> bool:
    """Whether ``model``'s loss is mmdet's two-stage loss with an anchor-head RPN and a
    ``StandardRoIHead`` of boxes only (Faster R-CNN), its bbox head's loss mmdet's own."""
    roi_head = getattr(model, 'roi_head', None)
    bbox_head = getattr(roi_head, 'bbox_head', None)
    return (getattr(model, 'rpn_head', None) is not None and bbox_head is not None
            and is_framework_method(model, 'TwoStageDetector', 'loss')
            and computes_anchor_head_loss(model.rpn_head)
            and is_framework_method(roi_head, 'StandardRoIHead', 'loss', 'bbox_loss')
            and not roi_head.with_mask
            and is_framework_method(bbox_head, 'BBoxHead', 'loss', 'loss_and_target')
            and _sums(bbox_head.loss_cls) and _sums(bbox_head.loss_bbox))


class LossCall(NamedTuple):
    """One call of a loss module in :func:`_terms_once`: its unreduced terms (detached) and what
    it was given."""
    module: nn.Module
    terms: Tensor
    args: tuple
    kwargs: dict


@contextmanager
def _terms_once(modules: list, outputs: List[LossCall]) -> Iterator[None]:
    """Inside the block, each loss module of ``modules`` computes its terms once, unreduced
    (``reduction_override='none'``: weights and ``loss_weight`` applied), appends its
    :class:`LossCall` to ``outputs`` and returns them reduced as mmdet's 'mean' with an
    ``avg_factor`` reduces them (:data:`SUMMING_LOSSES`): the sum over ``avg_factor + eps``, or
    mmdet's 0-dim zero as it is; a module whose reduction is 'sum' (no ``avg_factor``), by their
    sum. The batch loss and each image's terms from one call. A call
    reduced any other way is made as asked, and its terms computed once more."""

    def once(module, forward):
        def run(*args, **kwargs):
            unreduced = dict(kwargs, reduction_override='none')
            reduction = getattr(module, 'reduction', None)
            avg_factor = kwargs.get('avg_factor')
            if kwargs.get('reduction_override') is not None or \
                    (reduction, avg_factor is None) not in (('mean', False), ('sum', True)):
                out = forward(*args, **kwargs)
                with torch.no_grad():
                    outputs.append(LossCall(module, forward(*args, **unreduced), args, kwargs))
                return out
            terms = forward(*args, **unreduced)
            outputs.append(LossCall(module, terms.detach(), args, kwargs))
            if terms.dim() == 0:
                return terms
            return terms.sum() if reduction == 'sum' else terms.sum() / (avg_factor + EPS)
        return run

    with methods_replaced('forward', {module: once(module, module.forward) for module in modules}):
        yield


def _image_sums(terms: Tensor, num: int) -> Optional[Tensor]:
    """[B] sums of image-major flattened terms, or None if they are not ``num`` equal blocks.

    A 0-dim term is mmdet's zero for a level without any positive weight (``L1Loss``,
    ``SmoothL1Loss``: ``(pred * weight).sum()``): no image has a term there.
    """
    if terms.dim() == 0:
        return terms.new_zeros(num) + terms * 0  # NaN stays NaN
    if terms.shape[0] % num:
        return None
    return terms.reshape(num, -1).sum(1)


@contextmanager
def anchor_head_terms(head: nn.Module) -> Iterator[Callable[[int], Optional[Tensor]]]:
    """Record mmdet's ``AnchorHead`` loss image by image (RetinaNet, RPN).

    The loss is computed per level on the anchors of all images, flattened image by image,
    divided by the batch's ``avg_factor``. Each level's terms are computed once, unreduced, and
    reduced to the batch's loss (:func:`_terms_once`); summed per image, an image alone would
    divide them by its own ``avg_factor`` (its sampling result's, recorded from
    ``_get_targets_single``).
    """
    levels = []
    loss_single = head.loss_by_feat_single

    def recording_loss(*args, **kwargs):
        terms = []
        with _terms_once([head.loss_cls, head.loss_bbox], terms):
            out = loss_single(*args, **kwargs)
        levels.append([call.terms for call in terms])
        return out

    def per_image(num: int) -> Optional[Tensor]:
        if len(factors) != num or not levels or any(len(terms) != 2 for terms in levels):
            return None
        sums = [_image_sums(t, num) for terms in levels for t in terms]
        if any(s is None for s in sums):
            return None
        own = sums[0].new_tensor([float(f) for f in factors])
        return sum(sums) / (own + EPS)

    with image_avg_factors(head) as factors, \
            methods_replaced('loss_by_feat_single', {head: recording_loss}):
        yield per_image


@contextmanager
def roi_bbox_terms(bbox_head: nn.Module) -> Iterator[Callable[[int], Optional[Tensor]]]:
    """Record mmdet's ``BBoxHead`` loss image by image, by each RoI's image index.

    The batch loss divides the classification terms by the batch's sampled RoIs and the box
    terms by its RoIs; an image alone divides them by its own (``BBoxHead.loss``): its terms,
    computed once unreduced (:func:`_terms_once`), are summed by RoI image and divided so.
    """
    recorded, terms = [], []
    loss = bbox_head.loss

    def recording(*args, **kwargs):
        recorded.append(args)
        with _terms_once([bbox_head.loss_cls, bbox_head.loss_bbox], terms):
            return loss(*args, **kwargs)

    def per_image(num: int) -> Optional[Tensor]:
        cls_terms = [call.terms for call in terms if call.module is bbox_head.loss_cls]
        box_terms = [call.terms for call in terms if call.module is bbox_head.loss_bbox]
        if len(recorded) != 1 or len(cls_terms) != 1 or len(box_terms) > 1:
            return None
        cls_score, bbox_pred, rois, labels, label_weights = recorded[0][:5]
        image = rois[:, 0].long()
        zeros = cls_score.new_zeros(num)
        sampled = zeros.index_add(0, image, (label_weights > 0).to(zeros))
        total = zeros.index_add(0, image, torch.ones_like(image, dtype=zeros.dtype))
        cls = zeros.index_add(0, image, cls_terms[0].reshape(len(image), -1).sum(1))
        positive = (labels >= 0) & (labels < bbox_head.num_classes)
        # No box terms: mmdet had no positive RoI and did not call its box loss.
        box = zeros if not box_terms or box_terms[0].dim() == 0 else zeros.index_add(
            0, image[positive], box_terms[0].reshape(int(positive.sum()), -1).sum(1))
        return cls / (sampled.clamp_min(1) + EPS) + box / (total + EPS)

    with methods_replaced('loss', {bbox_head: recording}):
        yield per_image


@contextmanager
def faster_rcnn_terms(model: nn.Module) -> Iterator[Callable[[int], Optional[Tensor]]]:
    """Each image's RPN and RoI terms of a Faster R-CNN batch loss, from the batch pass's own
    anchors, proposals and sampled RoIs (see :func:`anchor_head_terms`,
    :func:`roi_bbox_terms`)."""
    with anchor_head_terms(model.rpn_head) as rpn, \
            roi_bbox_terms(model.roi_head.bbox_head) as roi:

        def per_image(num: int) -> Optional[Tensor]:
            parts = rpn(num), roi(num)
            return None if any(p is None for p in parts) else parts[0] + parts[1]

        yield per_image


@contextmanager
def dense_head_terms(model: nn.Module) -> Iterator[Callable[[int], Optional[Tensor]]]:
    """:func:`anchor_head_terms` of a single-stage detector's ``bbox_head``."""
    with anchor_head_terms(model.bbox_head) as per_image:
        yield per_image


def _sums_by_image(terms: Tensor, image: Tensor, num: int) -> Optional[Tensor]:
    """[B] sums of the rows of ``terms`` (anchors, points or positives) by their images
    ``image``, zero for an image without rows; None if the terms are not one row per entry of
    ``image``. A 0-dim term is mmdet's zero for a call without any positive weight
    (``GIoULoss``)."""
    zeros = terms.new_zeros(num)
    if terms.dim() == 0:
        return zeros + terms * 0  # NaN stays NaN
    if terms.numel() % max(len(image), 1) or (len(image) == 0) != (terms.numel() == 0):
        return None
    if not len(image):
        return zeros
    return zeros.index_add(0, image, terms.reshape(len(image), -1).sum(1))


def _computes_dense_loss(head: nn.Module, base: str, methods: tuple, losses) -> bool:
    """Whether ``head`` takes ``BaseDenseHead.loss`` and ``methods`` from the mmdet class
    ``base`` unchanged, and its loss modules ``losses`` (attribute names) are of
    :data:`SUMMING_LOSSES`."""
    return (is_framework_method(head, 'BaseDenseHead', 'loss')
            and is_framework_method(head, base, *methods)
            and all(_sums(getattr(head, attr, None)) for attr in losses))


#: Per-level heads whose loss adds quality terms (ATSS's centerness, GFL's distribution,
#: RTMDet's and TOOD's soft labels): each loss module of ``loss_by_feat_single`` and what an
#: image alone divides its terms by, as the batch divides by the batch's: 'own', its sampling
#: result's ``avg_factor``; 'box weights', the sum of its positives' box weights (centerness or
#: quality, at least 1) after the call's own ``avg_factor``; an argument of
#: ``loss_by_feat_single`` (its anchors' soft-label targets), its sum over the image's anchors
#: (at least 1) after the call's own ``avg_factor``. A module named ``*loss_cls`` covers every
#: anchor, the others the positives.
QUALITY_HEADS: Dict[str, Dict[str, str]] = {
    'ATSSHead': dict(loss_cls='own', loss_centerness='own', loss_bbox='box weights'),
    'GFLHead': dict(loss_cls='own', loss_bbox='box weights', loss_dfl='box weights'),
    'RTMDetHead': dict(loss_cls='assign_metrics', loss_bbox='box weights'),
    # TOOD: focal loss on the ATSS assignment before `initial_epoch`, then quality focal loss
    'TOODHead': dict(initial_loss_cls='alignment_metrics', loss_cls='alignment_metrics',
                     loss_bbox='box weights'),
}


def quality_head_normalisers(head: nn.Module) -> Optional[Dict[str, str]]:
    """The :data:`QUALITY_HEADS` entry whose loss ``head`` computes exactly (mmdet's ATSS, GFL,
    RTMDet or TOOD loss, targets and per-level terms, loss modules of :data:`SUMMING_LOSSES`),
    or None."""
    for name, normalisers in QUALITY_HEADS.items():
        if _computes_dense_loss(head, name, ('loss_by_feat', 'loss_by_feat_single', 'get_targets',
                                             '_get_targets_single'), normalisers):
            return normalisers
    return None


@contextmanager
def quality_head_terms(model: nn.Module) -> Iterator[Callable[[int], Optional[Tensor]]]:
    """Record mmdet's ATSS, GFL, RTMDet or TOOD loss image by image (:data:`QUALITY_HEADS`).

    Per level, the classification terms cover every anchor of every image (image-major) and
    the other terms the positives; the batch divides them by the batch's normalisers. Each
    call's terms are computed once, unreduced (:func:`_terms_once`), summed per image (a
    positive's image is its row in the level's labels) and divided by the image's own.
    """
    head = model.bbox_head
    normalisers = quality_head_normalisers(head)
    modules = {getattr(head, attr): attr for attr in normalisers}
    targets = set(normalisers.values()) - {'own', 'box weights'}  # arguments summed per image
    levels = []
    loss_single = head.loss_by_feat_single
    signature = inspect.signature(loss_single)

    def recording_loss(*args, **kwargs):
        calls = []
        with _terms_once(list(modules), calls):
            out = loss_single(*args, **kwargs)
        levels.append((signature.bind(*args, **kwargs).arguments, calls))
        return out

    def per_image(num: int) -> Optional[Tensor]:
        if not levels or ('own' in normalisers.values() and len(factors) != num):
            return None
        parts = dict.fromkeys(normalisers.values(), 0)
        norms = dict.fromkeys(targets | {'box weights'}, 0)
        for arguments, calls in levels:
            labels = arguments['labels']
            if labels.dim() != 2 or labels.shape[0] != num:
                return None
            for kind in targets:
                norms[kind] = norms[kind] + arguments[kind].reshape(num, -1).sum(1)
            image = ((labels >= 0) & (labels < head.num_classes)).nonzero()[:, 0]
            for call in calls:
                attr = modules[call.module]
                sums = _image_sums(call.terms, num) if attr.endswith('loss_cls') else \
                    _sums_by_image(call.terms, image, num)
                if sums is None:
                    return None
                kind = normalisers[attr]
                parts[kind] = parts[kind] + (
                    sums if kind == 'own' else sums / (call.kwargs['avg_factor'] + EPS))
                if attr == 'loss_bbox':
                    norms['box weights'] = norms['box weights'] + _sums_by_image(
                        call.kwargs['weight'], image, num)
        loss = 0
        for kind, part in parts.items():
            if not torch.is_tensor(part):  # mmdet computed no such terms (no positive)
                continue
            if kind == 'own':
                factor = part.new_tensor([float(f) for f in factors])
                loss = loss + part / (factor + EPS)
            else:
                loss = loss + part / norms[kind].clamp_min(1)
        return loss

    with (image_avg_factors(head) if 'own' in normalisers.values() else nullcontext([])) \
            as factors, methods_replaced('loss_by_feat_single', {head: recording_loss}):
        yield per_image


def computes_fcos_loss(head: nn.Module) -> bool:
    """Whether ``head``'s loss is mmdet's ``FCOSHead`` loss, its targets and centerness the
    framework's, with loss modules of :data:`SUMMING_LOSSES`."""
    return _computes_dense_loss(
        head, 'FCOSHead', ('loss_by_feat', 'get_targets', '_get_targets_single',
                           'centerness_target'), ('loss_cls', 'loss_bbox', 'loss_centerness'))


@contextmanager
def fcos_head_terms(model: nn.Module) -> Iterator[Callable[[int], Optional[Tensor]]]:
    """Record mmdet's FCOS loss image by image.

    ``FCOSHead.loss_by_feat`` flattens the points of all levels and images (level-major, then
    image-major) into one call of each loss module: classification on every point divided by
    the batch's positives, the centerness-weighted box terms on the positives divided by their
    summed centerness, centerness on the positives divided by the positives. Each call's terms
    are computed once, unreduced (:func:`_terms_once`), summed per image (a point's image
    follows from the level sizes) and divided by the image's own counts, as mmdet divides an
    image alone: at least 1 positive, at least 1e-6 centerness.
    """
    head = model.bbox_head
    sizes, calls = [], []
    loss_by_feat = head.loss_by_feat

    def recording(cls_scores, *args, **kwargs):
        sizes.append([score.shape[-2:].numel() for score in cls_scores])
        with _terms_once([head.loss_cls, head.loss_bbox, head.loss_centerness], calls):
            return loss_by_feat(cls_scores, *args, **kwargs)

    def per_image(num: int) -> Optional[Tensor]:
        made = {attr: [call for call in calls if call.module is getattr(head, attr)]
                for attr in ('loss_cls', 'loss_bbox', 'loss_centerness')}
        if len(sizes) != 1 or len(made['loss_cls']) != 1 or \
                len(made['loss_bbox']) != len(made['loss_centerness']) or \
                len(made['loss_bbox']) > 1:
            return None
        cls = made['loss_cls'][0]
        labels = cls.args[1]
        if labels.shape[0] != num * sum(sizes[0]):
            return None
        # each point's image: per level, each image's points in turn
        image = torch.arange(num, device=labels.device).repeat(len(sizes[0])).repeat_interleave(
            labels.new_tensor([size for size in sizes[0] for _ in range(num)]))
        positive = image[(labels >= 0) & (labels < head.num_classes)]
        zeros = cls.terms.new_zeros(num)
        num_pos = zeros.index_add(0, positive, torch.ones_like(positive, dtype=zeros.dtype))
        num_pos = num_pos.clamp_min(1)
        loss = zeros.index_add(0, image, cls.terms.reshape(len(image), -1).sum(1))
        if not made['loss_bbox']:  # no positive in the batch: mmdet's zeros
            return loss / (num_pos + EPS)
        box, centerness = made['loss_bbox'][0], made['loss_centerness'][0]
        parts = [_sums_by_image(t, positive, num)
                 for t in (box.terms, box.kwargs['weight'], centerness.terms)]
        if any(part is None for part in parts):
            return None
        box_sums, denorm, centerness_sums = parts
        return (loss + centerness_sums) / (num_pos + EPS) + \
            box_sums / (denorm.clamp_min(1e-6) + EPS)

    with methods_replaced('loss_by_feat', {head: recording}):
        yield per_image


def computes_yolox_loss(head: nn.Module) -> bool:
    """Whether ``head``'s loss is mmdet's ``YOLOXHead`` loss and targets, with loss modules of
    :data:`SUMMING_LOSSES`."""
    return _computes_dense_loss(head, 'YOLOXHead', ('loss_by_feat', '_get_targets_single'),
                                ('loss_cls', 'loss_bbox', 'loss_obj', 'loss_l1'))


@contextmanager
def yolox_head_terms(model: nn.Module) -> Iterator[Callable[[int], Optional[Tensor]]]:
    """Record mmdet's YOLOX loss image by image.

    ``YOLOXHead.loss_by_feat`` sums the objectness terms of every prior of every image
    (image-major) and the classification, box and L1 terms of the positives (image by image),
    and divides the sums by the batch's positives. Each call's terms are computed once,
    unreduced (:func:`_terms_once`), summed per image (its positives' count recorded from
    ``_get_targets_single``) and divided by the image's own positives (at least 1), as mmdet
    divides an image alone.

    With BatchNorm in training mode, the terms are those of the batch-normalised head outputs
    the framework's loss takes; the replay, which runs the head again per sample, normalises
    by the running statistics there. In eval mode the two are the same computation.
    """
    head = model.bbox_head
    modules = [head.loss_obj, head.loss_cls, head.loss_bbox, head.loss_l1]
    counts, calls = [], []
    targets_single, loss_by_feat = head._get_targets_single, head.loss_by_feat

    def recording_targets(*args, **kwargs):
        out = targets_single(*args, **kwargs)
        counts.append(int(out[-1]))  # the image's positives
        return out

    def recording(*args, **kwargs):
        with _terms_once(modules, calls):
            return loss_by_feat(*args, **kwargs)

    def per_image(num: int) -> Optional[Tensor]:
        made = [[call for call in calls if call.module is module] for module in modules]
        if len(counts) != num or len(made[0]) != 1 or any(len(m) > 1 for m in made):
            return None
        objectness = made[0][0].terms
        count = objectness.new_tensor(counts, dtype=torch.long)
        image = torch.arange(num, device=count.device).repeat_interleave(count)
        sums = [_image_sums(objectness, num)] + [
            _sums_by_image(call.terms, image, num) for m in made[1:] for call in m]
        if any(s is None for s in sums):
            return None
        return sum(sums) / count.clamp_min(1).to(objectness)

    with methods_replaced('_get_targets_single', {head: recording_targets}), \
            methods_replaced('loss_by_feat', {head: recording}):
        yield per_image
