"""The mini CIFAR-10 dataset: python pickles like the official ones, read by
:class:`mmlearnloss.datasets.MiniCIFAR10`."""
import io
import os
import os.path as osp
import pickle
import struct
from typing import List, Tuple

import numpy as np

from .common import DIFFICULTY_FILE, fresh_dir, lerp, noisy, sample_rng, write_json

CIFAR10_CLASSES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse',
                   'ship', 'truck')
# Patterns that a horizontal flip (mmpretrain's CIFAR pipeline) maps to the same class.
CIFAR10_PATTERNS = ('hstripes', 'vstripes', 'dstripes', 'dots', 'disc', 'square', 'checker',
                    'ring', 'triangle', 'cross')
CIFAR10_COLOURS = ((70, 110, 230), (225, 50, 50), (60, 190, 70), (230, 210, 50), (240, 140, 30),
                   (150, 60, 200), (40, 200, 170), (150, 90, 40), (60, 210, 240), (200, 200, 200))
CIFAR_TRAIN_BATCHES = 5


def _cifar_mask(pattern: str, rng: np.random.Generator, jitter: float) -> np.ndarray:
    """A 32x32 float mask in [0, 1] of one class pattern; ``jitter`` in [0, 1] moves it about."""
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    cx, cy = 15.5 + rng.uniform(-1, 1, 2) * (2 + 6 * jitter)
    size = rng.uniform(8, 12) * lerp(1.0, 0.7, jitter * rng.uniform())
    period = rng.uniform(6, 9)
    phase = rng.uniform(0, period)
    if pattern.endswith('stripes'):
        coord = {'hstripes': yy, 'vstripes': xx, 'dstripes': (xx + yy) / np.sqrt(2)}[pattern]
        return (((coord + phase) % period) < period / 2).astype(np.float32)
    dx, dy = xx - cx, yy - cy
    if pattern == 'disc':
        return (dx ** 2 + dy ** 2 <= size ** 2).astype(np.float32)
    if pattern == 'ring':
        r = np.sqrt(dx ** 2 + dy ** 2)
        return ((r <= size) & (r >= size * 0.55)).astype(np.float32)
    if pattern == 'square':
        return ((np.abs(dx) <= size * 0.85) & (np.abs(dy) <= size * 0.85)).astype(np.float32)
    if pattern == 'dots':
        cell = period * 0.8
        ddx = (xx + phase) % cell - cell / 2
        ddy = (yy + phase) % cell - cell / 2
        return (ddx ** 2 + ddy ** 2 <= (cell * 0.3) ** 2).astype(np.float32)
    if pattern == 'checker':
        return ((((xx + phase) // (period / 2)) + ((yy + phase) // (period / 2))) % 2
                ).astype(np.float32)
    if pattern == 'triangle':
        # Apex up: the half-width grows linearly from the top to the base.
        top, base = cy - size, cy + size
        half = (yy - top) / (2 * size) * size
        return ((yy >= top) & (yy <= base) & (np.abs(dx) <= half)).astype(np.float32)
    if pattern == 'cross':
        t = size * 0.3
        return (((np.abs(dx) <= t) & (np.abs(dy) <= size)) |
                ((np.abs(dy) <= t) & (np.abs(dx) <= size))).astype(np.float32)
    raise ValueError(f'unknown CIFAR pattern {pattern!r}')


def draw_cifar_image(label: int, rng: np.random.Generator) -> Tuple[np.ndarray, float]:
    """Draw one 32x32 RGB uint8 image of class ``label``; returns it and its difficulty."""
    difficulty = float(rng.uniform())
    bg = rng.uniform(40, 200, 3)
    # Hard images drift away from the class colour, so only the pattern tells the class.
    fg = np.asarray(CIFAR10_COLOURS[label], np.float32)
    fg = lerp(1.0, 0.4, difficulty) * fg + lerp(0.0, 0.6, difficulty) * rng.uniform(0, 255, 3)
    contrast = lerp(1.0, 0.5, difficulty)
    fg = bg + (fg - bg) * contrast
    m = _cifar_mask(CIFAR10_PATTERNS[label], rng, difficulty)[..., None]
    img = bg * (1 - m) + fg * m
    return noisy(img.astype(np.float32), lerp(4., 24., difficulty), rng), difficulty


class _Py2Pickler(pickle._Pickler):
    """Pickles ``bytes`` as Python 2 ``str``, as the official CIFAR files (written by Python 2) do.

    Such strings load as ``bytes`` with ``encoding='bytes'`` (the CIFAR website's reader: keys
    ``b'data'``, ``b'labels'``) and as ``str`` with ``encoding='latin1'`` (mmpretrain, torchvision:
    keys ``'data'``, ``'labels'``). Python 3's own protocol 2 would give ``bytes`` keys in both.
    """
    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + struct.pack('<B', len(obj)) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack('<i', len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def _dump_py2(obj, path: str) -> None:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    with open(path, 'wb') as f:
        f.write(buf.getvalue())


def cifar_labels(seed: int, split: str, n: int) -> List[int]:
    """The labels of a CIFAR split: balanced classes in a seeded order."""
    return sample_rng(seed, ('cifar', split)).permutation(np.arange(n) % 10).tolist()


def _cifar_split(seed: int, split: str, n: int) -> Tuple[np.ndarray, List[int], List[float]]:
    labels = cifar_labels(seed, split, n)
    data = np.empty((n, 3072), dtype=np.uint8)
    difficulty = []
    for index, label in enumerate(labels):
        img, diff = draw_cifar_image(label, sample_rng(seed, ('cifar', split), index))
        data[index] = img.transpose(2, 0, 1).reshape(-1)  # R plane, G plane, B plane
        difficulty.append(round(diff, 6))
    return data, labels, difficulty


def make_cifar10(root: str, n_train: int = 600, n_test: int = 200, seed: int = 0) -> str:
    """Write ``<root>/cifar10/cifar-10-batches-py`` in the official python-pickle format.

    ``data_batch_1..5`` split the training images evenly; ``test_batch`` holds the test images;
    ``batches.meta`` the class names. Each batch is a dict with ``data`` (uint8, N x 3072, rows
    of R, G, B planes of 32x32), ``labels``, ``filenames`` and ``batch_label``.

    Args:
        root (str): Output folder.
        n_train (int): Training images (over 5 batches).
        n_test (int): Test images.
        seed (int): Random seed.

    Returns:
        str: The ``cifar10`` folder, the ``data_root`` of mmpretrain's CIFAR-10 configs.
    """
    cifar_root = fresh_dir(osp.join(root, 'cifar10'))
    out = osp.join(cifar_root, 'cifar-10-batches-py')
    os.makedirs(out)
    difficulty = {}
    for split in ('train', 'test'):
        n = n_train if split == 'train' else n_test
        data, labels, difficulty[split] = _cifar_split(seed, split, n)
        names = [f'{CIFAR10_CLASSES[lb]}_s_{split}_{i:06d}.png'.encode()
                 for i, lb in enumerate(labels)]
        if split == 'train':
            chunks = np.array_split(np.arange(n), CIFAR_TRAIN_BATCHES)
            files = [f'data_batch_{k + 1}' for k in range(CIFAR_TRAIN_BATCHES)]
            titles = [f'training batch {k + 1} of {CIFAR_TRAIN_BATCHES}'
                      for k in range(CIFAR_TRAIN_BATCHES)]
        else:
            chunks, files, titles = [np.arange(n)], ['test_batch'], ['testing batch 1 of 1']
        for idx, file, title in zip(chunks, files, titles):
            _dump_py2({b'batch_label': title.encode(),
                       b'labels': [labels[i] for i in idx],
                       b'data': data[idx],
                       b'filenames': [names[i] for i in idx]}, osp.join(out, file))
    _dump_py2({b'num_cases_per_batch': -(-n_train // CIFAR_TRAIN_BATCHES),
               b'label_names': [c.encode() for c in CIFAR10_CLASSES],
               b'num_vis': 3072}, osp.join(out, 'batches.meta'))
    write_json(osp.join(cifar_root, DIFFICULTY_FILE), difficulty)
    return cifar_root
