import os
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tools'))
torch.set_num_threads(2)


def config_path(name: str) -> str:
    return os.path.join(ROOT, 'configs', name)


def build_model(config_name: str, scope: str):
    """Build the ``model`` of one of the repo's configs under the framework's default scope,
    without pretrained weights (no downloads here)."""
    cfg = Config.fromfile(config_path(config_name))
    cfg.model.architecture.backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
