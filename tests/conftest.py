import hashlib
import os
import socket
import subprocess
import sys
from contextlib import contextmanager

# Idle OpenMP threads sleep instead of spinning: on a busy 2-core machine spinning threads made
# the zoo test 4x slower. Set before torch loads libgomp; subprocesses inherit it.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
# `make test` runs two pytest-xdist workers on the two cores: one thread each, and the runs a
# test starts (al_train.py subprocesses) inherit one thread too, instead of four competing.
XDIST_WORKER = 'PYTEST_XDIST_WORKER' in os.environ
if XDIST_WORKER:
    os.environ.setdefault('OMP_NUM_THREADS', '1')

import pytest  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.registry import MODELS, DefaultScope  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tools'))
torch.set_num_threads(1 if XDIST_WORKER else 2)


@contextmanager
def running_alongside(cmd, cwd, log_path, timeout=900):
    """Run ``cmd`` (a run the block's own does not depend on) while the block runs, its output
    in ``log_path``; wait for it after the block, kill it if the block fails. Yields the
    process: its ``returncode`` is set after the block."""
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=dict(os.environ, PYTHONPATH=ROOT), stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        yield proc
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def free_port() -> int:
    """A TCP port nobody listens on now, for a process group's master."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


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


def tree_digest(folder) -> dict:
    """{relative path: sha256 of the bytes} of every file under ``folder``."""
    digests = {}
    for base, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(base, name)
            with open(path, 'rb') as f:
                digests[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return digests


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
