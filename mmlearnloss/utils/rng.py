"""Random streams forked for a block: seeded inside it, as they were after it."""
import random
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch

__all__ = ['seeded_rng']


@contextmanager
def seeded_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Run the block with every RNG seeded to ``seed`` and restore the global streams after.

    Random samplers (RPN/RoI ``RandomSampler``, DINO's denoising noise, dropout) then make a
    replayed loss a function of its sample alone (``models/per_sample``), a sample's augmentation
    a function of its seed (``active/seeding.py``), and training's own random stream is untouched.
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
