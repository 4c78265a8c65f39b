"""A tiny grayscale model in the OpenMMLab shape (backbone, neck, head with ``loss``), small
enough for multi-process tests. Its data samples are the regression targets themselves."""
import torch
from mmengine.model import BaseModel
from torch import nn


class CountCalls(nn.Module):
    """Identity that counts its calls in a buffer: a state a forward pass changes."""

    def __init__(self):
        super().__init__()
        self.register_buffer('calls', torch.zeros((), dtype=torch.long))

    def forward(self, x):
        self.calls += 1
        return x


class RegressionHead(nn.Module):

    def __init__(self, in_channels: int):
        super().__init__()
        self.fc = nn.Linear(in_channels, 1)

    def forward(self, feat):
        return self.fc(feat).squeeze(1)

    def loss(self, feat, data_samples) -> dict:
        target = torch.stack([torch.as_tensor(t, dtype=feat.dtype) for t in data_samples])
        return dict(loss=((self(feat) - target)**2).mean())


class TinyGrayNet(BaseModel):
    """1x28x28 inputs only: the neck flattens the 4x28x28 map into a Linear."""

    def __init__(self, with_neck: bool = True, batch_norm: bool = True):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4) if batch_norm else nn.Identity(),
            nn.ReLU(), CountCalls())
        if with_neck:
            self.neck = nn.Sequential(nn.Flatten(), nn.Linear(4 * 28 * 28, 6))
        self.head = RegressionHead(6 if with_neck else 4)

    def extract_feat(self, inputs):
        feat = self.backbone(inputs)
        return self.neck(feat) if hasattr(self, 'neck') else feat.mean(dim=(2, 3))

    def loss(self, inputs, data_samples) -> dict:
        return self.head.loss(self.extract_feat(inputs), data_samples)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        return self.head(self.extract_feat(inputs))
