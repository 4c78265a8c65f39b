"""Generate mini PASCAL VOC, CIFAR-10 and MPII datasets in their real on-disk formats.

Nothing is downloaded. Each image is drawn from a per-image random generator seeded by
``(seed, dataset, split, index)``, so a run is reproducible byte for byte and an image does not
change when the number of images changes. Every image has a difficulty in [0, 1] that sets its
noise, contrast, object size, clutter and occlusion: a small model learns the easy ones in
minutes on a CPU and a loss predictor has a real ranking to find. The difficulties are written
next to the data (``difficulty.json``); the frameworks ignore that file.

Layouts (the frameworks' dataset classes load them unchanged):

* ``<out>/VOCdevkit/VOC{2007,2012}/{JPEGImages,Annotations,ImageSets/Main}``: mmdet ``VOCDataset``.
* ``<out>/cifar10/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}``: Python 2 pickles
  like the official ones. mmpretrain's ``CIFAR10`` checks the official md5 sums, so load them
  with ``mmlearnloss.datasets.MiniCIFAR10``.
* ``<out>/mpii/{images,annotations}``: mmpose ``MpiiDataset`` with ``mpii_gt_val.mat`` head boxes.

Usage::

    python tools/make_mini_datasets.py [--out data/mini] [--tasks voc cifar mpii] [--seed 0]
"""
import argparse
import io
import json
import os
import os.path as osp
import pickle
import shutil
import struct
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

# Written into every generated dataset folder; a folder without it is never deleted.
MARKER = '.mini_dataset'
DIFFICULTY_FILE = 'difficulty.json'
JPEG_QUALITY = 95

VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair',
               'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant',
               'sheep', 'sofa', 'train', 'tvmonitor')
# The VOC classes that are drawn: one shape and one colour each.
VOC_SHAPES = {
    'car': ('square', (220, 40, 40)),
    'cat': ('disc', (40, 190, 60)),
    'bird': ('triangle', (40, 80, 230)),
    'person': ('cross', (235, 215, 40)),
    'tvmonitor': ('frame', (200, 60, 200)),
}
VOC_MIN_BOX = 36  # mmdet's VOC configs drop boxes under 32 px (filter_cfg bbox_min_size=32)

CIFAR10_CLASSES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse',
                   'ship', 'truck')
# Patterns that a horizontal flip (mmpretrain's CIFAR pipeline) maps to the same class.
CIFAR10_PATTERNS = ('hstripes', 'vstripes', 'dstripes', 'dots', 'disc', 'square', 'checker',
                    'ring', 'triangle', 'cross')
CIFAR10_COLOURS = ((70, 110, 230), (225, 50, 50), (60, 190, 70), (230, 210, 50), (240, 140, 30),
                   (150, 60, 200), (40, 200, 170), (150, 90, 40), (60, 210, 240), (200, 200, 200))
CIFAR_TRAIN_BATCHES = 5

MPII_JOINTS = ('rank', 'rkne', 'rhip', 'lhip', 'lkne', 'lank', 'pelv', 'thor', 'neck', 'head',
               'rwri', 'relb', 'rsho', 'lsho', 'lelb', 'lwri')
# Limbs as (joint, joint, part). The part picks the colour, so an elbow can be told from a wrist;
# left and right look alike, as for real people, so mmpose's horizontal flip (which swaps the
# left and right labels) stays consistent: the side shows by position, the figures face us.
MPII_LIMBS = ((0, 1, 'shin'), (1, 2, 'thigh'), (2, 6, 'torso'), (6, 3, 'torso'), (3, 4, 'thigh'),
              (4, 5, 'shin'), (6, 7, 'torso'), (7, 8, 'torso'), (12, 7, 'torso'),
              (11, 12, 'upper_arm'), (10, 11, 'forearm'), (7, 13, 'torso'),
              (13, 14, 'upper_arm'), (14, 15, 'forearm'))
MPII_COLOURS = {'torso': (60, 200, 80), 'upper_arm': (235, 140, 40), 'forearm': (230, 50, 60),
                'thigh': (60, 110, 235), 'shin': (40, 210, 220), 'head': (240, 220, 60)}
MPII_IMAGE_SIZE = 192
MPII_PIXEL_STD = 200.  # MPII scales are person heights divided by 200

# Seed-sequence entropy of each (dataset, split): images of different splits never share noise.
_STREAMS = {('voc', 'VOC2007', 'trainval'): 1, ('voc', 'VOC2007', 'test'): 2,
            ('voc', 'VOC2012', 'trainval'): 3, ('cifar', 'train'): 4, ('cifar', 'test'): 5,
            ('mpii', 'train'): 6, ('mpii', 'val'): 7}


def sample_rng(seed: int, stream: tuple, index: int = -1) -> np.random.Generator:
    """Random generator of one image (``index >= 0``) or of one whole split (``index=-1``).

    ``stream`` names the split, e.g. ``('voc', 'VOC2007', 'trainval')``, ``('cifar', 'test')``,
    ``('mpii', 'val')``. ``draw_*_image(sample_rng(seed, stream, i))`` redraws image ``i``.
    """
    return np.random.default_rng([seed, _STREAMS[stream], index + 1])


def _fresh_dir(path: str) -> str:
    """Empty ``path`` for regeneration, refusing to delete a folder this tool did not write."""
    if osp.isdir(path) and os.listdir(path):
        if not osp.isfile(osp.join(path, MARKER)):
            raise FileExistsError(
                f'{path} exists and was not written by make_mini_datasets.py (no {MARKER} '
                'file): refusing to overwrite it. Pick another --out folder.')
        shutil.rmtree(path)
    os.makedirs(path, exist_ok=True)
    with open(osp.join(path, MARKER), 'w') as f:
        f.write('Generated by tools/make_mini_datasets.py; safe to delete.\n')
    return path


def _write_json(path: str, obj) -> None:
    with open(path, 'w') as f:
        json.dump(obj, f, indent=1)
        f.write('\n')


def _save_jpeg(img: np.ndarray, path: str) -> None:
    Image.fromarray(img).save(path, format='JPEG', quality=JPEG_QUALITY)


def _noisy(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Add Gaussian pixel noise and round back to uint8."""
    out = img.astype(np.float32) + rng.normal(0., sigma, img.shape).astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _background(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A muted two-colour linear gradient, float32 HWC."""
    c0, c1 = rng.uniform(60, 170, (2, 3))
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (np.cos(angle) * xx / w + np.sin(angle) * yy / h + 1.) / 2.
    return (c0 * (1 - t[..., None]) + c1 * t[..., None]).astype(np.float32)


def _paint(img: np.ndarray, mask: Image.Image, colour) -> None:
    """Paint ``colour`` into the float image wherever the PIL 'L' mask is set."""
    m = np.asarray(mask, dtype=np.float32)[..., None] / 255.
    img *= 1. - m
    img += m * np.asarray(colour, dtype=np.float32)


def _lerp(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


# --------------------------------------------------------------------------------------------
# PASCAL VOC
# --------------------------------------------------------------------------------------------
def _draw_voc_shape(draw: ImageDraw.ImageDraw, shape: str, box: Sequence[int]) -> None:
    """Draw a filled shape whose extent is exactly the inclusive pixel box ``x0, y0, x1, y1``."""
    x0, y0, x1, y1 = box
    s = x1 - x0
    if shape == 'square':
        draw.rectangle(box, fill=255)
    elif shape == 'disc':
        draw.ellipse(box, fill=255)
    elif shape == 'triangle':
        draw.polygon([(x0, y1), (x1, y1), ((x0 + x1) / 2, y0)], fill=255)
    elif shape == 'cross':
        t = max(s // 6, 4)
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        draw.rectangle((cx - t, y0, cx + t, y1), fill=255)
        draw.rectangle((x0, cy - t, x1, cy + t), fill=255)
    elif shape == 'frame':
        t = max(s // 6, 4)
        draw.rectangle(box, fill=255)
        draw.rectangle((x0 + t, y0 + t, x1 - t, y1 - t), fill=0)
    else:
        raise ValueError(f'unknown VOC shape {shape!r}')


def _overlaps(box, boxes, margin: int = 4) -> bool:
    return any(box[0] <= b[2] + margin and b[0] <= box[2] + margin and
               box[1] <= b[3] + margin and b[1] <= box[3] + margin for b in boxes)


def draw_voc_image(rng: np.random.Generator) -> Tuple[np.ndarray, List[dict], float]:
    """Draw one VOC image.

    Returns:
        tuple: the uint8 HWC RGB image, its objects as dicts with ``name`` and the 0-based
        inclusive pixel box ``bbox=[x0, y0, x1, y1]`` (what mmdet returns after reading the
        1-based VOC XML), and the image's difficulty.
    """
    difficulty = float(rng.uniform())
    w, h = (int(v) for v in rng.integers(160, 201, size=2))
    img = _background(h, w, rng)
    bg_mean = img.mean(axis=(0, 1))
    names = list(VOC_SHAPES)

    # Distractors: thin lines in random colours; more of them on hard images.
    n_lines = int(rng.integers(0, 2 + int(10 * difficulty)))
    for _ in range(n_lines):
        pts = rng.uniform(0, [w, h, w, h])
        layer = Image.new('L', (w, h), 0)
        ImageDraw.Draw(layer).line(tuple(pts), fill=255, width=int(rng.integers(1, 4)))
        _paint(img, layer, rng.uniform(0, 255, 3))

    # More and smaller objects on hard images.
    n_objects = (1 + int(rng.uniform() < 0.25 + 0.5 * difficulty)
                 + int(rng.uniform() < 0.3 * difficulty))
    max_side = int(_lerp(110, 60, difficulty))
    objects, boxes = [], []
    for _ in range(n_objects):
        name = names[int(rng.integers(len(names)))]
        for _attempt in range(30):
            side = int(rng.integers(VOC_MIN_BOX, max(max_side, VOC_MIN_BOX + 1) + 1))
            side = min(side, w - 2, h - 2)
            x0 = int(rng.integers(0, w - side))
            y0 = int(rng.integers(0, h - side))
            box = (x0, y0, x0 + side - 1, y0 + side - 1)
            if not _overlaps(box, boxes):
                break
        else:
            continue
        shape, colour = VOC_SHAPES[name]
        # Low contrast on hard images: the class colour fades towards the background.
        contrast = _lerp(1.0, 0.45, difficulty)
        colour = bg_mean + (np.asarray(colour, np.float32) - bg_mean) * contrast
        colour = colour + rng.normal(0, 10 + 30 * difficulty, 3)
        mask = Image.new('L', (w, h), 0)
        _draw_voc_shape(ImageDraw.Draw(mask), shape, box)
        _paint(img, mask, colour)
        boxes.append(box)
        objects.append({'name': name, 'bbox': list(box)})

    # Partial occlusion: a bar across one object's middle, so its visible extent (the box) holds.
    if objects and rng.uniform() < difficulty:
        x0, y0, x1, y1 = boxes[int(rng.integers(len(boxes)))]
        thick = max(2, int((x1 - x0) * rng.uniform(0.15, 0.4)))
        bar = Image.new('L', (w, h), 0)
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        if rng.uniform() < 0.5:
            ImageDraw.Draw(bar).rectangle((x0 - 6, cy - thick // 2, x1 + 6, cy + thick // 2),
                                          fill=255)
        else:
            ImageDraw.Draw(bar).rectangle((cx - thick // 2, y0 - 6, cx + thick // 2, y1 + 6),
                                          fill=255)
        _paint(img, bar, rng.uniform(40, 200, 3))

    img = _noisy(img, _lerp(3., 35., difficulty), rng)
    return img, objects, difficulty


def voc_xml(folder: str, img_id: str, width: int, height: int, objects: List[dict],
            source: Optional[Dict[str, str]] = None) -> bytes:
    """A PASCAL VOC annotation XML (tab-indented, UTF-8) of one RGB image ``<img_id>.jpg``.

    Args:
        folder (str): The ``<folder>`` text, the year folder (``'VOC2007'``).
        img_id (str): The image id; ``<filename>`` is ``<img_id>.jpg``.
        width (int): Image width in pixels.
        height (int): Image height in pixels.
        objects (list[dict]): ``name`` and ``bbox=[x0, y0, x1, y1]``, the 0-based inclusive pixel
            box. It is written 1-based (each value + 1), as in the real VOC files; mmdet's
            ``XMLDataset`` subtracts 1 from all four, so it loads ``bbox`` back unchanged.
        source (dict, optional): Texts of the ``<source>`` element's children, in order.
    """
    ann = ET.Element('annotation')
    ET.SubElement(ann, 'folder').text = folder
    ET.SubElement(ann, 'filename').text = f'{img_id}.jpg'
    if source is not None:
        node = ET.SubElement(ann, 'source')
        for key, text in source.items():
            ET.SubElement(node, key).text = text
    size = ET.SubElement(ann, 'size')
    ET.SubElement(size, 'width').text = str(width)
    ET.SubElement(size, 'height').text = str(height)
    ET.SubElement(size, 'depth').text = '3'
    ET.SubElement(ann, 'segmented').text = '0'
    for obj in objects:
        node = ET.SubElement(ann, 'object')
        ET.SubElement(node, 'name').text = obj['name']
        ET.SubElement(node, 'pose').text = 'Unspecified'
        ET.SubElement(node, 'truncated').text = '0'
        ET.SubElement(node, 'difficult').text = '0'
        bndbox = ET.SubElement(node, 'bndbox')
        for key, value in zip(('xmin', 'ymin', 'xmax', 'ymax'), obj['bbox']):
            ET.SubElement(bndbox, key).text = str(value + 1)
    ET.indent(ann, space='\t')
    return ET.tostring(ann, encoding='utf-8') + b'\n'


def _voc_split(voc_root: str, year: str, split: str, ids: List[str], seed: int,
               difficulty: Dict[str, float]) -> None:
    root = osp.join(voc_root, year)
    for sub in ('JPEGImages', 'Annotations', osp.join('ImageSets', 'Main')):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    for index, img_id in enumerate(ids):
        img, objects, diff = draw_voc_image(sample_rng(seed, ('voc', year, split), index))
        _save_jpeg(img, osp.join(root, 'JPEGImages', f'{img_id}.jpg'))
        with open(osp.join(root, 'Annotations', f'{img_id}.xml'), 'wb') as f:
            f.write(voc_xml(year, img_id, img.shape[1], img.shape[0], objects, source={
                'database': f'The {year} Database (mini, synthetic)',
                'annotation': 'PASCAL VOC (mini, synthetic)',
                'image': 'tools/make_mini_datasets.py'}))
        difficulty[f'{year}/{img_id}'] = round(diff, 6)
    with open(osp.join(root, 'ImageSets', 'Main', f'{split}.txt'), 'w') as f:
        f.write(''.join(f'{i}\n' for i in ids))


def make_voc(root: str, n07: int = 40, n12: int = 40, n_test: int = 24, seed: int = 0) -> str:
    """Write ``<root>/VOCdevkit`` with VOC2007 trainval/test and VOC2012 trainval.

    Image ids follow VOC's patterns: ``000001`` (2007; test ids continue after trainval) and
    ``2012_000001`` (2012).

    Args:
        root (str): Output folder.
        n07 (int): Images in VOC2007 trainval.
        n12 (int): Images in VOC2012 trainval.
        n_test (int): Images in VOC2007 test.
        seed (int): Random seed.

    Returns:
        str: The ``VOCdevkit`` folder, the ``data_root`` of mmdet's VOC configs.
    """
    voc_root = _fresh_dir(osp.join(root, 'VOCdevkit'))
    difficulty: Dict[str, float] = {}
    ids07 = [f'{i:06d}' for i in range(1, n07 + n_test + 1)]
    _voc_split(voc_root, 'VOC2007', 'trainval', ids07[:n07], seed, difficulty)
    _voc_split(voc_root, 'VOC2007', 'test', ids07[n07:], seed, difficulty)
    _voc_split(voc_root, 'VOC2012', 'trainval', [f'2012_{i:06d}' for i in range(1, n12 + 1)],
               seed, difficulty)
    _write_json(osp.join(voc_root, DIFFICULTY_FILE), difficulty)
    return voc_root


# --------------------------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------------------------
def _cifar_mask(pattern: str, rng: np.random.Generator, jitter: float) -> np.ndarray:
    """A 32x32 float mask in [0, 1] of one class pattern; ``jitter`` in [0, 1] moves it about."""
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    cx, cy = 15.5 + rng.uniform(-1, 1, 2) * (2 + 6 * jitter)
    size = rng.uniform(8, 12) * _lerp(1.0, 0.7, jitter * rng.uniform())
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
    fg = _lerp(1.0, 0.4, difficulty) * fg + _lerp(0.0, 0.6, difficulty) * rng.uniform(0, 255, 3)
    contrast = _lerp(1.0, 0.5, difficulty)
    fg = bg + (fg - bg) * contrast
    m = _cifar_mask(CIFAR10_PATTERNS[label], rng, difficulty)[..., None]
    img = bg * (1 - m) + fg * m
    return _noisy(img.astype(np.float32), _lerp(4., 24., difficulty), rng), difficulty


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
    cifar_root = _fresh_dir(osp.join(root, 'cifar10'))
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
    _write_json(osp.join(cifar_root, DIFFICULTY_FILE), difficulty)
    return cifar_root


# --------------------------------------------------------------------------------------------
# MPII
# --------------------------------------------------------------------------------------------
def _unit(angle: float) -> np.ndarray:
    """Unit vector at ``angle`` radians from straight down (image y grows downwards)."""
    return np.array([np.sin(angle), np.cos(angle)])


def _mpii_pose(rng: np.random.Generator, difficulty: float) -> Tuple[np.ndarray, float]:
    """Joints (16 x 2, float, body-centred) of a frontal stick figure and its body unit length.

    The person's right side is on the image's left, as for a person facing the camera.
    """
    u = 1.0
    j = np.zeros((16, 2))
    lean = rng.normal(0, 0.12 + 0.15 * difficulty)  # torso tilt from vertical
    up = -_unit(lean)  # from pelvis towards the head
    side = np.array([-up[1], up[0]])  # towards the person's left (image right)
    j[6] = (0, 0)
    j[7] = j[6] + 3.0 * u * up
    j[8] = j[7] + 0.6 * u * up
    j[9] = j[8] + 1.4 * u * -_unit(lean + rng.normal(0, 0.15))
    j[12] = j[7] - 1.0 * u * side
    j[13] = j[7] + 1.0 * u * side
    j[2] = j[6] - 0.6 * u * side
    j[3] = j[6] + 0.6 * u * side
    # Arms: the upper arm swings out from hanging down; the forearm bends further.
    for sho, elb, wri, sign in ((12, 11, 10, -1), (13, 14, 15, 1)):
        a1 = lean + sign * rng.uniform(0.1, 2.6)
        a2 = a1 + sign * rng.uniform(-0.5, 2.0)
        j[elb] = j[sho] + 1.5 * u * _unit(a1)
        j[wri] = j[elb] + 1.4 * u * _unit(a2)
    for hip, kne, ank, sign in ((2, 1, 0, -1), (3, 4, 5, 1)):
        a1 = lean + sign * rng.uniform(-0.1, 0.8)
        a2 = a1 + rng.uniform(-0.9, 0.9)
        j[kne] = j[hip] + 2.0 * u * _unit(a1)
        j[ank] = j[kne] + 2.0 * u * _unit(a2)
    return j, u


def draw_mpii_image(rng: np.random.Generator) -> Tuple[np.ndarray, dict]:
    """Draw one MPII image with one stick-figure person.

    Returns:
        tuple: the uint8 HWC image and the person: ``joints`` (16 x 2, 0-based pixel
        coordinates of the drawn joints), ``joints_vis`` (16 ones), ``center`` and ``scale``
        (MPII convention: 0-based centre of the person, height / 200), ``headbox``
        (``[[x1, y1], [x2, y2]]``, 0-based) and ``difficulty``.
    """
    difficulty = float(rng.uniform())
    size = MPII_IMAGE_SIZE
    img = _background(size, size, rng)
    bg_mean = img.mean(axis=(0, 1))

    # Distractor limbs: lines in the figure's own colours, more on hard images.
    for _ in range(int(rng.integers(0, 2 + int(8 * difficulty)))):
        layer = Image.new('L', (size, size), 0)
        pts = rng.uniform(0, size, 4)
        ImageDraw.Draw(layer).line(tuple(pts), fill=255, width=int(rng.integers(2, 6)))
        colour = list(MPII_COLOURS.values())[int(rng.integers(len(MPII_COLOURS)))]
        _paint(img, layer, bg_mean + (np.asarray(colour) - bg_mean) * rng.uniform(0.2, 0.8))

    joints, u = _mpii_pose(rng, difficulty)
    # Scale so the figure spans 55%..85% of the image, then place it fully inside.
    lo, hi = joints.min(0), joints.max(0)
    margin = 10
    extent = rng.uniform(0.55, 0.85) * (size - 2 * margin)
    k = extent / max(hi - lo)
    joints, u, lo, hi = joints * k, u * k, lo * k, hi * k
    offset = rng.uniform([margin, margin], size - margin - (hi - lo)) - lo
    joints = joints + offset

    thickness = max(1, int(round(_lerp(7., 2., difficulty) * rng.uniform(0.8, 1.2))))
    contrast = _lerp(1.0, 0.35, difficulty)
    head_c = (joints[8] + joints[9]) / 2
    head_r = np.linalg.norm(joints[9] - joints[8]) / 2
    for part in MPII_COLOURS:
        mask = Image.new('L', (size, size), 0)
        draw = ImageDraw.Draw(mask)
        if part == 'head':
            draw.ellipse((*(head_c - head_r * 0.8), *(head_c + head_r * 0.8)), fill=255)
        for a, b, limb_part in MPII_LIMBS:
            if limb_part == part:
                draw.line((*joints[a], *joints[b]), fill=255, width=thickness)
        colour = bg_mean + (np.asarray(MPII_COLOURS[part], np.float32) - bg_mean) * contrast
        _paint(img, mask, colour)
    # Joint dots, so a joint is a visible point and not only the end of a line.
    dots = Image.new('L', (size, size), 0)
    r = thickness * 0.6 + 1
    for x, y in joints:
        ImageDraw.Draw(dots).ellipse((x - r, y - r, x + r, y + r), fill=255)
    _paint(img, dots, bg_mean + (np.array([250., 250., 250.]) - bg_mean) * contrast)

    # Occlusion: a patch over part of the figure on some hard images (joints stay labelled,
    # as MPII labels occluded joints).
    if rng.uniform() < difficulty * 0.8:
        cx, cy = joints[int(rng.integers(16))]
        half = rng.uniform(0.6, 1.3) * u
        patch = Image.new('L', (size, size), 0)
        ImageDraw.Draw(patch).rectangle((cx - half, cy - half, cx + half, cy + half), fill=255)
        _paint(img, patch, rng.uniform(50, 200, 3))

    img = _noisy(img, _lerp(3., 40., difficulty), rng)
    lo, hi = joints.min(0), joints.max(0)
    person = {
        'joints': joints,
        'joints_vis': [1] * 16,
        'center': (lo + hi) / 2,
        'scale': float(max(hi - lo) / MPII_PIXEL_STD),
        'headbox': np.stack([head_c - head_r, head_c + head_r]),
        'difficulty': difficulty,
    }
    return img, person


def _mpii_split(mpii_root: str, split: str, n: int, seed: int, first_id: int):
    anns, people = [], []
    for index in range(n):
        img, person = draw_mpii_image(sample_rng(seed, ('mpii', split), index))
        image = f'{first_id + index:09d}.jpg'
        _save_jpeg(img, osp.join(mpii_root, 'images', image))
        # MPII annotations are MATLAB-style 1-based pixel coordinates.
        anns.append({
            'joints_vis': person['joints_vis'],
            'joints': [[round(float(x) + 1, 3), round(float(y) + 1, 3)]
                       for x, y in person['joints']],
            'image': image,
            'scale': round(person['scale'], 6),
            'center': [round(float(c) + 1, 3) for c in person['center']],
        })
        people.append(person)
    _write_json(osp.join(mpii_root, 'annotations', f'mpii_{split}.json'), anns)
    return anns, people


def _write_mpii_gt_mat(path: str, anns: List[dict], people: List[dict]) -> None:
    """Write ``mpii_gt_val.mat`` with the fields of the official file (1-based coordinates).

    mmpose reads ``headboxes_src`` (2 x 2 x N: the head box corners of each sample, in the order
    of ``mpii_val.json``) to get each person's head size for PCKh.
    """
    from scipy.io import savemat
    n = len(anns)
    dataset_joints = np.empty((1, 16), dtype=object)
    for i, name in enumerate(MPII_JOINTS):
        dataset_joints[0, i] = np.array([name])
    pos_gt = np.array([a['joints'] for a in anns], dtype=np.float64).reshape(n, 16, 2)
    headboxes = np.stack([p['headbox'] + 1 for p in people]) if n else np.zeros((0, 2, 2))
    jnt_missing = 1 - np.array([a['joints_vis'] for a in anns], dtype=np.uint8).reshape(n, 16)
    buf = io.BytesIO()
    savemat(buf, {
        'dataset_joints': dataset_joints,
        'jnt_missing': jnt_missing.T,  # 16 x N
        'pos_pred_src': np.zeros((16, 2, n)),
        'pos_gt_src': pos_gt.transpose(1, 2, 0),  # 16 x 2 x N
        'headboxes_src': headboxes.transpose(1, 2, 0).astype(np.float64),  # 2 x 2 x N
    })
    data = bytearray(buf.getvalue())
    # The 116-byte text header holds the creation time: fix it, so reruns give the same bytes.
    data[:116] = b'MATLAB 5.0 MAT-file, written by tools/make_mini_datasets.py'.ljust(116)
    with open(path, 'wb') as f:
        f.write(data)


def make_mpii(root: str, n_train: int = 80, n_val: int = 24, seed: int = 0) -> str:
    """Write ``<root>/mpii`` with images, mmpose's MPII json annotations and head boxes.

    One person per image, ``192x192`` images named like MPII's (9 digits). Files:
    ``images/*.jpg``, ``annotations/mpii_train.json``, ``annotations/mpii_val.json`` and
    ``annotations/mpii_gt_val.mat`` (head boxes of the val samples, for PCKh).

    Args:
        root (str): Output folder.
        n_train (int): Training persons (= images).
        n_val (int): Validation persons (= images).
        seed (int): Random seed.

    Returns:
        str: The ``mpii`` folder, the ``data_root`` of mmpose's MPII configs.
    """
    mpii_root = _fresh_dir(osp.join(root, 'mpii'))
    os.makedirs(osp.join(mpii_root, 'images'))
    os.makedirs(osp.join(mpii_root, 'annotations'))
    _, train = _mpii_split(mpii_root, 'train', n_train, seed, first_id=10_000_001)
    val_anns, val = _mpii_split(mpii_root, 'val', n_val, seed, first_id=20_000_001)
    _write_mpii_gt_mat(osp.join(mpii_root, 'annotations', 'mpii_gt_val.mat'), val_anns, val)
    _write_json(osp.join(mpii_root, DIFFICULTY_FILE),
                {'train': [round(p['difficulty'], 6) for p in train],
                 'val': [round(p['difficulty'], 6) for p in val]})
    return mpii_root


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
TASKS = {'voc': make_voc, 'cifar': make_cifar10, 'mpii': make_mpii}


def _count_files(folder: str) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default='data/mini', help='output folder')
    parser.add_argument('--tasks', nargs='+', choices=list(TASKS), default=list(TASKS),
                        help='datasets to generate')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--voc-sizes', type=int, nargs=3, metavar=('N07', 'N12', 'NTEST'),
                        default=(40, 40, 24), help='VOC2007 trainval, VOC2012 trainval, '
                        'VOC2007 test images')
    parser.add_argument('--cifar-sizes', type=int, nargs=2, metavar=('NTRAIN', 'NTEST'),
                        default=(600, 200), help='CIFAR-10 train and test images')
    parser.add_argument('--mpii-sizes', type=int, nargs=2, metavar=('NTRAIN', 'NVAL'),
                        default=(80, 24), help='MPII train and val persons')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    sizes = {'voc': args.voc_sizes, 'cifar': args.cifar_sizes, 'mpii': args.mpii_sizes}
    for task in args.tasks:
        folder = TASKS[task](args.out, *sizes[task], seed=args.seed)
        print(f'{task}: wrote {_count_files(folder)} files to {folder} '
              f'(sizes {" ".join(map(str, sizes[task]))}, seed {args.seed})')


if __name__ == '__main__':
    main()
