"""The loss prediction module of Yoo & Kweon (CVPR 2019), Fig. 2."""
from typing import List, Optional, Sequence

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

    Args:
        in_channels (Sequence[int], optional): Channels of each tapped feature map, in tap
            order. Leave it out (None) inside :class:`LearningLoss`, which reads the channels
            from the tapped maps when it is built.
        mid_channels (int): Width of each per-map branch. Defaults to 128.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self,
                 in_channels: Optional[Sequence[int]] = None,
                 mid_channels: int = 128,
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
        # nn.ModuleList (not a Python list) so the branches are registered and trained. Each
        # branch's ReLU is applied once to the concatenation (the same values, one operation
        # instead of one per branch); the Sequential keeps the checkpoint keys
        # ``branches.<i>.0.*`` of modules built with a ReLU per branch.
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Linear(c, mid_channels)) for c in self.in_channels)
        self.fc = nn.Linear(mid_channels * len(self.in_channels), 1)

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        """Return the predicted loss, shape [B], for feature maps [B, C_i, *spatial]."""
        self._check(feats)
        # Float32 inside any autocast (AMP training, score_amp): in float16 or bfloat16 nearby
        # predicted losses tie, and ties reorder the top K of a selection.
        with torch.autocast(device_type=feats[0].device.type, enabled=False):
            pooled = [branch(self.pool(f.float())) for branch, f in zip(self.branches, feats)]
            return self.fc(torch.relu(torch.cat(pooled, dim=1))).squeeze(1)

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
