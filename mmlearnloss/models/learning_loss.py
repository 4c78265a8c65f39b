"""The LearningLoss wrapper: any OpenMMLab model plus a loss prediction module."""
from contextlib import contextmanager, nullcontext
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModel
from torch import Tensor, nn

from mmlearnloss.registry import MODELS
from .losses import gather_batch, scale_for_ddp_mean, world_size
from .per_sample import get_adapter, kept_features, kept_head_outputs
from .per_sample.replay import describe
from .taps import FeatureTaps, TapOutputError, default_taps

#: What the module can learn to predict (``LearningLoss(target=...)``).
TARGETS = ('loss', 'instances')


@MODELS.register_module()
class LearningLoss(BaseModel):
    """Wraps an architecture so that it learns to predict its own per-sample loss.

    The architecture is built and used as it is (its data preprocessor included); forward hooks
    record the tapped feature maps, the :class:`LossPredictionHead` predicts each sample's loss
    from them, and :class:`LossPredictionLoss` compares the prediction with the sample's real
    loss. The architecture's loss dict gains ``loss_pred`` (already scaled by λ), which mmengine
    adds to the total, plus the logged, non-loss ``rank_acc`` and ``nan_targets``.

    Args:
        architecture (dict | nn.Module): The target model, e.g. an mmdet ``SSD`` config.
        taps (Sequence[str], optional): Submodules whose outputs feed the head, e.g.
            ``['backbone.layer1', ..., 'backbone.layer4']`` or ``['neck']`` (all outputs of a
            multi-output module) or ``['neck[0]']``. Defaults to ``['neck']`` when the
            architecture has a neck, else ``['backbone']``.
        loss_prediction_head (dict): Config of :class:`LossPredictionHead`. Without
            ``in_channels`` the channels are read from the tapped maps of a dry forward pass on
            a blank input of shape ``probe_shape`` when the wrapper is built.
        loss (dict): Config of :class:`LossPredictionLoss` (margin, λ as ``loss_weight``, mode,
            pairs).
        val_target_loss (bool): In predict mode also compute each sample's real loss
            (``target_loss``) when the data samples carry ground truth, so
            :class:`LossRankingMetric` can score the head. Computed on the features and head
            outputs predict computed (no second backbone or head pass), from one batch loss
            where the family has a one pass, else one replay of the loss per sample; a loss
            that runs only in training mode (Deformable DETR, DINO, VFNet, RepPoints, YOLACT)
            runs its heads again, in training mode without noise.
        probe_shape (Sequence[int], optional): Shape of one input, without the batch dimension,
            for the dry pass that reads ``in_channels``, e.g. ``(1, 28, 28)``. By default
            ``(C, S, S)`` with C the input channels of the architecture's first 2-D convolution
            and S the first of 224, 256, 320, 512 that the architecture accepts. Unused when
            ``in_channels`` is given.
        global_ranking (bool): When training on several processes, rank the predicted losses of
            the whole global batch (every rank's samples, in rank order) instead of each rank's
            own few: with mmdet's 2 images per GPU a rank alone has a single pair. Gradients are
            scaled so that, after DDP averages them over ranks, they equal one process's on the
            global batch. No effect in a single process.
        per_sample (str | dict, optional): How each sample's real loss is computed: a type of
            ``mmlearnloss.registry.PER_SAMPLE`` (``'ReplayAdapter'``, the reference that runs
            the loss once per sample, or a family adapter) or its config dict. By default the
            adapter registered for the architecture's class or its nearest base class, which
            reads the losses from the batch loss where the family allows it (SSD, classifiers);
            the build log says which path it took.
        target (str): What the module learns to predict for each sample. ``'loss'`` (the
            paper): its real loss, the loss the architecture computes for it alone, which for
            a detector is an average over its objects. ``'instances'``: that loss times the
            sample's annotated instances (:meth:`PerSampleAdapter.num_instances`, boxes or
            people), the loss its annotations carry in all; a classification sample has one.
            For budgets that count images holding varying numbers of objects: the module then
            ranks images by the loss of all their objects, not by how wrong each one is on
            average. Applied wherever targets are computed (training, validation,
            ``clean_view``).
        data_preprocessor (dict, optional): Filled in by mmengine's Runner from a config's
            top-level ``data_preprocessor`` (mmpretrain configs keep it there); it becomes the
            architecture's unless the architecture config has its own.
        init_cfg (dict, optional): mmengine initialisation config.

    The wrapper stands in for the architecture where hooks and tools expect the model itself
    (mmdet's ``YOLOXModeSwitchHook`` sets ``model.bbox_head.use_l1``, mmpretrain's
    ``SwitchRecipeHook`` replaces ``model.head.loss_module``): a public attribute the wrapper
    does not have itself is the architecture's, to read and to set. ``model.bbox_head`` is
    ``model.architecture.bbox_head``, and ``model.flag = v`` sets ``architecture.flag`` when
    the architecture has ``flag`` and the wrapper has not. The wrapper's own attributes
    (``data_preprocessor``, ``taps``, ``training``, its methods, ...) stay its own, names
    starting with ``_`` and ``module`` are never forwarded, and reading a name neither has
    raises AttributeError naming both.
    """

    def __init__(self,
                 architecture: Union[dict, nn.Module],
                 taps: Optional[Sequence[str]] = None,
                 loss_prediction_head: dict = dict(type='mmlearnloss.LossPredictionHead'),
                 loss: dict = dict(type='mmlearnloss.LossPredictionLoss'),
                 val_target_loss: bool = True,
                 probe_shape: Optional[Sequence[int]] = None,
                 global_ranking: bool = True,
                 per_sample: Optional[Union[str, dict]] = None,
                 target: str = 'loss',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if target not in TARGETS:
            raise ValueError(f'LearningLoss: target={target!r}; expected one of {TARGETS}.')
        if isinstance(architecture, dict):
            architecture = dict(architecture)
            if data_preprocessor is not None:
                architecture.setdefault('data_preprocessor', data_preprocessor)
            architecture = MODELS.build(architecture)
        super().__init__(data_preprocessor=architecture.data_preprocessor, init_cfg=init_cfg)
        self.architecture = architecture
        # First: an architecture the per-sample computation refuses fails with its reason.
        self.adapter = get_adapter(architecture, per_sample)
        self.adapter.prepare(architecture)
        print_log(f'LearningLoss: per-sample losses of {describe(architecture)} by '
                  f'{self.adapter.path(architecture)}.', logger='current')
        self.taps = FeatureTaps(architecture, default_taps(architecture) if taps is None else taps)
        # The module is built in a fork of torch's generator, from a seed drawn from it: the
        # architecture's initial weights (drawn next, by init_weights) depend on the seed and
        # the architecture only, so recipes whose modules differ, and λ=0 baselines, start
        # from the same network.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2**62, ())))
            self.loss_prediction_head = self._build_head(loss_prediction_head, probe_shape)
        self.loss_prediction_loss = MODELS.build(loss)
        self.val_target_loss = val_target_loss
        self.global_ranking = global_ranking
        self.target = target
        #: Set by StopLossGradHook: the head then learns from detached features only.
        self.detach_taps = False
        #: Frame of the evaluation samples' ground truth: 'input' (the network's), 'original'
        #: (the image file's) or None until :meth:`read_eval_pipeline` reads a pipeline (set
        #: 'input' for samples made on the input, such as mmdet's ``demo_mm_inputs``).
        self.eval_gt_frame: Optional[str] = None
        # From here on, setting a name only the architecture has sets the architecture's.
        self._built = True

    def __getattr__(self, name: str):
        # Called only when the normal lookup (nn.Module's parameters, buffers and submodules
        # included) found nothing. Reads __dict__ directly: `architecture` may not be set yet.
        try:
            return super().__getattr__(name)
        except AttributeError:
            architecture = self.__dict__.get('_modules', {}).get('architecture')
            if architecture is None or name.startswith('_') or name in NOT_FORWARDED:
                raise
        try:
            return getattr(architecture, name)
        except AttributeError as error:
            raise AttributeError(
                f"'{type(self).__name__}' object has no attribute '{name}', nor has its "
                f"architecture ('{type(architecture).__name__}')") from error

    def __setattr__(self, name: str, value) -> None:
        if self._architecture_owns(name):
            setattr(self._modules['architecture'], name, value)
        else:
            super().__setattr__(name, value)

    def _architecture_owns(self, name: str) -> bool:
        """Whether ``name`` is a public attribute of the architecture that the (built)
        wrapper does not have itself."""
        if name.startswith('_') or name in NOT_FORWARDED or not self.__dict__.get('_built'):
            return False
        own = (name in self.__dict__ or hasattr(type(self), name) or name in self._parameters
               or name in self._buffers or name in self._modules)
        return not own and hasattr(self._modules['architecture'], name)

    def read_eval_pipeline(self, transforms: Sequence) -> None:
        """Learn from the evaluation pipeline's ``transforms`` in which frame its samples carry
        their ground truth, so validation target losses are computed where the network sees
        the image (mmdet's test pipelines load boxes after ``Resize``, in the image file's
        pixels). :class:`GroundTruthFrameHook` calls it before each validation and test,
        :class:`ActiveLearningLoop` before the first stage."""
        self.eval_gt_frame = self.adapter.gt_frame(transforms)

    def forward(self, inputs: Tensor, data_samples=None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.architecture(inputs, data_samples, mode='tensor')
        raise RuntimeError(f"Invalid mode {mode!r}: expected 'loss', 'predict' or 'tensor'")

    def loss(self, inputs: Tensor, data_samples) -> Dict[str, Tensor]:
        """The architecture's own losses plus ``loss_pred``."""
        # λ = 0 (the baselines' configs): nothing learns from the targets, so none are computed.
        with_targets = self.loss_prediction_loss.loss_weight != 0
        with self.taps.record():
            losses, target_loss = self.adapter.loss(self.architecture, inputs, data_samples,
                                                    per_sample=with_targets)
            feats = self.taps.outputs()
        if self.detach_taps:
            feats = [f.detach() for f in feats]
        pred_loss = self.loss_prediction_head(feats)
        if not with_targets:
            losses = dict(losses)
            # zero, but every parameter stays in the graph, as DDP expects
            losses['loss_pred'] = pred_loss.sum() * 0.0
            return losses
        target_loss = self._as_target(target_loss.detach(), data_samples)
        world = world_size() if self.global_ranking else 1
        if world > 1:
            pred_loss, target_loss = gather_batch(pred_loss, target_loss)
        losses = dict(losses)
        # The global batch's loss, with gradients that DDP's mean over ranks makes global too.
        loss, accuracy, invalid = self.loss_prediction_loss.measure(pred_loss, target_loss)
        losses['loss_pred'] = scale_for_ddp_mean(loss, world)
        losses['rank_acc'] = accuracy
        losses['nan_targets'] = invalid
        return losses

    def predict(self, inputs: Tensor, data_samples=None) -> list:
        """The architecture's predictions, each with ``pred_loss`` (and ``target_loss``)."""
        with_targets = self.val_target_loss and self.adapter.has_targets(data_samples)
        results, maps, target_loss = self._predict(inputs, data_samples, with_targets)
        pred_loss = self.loss_prediction_head(maps)
        for i, result in enumerate(results):
            result.pred_loss = pred_loss[i].detach()
            if target_loss is not None:
                result.target_loss = target_loss[i].detach()
        return results

    @torch.no_grad()
    def clean_view(self, inputs: Tensor, data_samples: list) -> Tuple[List[Tensor], Tensor]:
        """The pooled tapped maps (:meth:`LossPredictionHead.pool_maps`) and the real losses
        [B] of ``data_samples`` as evaluation sees them: in eval mode, with the ground truth
        where the network sees the image. Fed through an evaluation pipeline (no
        augmentation), these are what a module can be fit on to rank the pool's images; the
        architecture's modes and buffers are left as they were."""
        if not self.adapter.has_targets(data_samples):
            raise ValueError('clean_view needs samples with ground truth: the real loss of a '
                             'sample is computed on its annotations.')
        with unchanged_state(self.architecture):
            _, maps, target_loss = self._predict(inputs, data_samples, with_targets=True)
        return self.loss_prediction_head.pool_maps(maps), target_loss

    def _predict(self, inputs: Tensor, data_samples, with_targets: bool):
        """The architecture's predictions, the tapped maps of that pass and, ``with_targets``,
        each sample's real loss (else None)."""
        with self.taps.record(), kept_features(self.architecture) as feats, \
                (kept_head_outputs(self.architecture, feats) if with_targets
                 else nullcontext({})) as head_outputs:
            results = self.architecture(inputs, data_samples, mode='predict')
            maps = self.taps.outputs()
        target_loss = None
        if with_targets:
            # Replayed on the features and head outputs predict computed (its first
            # extract_feat call: the unflipped inputs), so validation runs them once; in
            # training mode without noise where the loss runs only there.
            targets = self._in_input_frame(data_samples)
            with torch.no_grad():
                target_loss = self._as_target(
                    self.adapter.validation_targets(self.architecture, inputs, targets, feats[0],
                                                    head_outputs), targets)
        return results, maps, target_loss

    def _as_target(self, loss: Tensor, data_samples) -> Tensor:
        """What the module learns for each sample from its real ``loss`` [B] (``target``)."""
        if self.target == 'loss':
            return loss
        return loss * loss.new_tensor(self.adapter.num_instances(data_samples))

    def _in_input_frame(self, data_samples: list) -> list:
        """``data_samples`` with their ground truth where the network sees the image."""
        if self.eval_gt_frame == 'original':
            return self.adapter.in_input_frame(data_samples)
        if self.eval_gt_frame is None and self.adapter.frame_matters(data_samples):
            raise RuntimeError(
                'LearningLoss computes validation target losses (val_target_loss=True), but '
                'does not know in which frame the evaluation pipeline delivers the ground '
                'truth, and these samples were resized (mmdet\'s test pipelines load boxes '
                'after Resize, in the image file\'s pixels): their losses would be computed on '
                'boxes in the wrong frame. Add dict(type=\'mmlearnloss.GroundTruthFrameHook\') '
                'to custom_hooks (the shipped detection configs have it), call '
                'model.read_eval_pipeline(dataset.pipeline.transforms) before predicting, or '
                'set val_target_loss=False.')
        return data_samples

    @torch.no_grad()
    def score(self, inputs: Tensor, data_samples=None,
              needs: Sequence[str] = ('pred_loss', )) -> Dict[str, Tensor]:
        """Per-sample values for selecting what to label, keyed by what is asked for.

        ``'pred_loss'`` and ``'features'`` (the globally pooled deepest tap, for core-set) come
        from one pass that stops at the deepest tap: no head, no post-processing, no NMS.
        ``'uncertainty'`` is the family adapter's entropy of the predictions. ``'target_loss'``
        is each sample's real loss as the module learns it (``target``), from its annotations:
        for simulations on a labeled pool only (``OracleLossStrategy``).
        """
        out: Dict[str, Tensor] = {}
        if 'target_loss' in needs:
            if not self.adapter.has_targets(data_samples):
                raise ValueError('Scoring with target_loss (OracleLossStrategy) needs the pool '
                                 'samples\' annotations: it computes their real losses, which '
                                 'only a simulation on a labeled pool can.')
            out['target_loss'] = self._predict(inputs, data_samples, with_targets=True)[2]
        if 'pred_loss' in needs or 'features' in needs:
            feats = self.taps.run_until_complete(self._features_pass, inputs)
            if 'pred_loss' in needs:
                out['pred_loss'] = self.loss_prediction_head(feats)
            if 'features' in needs:
                out['features'] = self.loss_prediction_head.pool(feats[-1])
        if 'uncertainty' in needs:
            out['uncertainty'] = self.adapter.uncertainty(self.architecture, inputs, data_samples)
        return out

    def score_step(self, data: dict, needs: Sequence[str] = ('pred_loss', )) -> Dict[str, Tensor]:
        """Like ``test_step``: preprocess a dataloader batch and :meth:`score` it."""
        data = self.data_preprocessor(data, False)
        return self.score(data['inputs'], data.get('data_samples'), needs)

    def _build_head(self, cfg: dict, probe_shape: Optional[Sequence[int]]) -> nn.Module:
        cfg = dict(cfg)
        if cfg.get('in_channels') is None:
            # Read now, not at the first forward: DDP wraps the model before any data is seen.
            cfg['in_channels'] = self._probe_in_channels(probe_shape)
        return MODELS.build(cfg)

    def _probe_in_channels(self, probe_shape: Optional[Sequence[int]]) -> List[int]:
        """Channels of the tapped maps, from a dry pass on one blank input of ``probe_shape``
        (by default the first of :data:`PROBE_SIZES` the architecture accepts)."""
        shapes = default_probe_shapes(self.architecture) if probe_shape is None else [probe_shape]
        param = next(self.architecture.parameters(), None)
        errors = []
        for shape in shapes:
            probe = torch.zeros((1, *shape), device=None if param is None else param.device)
            try:
                with torch.no_grad(), unchanged_state(self.architecture):
                    feats = self.taps.run_until_complete(self._features_pass, probe)
                return [int(f.shape[1]) for f in feats]
            except TapOutputError:
                raise
            except Exception as error:
                errors.append(f'{tuple(shape)}: {type(error).__name__}: {error}')
        tried = '; '.join(errors)
        raise RuntimeError(
            f'Could not read the channels of the taps {self.taps.names} from a dry forward pass '
            f'of {type(self.architecture).__name__} on a blank input ({tried}). Set probe_shape '
            f'to the shape of one input without the batch dimension (e.g. probe_shape=(1, 28, '
            f'28)), or set loss_prediction_head.in_channels to the channels of the tapped maps.')

    def _features_pass(self, inputs: Tensor) -> None:
        if not hasattr(self.architecture, 'extract_feat'):
            self.architecture(inputs, None, mode='tensor')
            return
        feats = self.architecture.extract_feat(inputs)
        # Reached only when a tap lies beyond the features: a dense head's outputs.
        for name in HEADS_ON_FEATURES:
            head = getattr(self.architecture, name, None)
            if head is not None:
                head(feats)


#: Names never read or set through to the architecture: mmengine takes a model with a
#: ``module`` for a DDP-style wrapper and unwraps it (the optimizer would miss the head).
NOT_FORWARDED = ('module', )

#: Heads that take the features alone (mmdet's single-stage, mmpose's and mmpretrain's), run
#: by the scoring pass only when a tap lies in them.
HEADS_ON_FEATURES = ('bbox_head', 'head')

#: Input sizes tried, in order, when no probe_shape is given: ImageNet classifiers and FPN
#: detectors take 224, mmpose's hourglass needs a multiple of 128 (256), SSD300's last maps
#: vanish below 300 (320), SSD512 needs 512.
PROBE_SIZES = (224, 256, 320, 512)


def default_probe_shapes(model: nn.Module) -> List[Tuple[int, int, int]]:
    """``(C, S, S)`` for S in :data:`PROBE_SIZES`, C the input channels of the model's first
    2-D convolution, then 3 (RGB): a backbone may rearrange its input before its first
    convolution (YOLOX's ``Focus`` turns 3 channels into 12)."""
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    channels = dict.fromkeys([3] if conv is None else [conv.in_channels, 3])
    return [(c, size, size) for c in channels for size in PROBE_SIZES]


@contextmanager
def unchanged_state(model: nn.Module) -> Iterator[None]:
    """Eval mode inside the block; every module's training flag and every buffer (BatchNorm
    statistics and counters included) as they were before, after it."""
    modes = [(module, module.training) for module in model.modules()]
    buffers = [(module, name, buf, buf.detach().clone()) for module in model.modules()
               for name, buf in module._buffers.items() if buf is not None]
    model.eval()
    try:
        yield
    finally:
        for module, mode in modes:
            module.training = mode
        with torch.no_grad():
            for module, name, buf, saved in buffers:
                buf.copy_(saved)
                module._buffers[name] = buf
