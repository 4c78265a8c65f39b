"""The loss prediction module of Yoo & Kweon (CVPR 2019), Fig. 2."""
from typing import List, Optional, Sequence, Union

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
    class logits) or ``'avgmax'`` (both, concatenated: ``Linear(2 * C_i, mid_channels)``).

    Args:
        in_channels (Sequence[int], optional): Channels of each tapped feature map, in tap
            order. Leave it out (None) inside :class:`LearningLoss`, which reads the channels
            from the tapped maps when it is built.
        mid_channels (int): Width of each per-map branch. Defaults to 128.
        pooling (str | Sequence[str]): ``'avg'``, ``'max'`` or ``'avgmax'``, for every map or
            one per map in tap order. Defaults to ``'avg'`` (the paper).
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
        self.pooling: List[str] = checked_pooling(pooling, len(self.in_channels))
        # nn.ModuleList (not a Python list) so the branches are registered and trained. Each
        # branch's ReLU is applied once to the concatenation (the same values, one operation
        # instead of one per branch); the Sequential keeps the checkpoint keys
        # ``branches.<i>.0.*`` of modules built with a ReLU per branch.
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Linear(c * (2 if how == 'avgmax' else 1), mid_channels))
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


#: How :class:`LossPredictionHead` can pool a map: the paper's average, max, or both.
POOLINGS = ('avg', 'max', 'avgmax')


def checked_pooling(pooling: Union[str, Sequence[str]], num_maps: int) -> List[str]:
    """``pooling`` as one of :data:`POOLINGS` per map, or a ValueError saying what was wrong."""
    poolings = [pooling] * num_maps if isinstance(pooling, str) else list(pooling)
    if len(poolings) != num_maps or any(how not in POOLINGS for how in poolings):
        raise ValueError(f'pooling must be one of {POOLINGS} or a list of them, one per tapped '
                         f'map ({num_maps}), got {pooling!r}')
    return poolings


def pooled_map(feat: Tensor, how: str) -> Tensor:
    """``feat`` [B, C, ...] pooled over every dimension after channels as ``how`` says:
    [B, C] (``'avg'``, ``'max'``) or [B, 2C] (``'avgmax'``: average, then max)."""
    if how == 'avg':
        return LossPredictionHead.pool(feat)
    flat = feat.flatten(2) if feat.dim() > 2 else feat.unsqueeze(2)
    if how == 'max':
        return flat.amax(dim=2)
    return torch.cat([flat.mean(dim=2), flat.amax(dim=2)], dim=1)
