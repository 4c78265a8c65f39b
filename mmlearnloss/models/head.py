"""The loss prediction module of Yoo & Kweon (CVPR 2019), Fig. 2."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmlearnloss.registry import MODELS


@MODELS.register_module()
class LossPredictionHead(BaseModule):
    """Predicts one scalar loss per sample from several feature maps.

    Each map goes through global average pooling, ``Linear(C_i, mid_channels)`` and ReLU; the
    results are concatenated and a final ``Linear`` gives the predicted loss. The paper found
    deeper or wider modules no better, so this is all of it.

    ``pooling`` chooses how a map becomes a vector: ``'avg'`` (the paper), ``'max'`` (global max
    pooling: the strongest response anywhere, e.g. the most confident detection of a head's
    class logits), ``'avgmax'`` (both, concatenated: ``Linear(2 * C_i, mid_channels)``) or, for a
    detection head's class logits, ``dict(type='scores', num_classes=N, use_sigmoid=False)``: what
    the map says about the image's detections, :data:`SCORE_FEATURES` numbers (see
    :func:`score_summary`).

    Args:
        in_channels (Sequence[int], optional): Channels of each tapped feature map, in tap
            order. Leave it out (None) inside :class:`LearningLoss`, which reads the channels
            from the tapped maps when it is built.
        mid_channels (int): Width of each per-map branch. Defaults to 128.
        pooling (str | dict | Sequence[str | dict]): ``'avg'``, ``'max'``, ``'avgmax'`` or a
            ``'scores'`` dict, for every map or one per map in tap order. Defaults to ``'avg'``
            (the paper).
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self,
                 in_channels: Optional[Sequence[int]] = None,
                 mid_channels: int = 128,
                 pooling: Union[str, Sequence[str]] = 'avg',
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if in_channels is None:
            raise ValueError('LossPredictionHead needs in_channels, the channels of each tapped '
                             'map. Inside LearningLoss leave it out and the wrapper fills it in '
                             'from the tapped maps; on its own, give e.g. in_channels=[64, 128].')
        if isinstance(in_channels, int):
            in_channels = [in_channels]
        if not in_channels or any(int(c) <= 0 for c in in_channels):
            raise ValueError(f'in_channels must be a non-empty list of positive ints, '
                             f'got {in_channels!r}')
        self.in_channels: List[int] = [int(c) for c in in_channels]
        self.mid_channels = mid_channels
        self.pooling: List[Union[str, Dict]] = checked_pooling(pooling, self.in_channels)
        # nn.ModuleList (not a Python list) so the branches are registered and trained. Each
        # branch's ReLU is applied once to the concatenation (the same values, one operation
        # instead of one per branch); the Sequential keeps the checkpoint keys
        # ``branches.<i>.0.*`` of modules built with a ReLU per branch.
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Linear(pooled_width(c, how), mid_channels))
            for c, how in zip(self.in_channels, self.pooling))
        self.fc = nn.Linear(mid_channels * len(self.in_channels), 1)

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        """Return the predicted loss, shape [B], for feature maps [B, C_i, *spatial]."""
        # Float32 inside any autocast (AMP training, score_amp): in float16 or bfloat16 nearby
        # predicted losses tie, and ties reorder the top K of a selection.
        with torch.autocast(device_type=feats[0].device.type, enabled=False):
            return self.from_pooled(self.pool_maps(feats))

    def pool_maps(self, feats: Sequence[Tensor]) -> List[Tensor]:
        """Each map pooled as :attr:`pooling` says, in float32: the vectors the branches take."""
        self._check(feats)
        return [pooled_map(f.float(), how) for f, how in zip(feats, self.pooling)]

    def from_pooled(self, pooled: Sequence[Tensor]) -> Tensor:
        """The predicted loss [B] from the pooled vectors of :meth:`pool_maps` (so a module
        can be fit on vectors kept from one pass of a frozen network)."""
        hidden = [branch(p) for branch, p in zip(self.branches, pooled)]
        return self.fc(torch.relu(torch.cat(hidden, dim=1))).squeeze(1)

    @staticmethod
    def pool(feat: Tensor) -> Tensor:
        """Global average pooling over every dimension after channels: [B, C, ...] -> [B, C]."""
        return feat.flatten(2).mean(dim=2) if feat.dim() > 2 else feat

    def _check(self, feats: Sequence[Tensor]) -> None:
        got = [int(f.shape[1]) for f in feats]
        if got != self.in_channels:
            raise ValueError(
                f'LossPredictionHead was built for {len(self.in_channels)} feature maps with '
                f'channels {self.in_channels}, but the taps gave {len(got)} maps with channels '
                f'{got}. Set in_channels to {got} or change the taps.')


#: How :class:`LossPredictionHead` can pool a map: the paper's average, max, both, or (a dict)
#: a summary of a detection head's class scores.
POOLINGS = ('avg', 'max', 'avgmax', 'scores')
#: The numbers :func:`score_summary` gives for one map.
SCORE_FEATURES = 7
_SCORE_THRESHOLDS = (0.1, 0.3, 0.5)
_TOP_K = 5


def checked_pooling(pooling: Union[str, Dict, Sequence[Union[str, Dict]]],
                    in_channels: Sequence[int]) -> List[Union[str, Dict]]:
    """``pooling`` as one of :data:`POOLINGS` per map, or a ValueError saying what was wrong."""
    num_maps = len(in_channels)
    poolings = ([pooling] * num_maps if isinstance(pooling, (str, dict)) else list(pooling))
    if len(poolings) != num_maps or any(
            (how.get('type') if isinstance(how, dict) else how) not in POOLINGS
            or how == 'scores' for how in poolings):
        raise ValueError(f'pooling must be one of {POOLINGS} or a list of them, one per tapped '
                         f'map ({num_maps}), got {pooling!r}; \'scores\' is a dict: '
                         "dict(type='scores', num_classes=N, use_sigmoid=False)")
    checked = []
    for how, channels in zip(poolings, in_channels):
        if isinstance(how, dict):
            how = dict(how)
            extra = set(how) - {'type', 'num_classes', 'use_sigmoid'}
            num_classes = how.get('num_classes')
            if extra or not isinstance(num_classes, int) or num_classes <= 0:
                raise ValueError(f"a 'scores' pooling takes num_classes (a positive int: the "
                                 f'detector\'s classes, background not counted) and use_sigmoid, '
                                 f'got {how!r}')
            how.setdefault('use_sigmoid', False)
            per_anchor = num_classes + (0 if how['use_sigmoid'] else 1)
            if channels % per_anchor:
                raise ValueError(
                    f'a map of {channels} channels is not class logits of {num_classes} classes '
                    f'({per_anchor} a prior with use_sigmoid={how["use_sigmoid"]}): tap the '
                    "head's class logits (e.g. 'bbox_head[0]') or fix num_classes.")
        checked.append(how)
    return checked


def pooled_width(channels: int, how: Union[str, Dict]) -> int:
    """The length of the vector a map of ``channels`` channels is pooled to."""
    if isinstance(how, dict):
        return SCORE_FEATURES
    return channels * (2 if how == 'avgmax' else 1)


def pooled_map(feat: Tensor, how: Union[str, Dict]) -> Tensor:
    """``feat`` [B, C, ...] pooled over every dimension after channels as ``how`` says:
    [B, C] (``'avg'``, ``'max'``), [B, 2C] (``'avgmax'``: average, then max) or
    [B, SCORE_FEATURES] (a ``'scores'`` dict: :func:`score_summary`)."""
    if isinstance(how, dict):
        return score_summary(feat, how['num_classes'], how['use_sigmoid'])
    if how == 'avg':
        return LossPredictionHead.pool(feat)
    flat = feat.flatten(2) if feat.dim() > 2 else feat.unsqueeze(2)
    if how == 'max':
        return flat.amax(dim=2)
    return torch.cat([flat.mean(dim=2), flat.amax(dim=2)], dim=1)


def score_summary(logits: Tensor, num_classes: int, use_sigmoid: bool = False) -> Tensor:
    """What one level of a detection head's class logits says about the image's detections.

    ``logits`` [B, P * K, H, W] holds K class logits for each of P priors a location, as mmdet's
    dense heads lay them out: K = ``num_classes`` + 1 with the background last (softmax heads,
    SSD) or ``num_classes`` (sigmoid heads). Each prior's confidence is its highest foreground
    probability; the image's [B, 7] summary is: log(1 + the number of priors above 0.1, 0.3 and
    0.5), log(1 + the sum of the confidences), the mean of the 5 highest, the highest, and the
    mean normalised entropy of the class distribution of those 5 priors. Where the paper's
    average pooling mixes the few priors that detect something into thousands of background ones,
    these say how many confident detections the image has and how sure they are.
    """
    per_anchor = num_classes + (0 if use_sigmoid else 1)
    batch = logits.shape[0]
    logits = logits.reshape(batch, -1, per_anchor, *logits.shape[2:]).movedim(2, -1)
    logits = logits.reshape(batch, -1, per_anchor)  # [B, priors, K]
    if use_sigmoid:
        probs = logits.sigmoid()
        confidence = probs.amax(dim=2)
        dist = probs / probs.sum(dim=2, keepdim=True).clamp_min(1e-12)
    else:
        dist = logits.softmax(dim=2)
        confidence = dist[..., :num_classes].amax(dim=2)
    counts = [(confidence > t).sum(dim=1).float().log1p() for t in _SCORE_THRESHOLDS]
    top, index = confidence.topk(min(_TOP_K, confidence.shape[1]), dim=1)
    top_dist = dist.gather(1, index.unsqueeze(2).expand(-1, -1, per_anchor))
    entropy = -(top_dist * top_dist.clamp_min(1e-12).log()).sum(dim=2)
    entropy = entropy / torch.log(torch.tensor(float(max(per_anchor, 2))))
    return torch.stack(counts + [confidence.sum(dim=1).log1p(), top.mean(dim=1),
                                 top[:, 0], entropy.mean(dim=1)], dim=1)
