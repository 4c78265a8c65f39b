"""Per-sample losses read from the batch loss itself, where the framework's computation already
holds each sample's terms: no replay per sample. Each framework's paths are in its module
(:mod:`.mmdet`, :mod:`.mmpose`, :mod:`.mmpretrain`); which family takes which, in
:data:`ONE_PASS`."""
from typing import Callable, Dict, NamedTuple, Optional, Tuple

from torch import nn

from .mmdet import (computes_anchor_head_loss, computes_faster_rcnn_loss, computes_fcos_loss,
                    computes_ssd_loss, computes_yolox_loss, dense_head_terms, faster_rcnn_terms,
                    fcos_head_terms, quality_head_normalisers, quality_head_terms, ssd_image_terms,
                    yolox_head_terms)
from .mmpose import computes_pose_head_loss, pose_loss_terms
from .mmpretrain import cls_head_losses, uses_cls_head_loss


class OnePass(NamedTuple):
    """A family's per-sample losses without a replay per sample, where ``check`` passes."""

    #: Whether ``model``'s loss is exactly the framework's computation this path reads.
    check: Callable[[nn.Module], bool]
    #: Around ``model.loss``: a context manager factory that records each sample's terms and
    #: yields a function of the batch size returning the losses [B], equal to the replay's (or
    #: None where what it recorded cannot be read per sample: the replay then runs).
    recorder: Optional[Callable] = None
    #: Instead of a recorder: the losses [B] (or None: the replay runs) from one call,
    #: ``(model, feats, data_samples)``, on the batch's kept features, run as a replay (the kept
    #: head outputs reused, the random streams seeded).
    on_kept_features: Optional[Callable] = None
    #: How the build log names the path.
    path: str = 'one pass: read from the batch loss'


#: Each family's one-pass paths, by the architecture class its adapter is registered for (a
#: family adapter's ``one_passes``): the first whose check the model passes is taken, else the
#: replay.
ONE_PASS: Dict[str, Tuple[OnePass, ...]] = {
    'ImageClassifier': (
        OnePass(uses_cls_head_loss, on_kept_features=cls_head_losses,
                path='one pass: the head loss with reduction none'), ),
    'SingleStageDetector': (
        OnePass(computes_ssd_loss, ssd_image_terms),
        OnePass(lambda model: computes_anchor_head_loss(model.bbox_head), dense_head_terms),
        OnePass(lambda model: bool(quality_head_normalisers(model.bbox_head)), quality_head_terms),
        OnePass(lambda model: computes_fcos_loss(model.bbox_head), fcos_head_terms),
        OnePass(lambda model: computes_yolox_loss(model.bbox_head), yolox_head_terms),
    ),
    'TwoStageDetector': (OnePass(computes_faster_rcnn_loss, faster_rcnn_terms), ),
    'TopdownPoseEstimator': (OnePass(computes_pose_head_loss, pose_loss_terms), ),
}

__all__ = ['ONE_PASS', 'OnePass']
