"""Per-sample target losses and uncertainties.

The loss prediction module learns from the real loss of every sample, so the architecture's
batch loss has to be taken apart per sample. One mechanism does it for every architecture whose
``loss`` starts with ``self.extract_feat`` (mmpretrain classifiers, every mmdet single-stage,
two-stage and DETR-family detector, mmpose top-down estimators): the batch loss is computed
once, as in training, while the output of ``extract_feat`` is kept; then, for each sample, the
architecture's own ``loss`` runs again on that sample alone with ``extract_feat`` returning the
sample's slice of the kept features (no backbone recomputation). What belongs to which sample
thus comes from the framework's own computation, never from the layout of a loss dict.

A sample's target is therefore its loss computed alone. Where the framework averages over the
batch (classifiers, mmpose heatmap and regression heads) the targets average to its loss; where
it sums over the batch (mmpose SimCC's ``KLDiscretLoss``) they sum to it; where it normalises by
the batch's positives or boxes (detectors) each is the image's loss as if it were the only image
of its batch.

Replays run without gradients, with BatchNorm layers on their running statistics (a batch of
one has no usable batch statistics), on copies of the buffers and with every random generator
seeded (RoI samplers, DINO's denoising noise, dropout) and restored after: a replay is a
function of its sample alone, changes no model state and leaves training's random stream as it
was.

Adapters add what truly differs per family (build-time fixes, whether samples carry ground
truth, the entropy strategy's uncertainty) and are picked by the architecture's class or its
nearest registered base class in :data:`ADAPTERS`.
"""
import inspect
import random
from contextlib import contextmanager, nullcontext
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

LossDict = Dict[str, object]


def map_tensors(fn, tree):
    """``tree`` with ``fn`` applied to every tensor nested in its tuples, lists and dicts."""
    if isinstance(tree, Tensor):
        return fn(tree)
    if isinstance(tree, (tuple, list)):
        return type(tree)(map_tensors(fn, item) for item in tree)
    if isinstance(tree, dict):
        return {key: map_tensors(fn, value) for key, value in tree.items()}
    return tree


def slice_batch(feats, i: int):
    """Sample ``i`` of batch-first tensors (nested in tuples, lists, dicts), batch dim kept."""
    return map_tensors(lambda tensor: tensor[i:i + 1], feats)


def batch_sizes(feats) -> List[int]:
    """The first dimension of every tensor nested in ``feats``."""
    if isinstance(feats, Tensor):
        return [feats.shape[0]] if feats.dim() else [0]
    if isinstance(feats, (tuple, list)):
        return [n for f in feats for n in batch_sizes(f)]
    if isinstance(feats, dict):
        return [n for f in feats.values() for n in batch_sizes(f)]
    return []


def total_loss(losses: LossDict) -> Tensor:
    """Sum the entries whose key contains 'loss', as mmengine's ``BaseModel.parse_losses``."""
    terms = []
    for key, value in losses.items():
        if 'loss' not in key:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        terms.extend(v.mean() for v in values)
    if not terms:
        raise ValueError(f'The loss dict has no entry whose key contains "loss": {list(losses)}')
    return sum(terms)


def entropy(probs: Tensor, dim: int = -1) -> Tensor:
    """Shannon entropy (nats) of probability vectors along ``dim``."""
    return -(probs * probs.clamp_min(1e-12).log()).sum(dim)


def describe(model: nn.Module) -> str:
    """``'FasterRCNN (rpn_head: RPNHead, roi_head: StandardRoIHead)'``, for error messages."""
    heads = [f'{name}: {type(m).__name__}' for name, m in model.named_children()
             if name.endswith('head')]
    return f'{type(model).__name__} ({", ".join(heads) or "no head"})'


@contextmanager
def replay_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Run the block with every RNG seeded to ``seed`` and restore the global streams after.

    Random samplers (RPN/RoI ``RandomSampler``, DINO's denoising noise, dropout) then make a
    replayed loss a function of its sample alone, and training's own random stream is untouched.
    """
    devices = []
    if device.type == 'cuda':
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    np_state, py_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=devices):
        torch.default_generator.manual_seed(seed)
        for index in devices:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


@contextmanager
def process_local() -> Iterator[None]:
    """Run the block as if this process were the whole world: ``torch.distributed`` reports
    no process group (world size 1, rank 0).

    A per-sample loss is the sample's alone: losses that average their normalisers over the
    ranks (mmdet's ``reduce_mean`` in FCOS, ATSS, GFL, YOLOX, the DETR family, ...) would mix in
    other ranks' samples, add a collective per sample, and wait forever where one rank
    replays alone (pre-annotations, a rank's last batch).
    """
    if not (dist.is_available() and dist.is_initialized()):
        yield
        return
    saved = dist.is_initialized, dist.get_world_size, dist.get_rank
    dist.is_initialized = lambda: False
    dist.get_world_size = lambda group=None: 1
    dist.get_rank = lambda group=None: 0
    try:
        yield
    finally:
        dist.is_initialized, dist.get_world_size, dist.get_rank = saved


@contextmanager
def methods_replaced(name: str, methods: dict) -> Iterator[None]:
    """Give each module in ``methods`` the method ``name`` (``'forward'``, ``'extract_feat'``)
    from it for the block, as an instance attribute: ``nn.Module.__call__`` and direct
    ``self.<name>`` calls both use it."""
    previous = {module: module.__dict__.get(name) for module in methods}
    for module, method in methods.items():
        setattr(module, name, method)
    try:
        yield
    finally:
        for module, method in previous.items():
            delattr(module, name)
            if method is not None:
                setattr(module, name, method)


def extract_feat_as(model: nn.Module, fn):
    """Replace ``model.extract_feat`` by ``fn`` for the duration of the block."""
    return methods_replaced('extract_feat', {model: fn})


@contextmanager
def buffers_restored(model: nn.Module) -> Iterator[None]:
    """Keep the block's changes to buffers (counters, statistics) out of the model.

    The block runs on copies of the buffers, so the originals, which the batch loss's autograd
    graph may hold (BatchNorm's running statistics), are not even touched in place: restoring
    them in place afterwards would break that graph's backward.
    """
    originals = [(module, name, buf) for module in model.modules()
                 for name, buf in module._buffers.items() if buf is not None]
    for module, name, buf in originals:
        module._buffers[name] = buf.clone()
    try:
        yield
    finally:
        for module, name, buf in originals:
            module._buffers[name] = buf


@contextmanager
def kept_features(model: nn.Module) -> Iterator[list]:
    """Keep, in the yielded list, the output of every ``model.extract_feat`` call of the block."""
    calls = []
    extract_feat = model.extract_feat

    def recording(*args, **kwargs):
        calls.append(extract_feat(*args, **kwargs))
        return calls[-1]

    with extract_feat_as(model, recording):
        yield calls


@contextmanager
def kept_head_outputs(model: nn.Module, feats: list) -> Iterator[dict]:
    """Keep, in the yielded dict, the output of each direct submodule of ``model`` (a head)
    called on the first kept features ``feats[0]`` (see :func:`kept_features`), by module.

    Wraps ``forward`` rather than hooking ``__call__``: heads call ``self.forward`` directly too
    (mmpose's flip test). Outputs are copied: a predict step may post-process them in place.
    """
    outputs = {}

    def keeping(module, forward):
        def keep(*args, **kwargs):
            output = forward(*args, **kwargs)
            if module not in outputs and feats and args and args[0] is feats[0]:
                outputs[module] = map_tensors(Tensor.clone, output)
            return output
        return keep

    with methods_replaced('forward', {module: keeping(module, module.forward)
                                      for module in model.children()}):
        yield outputs


@contextmanager
def head_outputs_as(outputs: dict, feats, i: Optional[int] = None) -> Iterator[None]:
    """Heads called on ``feats`` return their kept ``outputs`` (sample ``i`` of them, or all if
    ``i`` is None) instead of running again; called on anything else, they run."""

    def reusing(forward, output):
        def reuse(*args, **kwargs):
            if args and args[0] is feats:
                return output
            return forward(*args, **kwargs)
        return reuse

    with methods_replaced('forward', {
            module: reusing(module.forward, output if i is None else slice_batch(output, i))
            for module, output in outputs.items()}):
        yield


@contextmanager
def batch_norms_frozen(model: nn.Module) -> Iterator[None]:
    """BatchNorm layers in eval mode (running statistics) for the block.

    A batch of one sample has no usable batch statistics (a 1x1 map of one sample has none at
    all: SSDLite's last level raises), so a replayed sample is normalised as at inference.
    """
    training = [m for m in model.modules()
                if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    for module in training:
        module.eval()
    try:
        yield
    finally:
        for module in training:
            module.train()


class ReplayAdapter:
    """Per-sample losses by replaying the architecture's ``loss`` on each sample's features.

    Supports any architecture whose ``loss(inputs, data_samples)`` calls
    ``self.extract_feat(inputs)`` once and computes the rest from its output. Costs one pass of
    everything after ``extract_feat`` per sample, without gradients.
    """

    #: Seed of every replay's random generators: a replay is a function of its sample alone.
    seed = 0

    def prepare(self, model: nn.Module) -> None:
        """Called once when the model is wrapped: fail early if the mechanism cannot work."""
        missing = [name for name in ('extract_feat', 'loss') if not callable(
            getattr(model, name, None))]
        if missing:
            raise TypeError(
                f'{describe(model)} has no {" or ".join(missing)}: mmlearnloss computes '
                f'per-sample losses by replaying `loss(inputs, data_samples)` on each sample\'s '
                f'slice of `extract_feat(inputs)`. Register an adapter for '
                f'{type(model).__name__} in mmlearnloss.models.target_losses.ADAPTERS (a '
                f'ReplayAdapter subclass whose `loss` returns the loss dict and a [B] tensor).')

    def has_targets(self, data_samples) -> bool:
        """Whether the samples carry the ground truth the loss needs (not so at inference)."""
        return data_samples is not None and len(data_samples) > 0

    def gt_frame(self, transforms: Sequence) -> str:
        """In which frame an evaluation pipeline of ``transforms`` delivers the ground truth:
        ``'input'`` (the network's, as in training) or ``'original'`` (the image file's, to be
        mapped by :meth:`in_input_frame` before a loss is computed on it)."""
        return 'input'

    def in_input_frame(self, data_samples: list) -> list:
        """``data_samples`` with their ground truth mapped from the original to the input
        frame, as copies: the evaluator still reads the originals."""
        return data_samples

    def loss(self, model: nn.Module, inputs, data_samples,
             per_sample: bool = True) -> Tuple[LossDict, Optional[Tensor]]:
        """The architecture's loss dict (with gradients) and the per-sample losses [B] (None
        without ``per_sample``)."""
        one_pass = self.one_pass(model) if per_sample else None
        with kept_features(model) as calls, \
                (one_pass(model) if one_pass else nullcontext()) as per_image:
            try:
                losses = model.loss(inputs, data_samples)
            except Exception as exc:
                if model.training:
                    raise
                raise RuntimeError(
                    f'{describe(model)}.loss fails in eval mode ({type(exc).__name__}: {exc}). '
                    f'Some architectures (mmdet Deformable DETR, DINO) build their '
                    f'loss inputs only in training mode: validate them without target losses, '
                    f'LearningLoss(val_target_loss=False).') from exc
        if len(calls) != 1:
            raise RuntimeError(
                f'{describe(model)}.loss called extract_feat {len(calls)} times; per-sample '
                f'losses replay `loss` on one call\'s features. Register an adapter for '
                f'{type(model).__name__} in mmlearnloss.models.target_losses.ADAPTERS.')
        if not per_sample:
            return losses, None
        if one_pass:
            return losses, per_image(len(data_samples)).detach()
        with torch.no_grad():
            targets = self.replay(model, inputs, data_samples, calls[0])
        return losses, targets

    def one_pass(self, model: nn.Module) -> Optional[Callable]:
        """For families whose batch loss already holds each sample's terms: a context manager
        factory that, around ``model.loss``, records them and yields a function of the batch
        size returning the per-sample losses [B], equal to the replay's. None: replay."""
        return None

    def path(self, model: nn.Module) -> str:
        """Which computation gives ``model``'s per-sample losses, for the build log."""
        if self.one_pass(model):
            return 'one pass: read from the batch loss'
        return 'replay: the loss after extract_feat, once per sample'

    def replay(self, model: nn.Module, inputs, data_samples, feats,
               head_outputs: Optional[dict] = None) -> Tensor:
        """Each sample's total loss computed alone from its slice of ``feats``: by the
        family's :meth:`one_pass` where it has one, else by :meth:`replay_each`.

        ``head_outputs`` (from :func:`kept_head_outputs`, eval mode only): heads' outputs on
        ``feats``, which the replays slice instead of running those heads again.
        """
        num = len(data_samples)
        wrong = sorted(set(batch_sizes(feats)) - {num})
        if wrong:
            raise RuntimeError(f'{type(model).__name__}.extract_feat returned maps whose first '
                               f'dimension is {wrong}, not the batch size {num}; per-sample '
                               f'losses need batch-first features.')
        one_pass = self.one_pass(model)
        if one_pass:
            # The batch loss once, on the kept features and head outputs, its terms read per
            # sample, under the replay's conditions.
            with extract_feat_as(model, lambda *args, **kwargs: feats), \
                    head_outputs_as(head_outputs or {}, feats), \
                    replay_rng(self.seed, _device_of(inputs, feats)), \
                    batch_norms_frozen(model), buffers_restored(model), process_local(), \
                    one_pass(model) as per_image:
                model.loss(inputs, data_samples)
            return per_image(num)
        return self.replay_each(model, inputs, data_samples, feats, head_outputs)

    def replay_each(self, model: nn.Module, inputs, data_samples, feats,
                    head_outputs: Optional[dict] = None) -> Tensor:
        """:meth:`replay` by running ``loss`` once per sample: the reference of every path."""
        num = len(data_samples)
        # Only batch-first outputs can be sliced per sample.
        head_outputs = {module: output for module, output in (head_outputs or {}).items()
                        if batch_sizes(output) and set(batch_sizes(output)) == {num}}
        per_sample = []
        for i in range(num):
            sample_feats = slice_batch(feats, i)
            try:
                with extract_feat_as(model, lambda *args, **kwargs: sample_feats), \
                        head_outputs_as(head_outputs, sample_feats, i), \
                        replay_rng(self.seed, _device_of(inputs, feats)), \
                        batch_norms_frozen(model), buffers_restored(model), process_local():
                    per_sample.append(total_loss(model.loss(inputs[i:i + 1], [data_samples[i]])))
            except Exception as exc:
                hint = '' if model.training else (
                    ' If it needs training mode (mmdet Deformable DETR, DINO), validate without '
                    'target losses: LearningLoss(val_target_loss=False).')
                raise RuntimeError(
                    f'Cannot compute the per-sample loss of {describe(model)}: its loss failed '
                    f'on sample {i} alone ({type(exc).__name__}: {exc}). Register an adapter '
                    f'for {type(model).__name__} in mmlearnloss.models.target_losses.ADAPTERS.'
                    f'{hint}') from exc
        return torch.stack(per_sample)

    def uncertainty(self, model: nn.Module, inputs, data_samples) -> Tensor:
        raise NotImplementedError(
            f'No entropy is defined for {describe(model)}: register an adapter with an '
            f'`uncertainty` method in mmlearnloss.models.target_losses.ADAPTERS, or use the '
            f'random, coreset or learning_loss strategy.')


def _device_of(inputs, feats) -> torch.device:
    tensor = inputs if isinstance(inputs, Tensor) else feats
    while not isinstance(tensor, Tensor):
        tensor = next(iter(tensor.values() if isinstance(tensor, dict) else tensor))
    return tensor.device


def _uses_cls_head_loss(model: nn.Module) -> bool:
    """Whether ``model.loss`` is ImageClassifier's and its head's loss is ClsHead's, with a loss
    module that takes ``reduction_override``: then one pass gives exact per-sample losses."""
    head = getattr(model, 'head', None)
    bases = {klass.__name__: klass for klass in type(model).__mro__ + type(head).__mro__}
    if 'ImageClassifier' not in bases or 'ClsHead' not in bases:
        return False
    loss_module = getattr(head, 'loss_module', None)
    return (type(model).loss is bases['ImageClassifier'].loss
            and type(head).loss is bases['ClsHead'].loss
            and type(head)._get_loss is bases['ClsHead']._get_loss
            and loss_module is not None
            and 'reduction_override' in inspect.signature(loss_module.forward).parameters)


class ImageClassifierAdapter(ReplayAdapter):
    """mmpretrain ``ImageClassifier``: one pass with ``reduction_override='none'`` where the
    head is a plain ``ClsHead`` (exactly the replay, batch augments' soft ``gt_score`` included),
    the replay otherwise."""

    def has_targets(self, data_samples):
        return super().has_targets(data_samples) and all(
            'gt_label' in s or 'gt_score' in s for s in data_samples)

    def path(self, model):
        if _uses_cls_head_loss(model):
            return 'one pass: the head loss with reduction none'
        return super().path(model)

    def replay(self, model, inputs, data_samples, feats, head_outputs=None):
        if _uses_cls_head_loss(model):
            with head_outputs_as(head_outputs or {}, feats):
                losses = model.head.loss(feats, data_samples, reduction_override='none')
            if losses['loss'].shape == (len(data_samples), ):
                return losses['loss']
        return super().replay(model, inputs, data_samples, feats, head_outputs)

    def uncertainty(self, model, inputs, data_samples):
        logits = model.head(model.extract_feat(inputs))
        return entropy(F.softmax(logits, dim=1))


class DetectorAdapter(ReplayAdapter):
    """mmdet detectors (``BaseDetector``): targets need boxes in ``gt_instances``.

    mmdet's test pipelines (VOC's among them) load the annotations after ``Resize``, so that
    the evaluator compares predictions rescaled to the image file with boxes of the file; a
    loss needs them where the anchors are, in network-input pixels: ``in_input_frame`` scales
    them by the sample's ``scale_factor``, exactly as ``Resize`` scales training boxes.
    """

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


def _is_framework_method(obj, base_name: str, *names: str) -> bool:
    """Whether ``obj``'s class derives from the class ``base_name`` and takes each method of
    ``names`` from it unchanged (a subclass that overrides one computes something else)."""
    base = next((k for k in type(obj).__mro__ if k.__name__ == base_name), None)
    return base is not None and all(
        getattr(type(obj), name, None) is getattr(base, name, None) for name in names)


def _computes_ssd_loss(model: nn.Module) -> bool:
    """Whether ``model``'s loss is exactly mmdet's SSD loss: ``SingleStageDetector.loss`` on an
    ``SSDHead`` whose loss, targets and per-image terms are the framework's."""
    head = getattr(model, 'bbox_head', None)
    return (head is not None and _is_framework_method(model, 'SingleStageDetector', 'loss')
            and _is_framework_method(head, 'BaseDenseHead', 'loss')
            and _is_framework_method(head, 'SSDHead', 'loss_by_feat', 'loss_by_feat_single')
            and _is_framework_method(head, 'AnchorHead', 'get_targets', '_get_targets_single'))


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
    factors, terms = [], []
    targets_single, loss_single = head._get_targets_single, head.loss_by_feat_single

    def recording_targets(*args, **kwargs):
        out = targets_single(*args, **kwargs)
        factors.append(out[-1].avg_factor)  # the image's SamplingResult
        return out

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

    with methods_replaced('_get_targets_single', {head: recording_targets}), \
            methods_replaced('loss_by_feat_single', {head: recording_loss}):
        yield per_image


class SingleStageDetectorAdapter(DetectorAdapter):
    """mmdet single-stage detectors; entropy for softmax heads (SSD). SSD's per-sample losses
    come from its batch loss (:func:`ssd_image_terms`), other heads' from the replay."""

    def one_pass(self, model):
        return ssd_image_terms if _computes_ssd_loss(model) else None

    def prepare(self, model):
        super().prepare(model)
        head = model.bbox_head
        if type(head).__name__ == 'SSDHead' and not hasattr(head, 'loss_cls'):
            # mmdet 3.3.0: SSDHead never sets loss_cls, but BaseDenseHead.predict_by_feat reads
            # it, so SSD cannot predict (open-mmlab/mmdetection#11305, #11780).
            head.loss_cls = None

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


class TwoStageDetectorAdapter(DetectorAdapter):
    """mmdet two-stage detectors; entropy of the RoI head's class posteriors over the top RPN
    proposals of each image."""

    def uncertainty(self, model, inputs, data_samples):
        from mmdet.structures.bbox import bbox2roi
        roi_head = model.roi_head
        bbox_head = getattr(roi_head, 'bbox_head', None)
        if not hasattr(roi_head, '_bbox_forward') or isinstance(bbox_head, nn.ModuleList) or \
                getattr(getattr(bbox_head, 'loss_cls', None), 'use_sigmoid', False):
            raise NotImplementedError(
                f'The entropy strategy supports single-stage softmax RoI heads such as '
                f'StandardRoIHead, not {type(roi_head).__name__}; register an adapter in '
                f'mmlearnloss.models.target_losses.ADAPTERS or use another strategy.')
        feats = model.extract_feat(inputs)
        proposals = model.rpn_head.predict(feats, data_samples, rescale=False)
        # RPN results are sorted by score (NMS output): keep each image's best proposals.
        rois = bbox2roi([p.bboxes[:self.num_detections] for p in proposals])
        cls_score = roi_head._bbox_forward(feats, rois)['cls_score']
        if getattr(bbox_head, 'custom_activation', False):
            probs = bbox_head.loss_cls.get_activation(cls_score)
        else:
            probs = F.softmax(cls_score, dim=-1)
        image = rois[:, 0].long()  # each RoI's image index
        totals = probs.new_zeros(len(proposals)).index_add_(0, image, entropy(probs))
        counts = torch.zeros_like(totals).index_add_(0, image, torch.ones_like(totals[image]))
        return totals / counts.clamp_min(1)


class TopdownPoseEstimatorAdapter(ReplayAdapter):
    """mmpose ``TopdownPoseEstimator``: targets need keypoint labels; entropy of heatmaps or
    SimCC distributions."""

    def has_targets(self, data_samples):
        return super().has_targets(data_samples) and all(
            'gt_instance_labels' in s and 'keypoint_weights' in s.gt_instance_labels
            for s in data_samples)

    def uncertainty(self, model, inputs, data_samples):
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


#: Adapters by architecture class name; the first match along the class's MRO wins.
ADAPTERS: Dict[str, ReplayAdapter] = {
    'ImageClassifier': ImageClassifierAdapter(),
    'SingleStageDetector': SingleStageDetectorAdapter(),
    'TwoStageDetector': TwoStageDetectorAdapter(),
    'BaseDetector': DetectorAdapter(),
    'TopdownPoseEstimator': TopdownPoseEstimatorAdapter(),
}


def get_adapter(model: nn.Module) -> ReplayAdapter:
    """The adapter for ``model``'s class or its nearest registered base class."""
    for klass in type(model).__mro__:
        if klass.__name__ in ADAPTERS:
            return ADAPTERS[klass.__name__]
    return ReplayAdapter()
