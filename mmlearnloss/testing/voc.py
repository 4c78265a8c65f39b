"""The mini PASCAL VOC dataset: VOC2007 trainval/test and VOC2012 trainval, read by mmdet's
``VOCDataset``."""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

from mmlearnloss.annotation.formats.voc import voc_annotation_xml
from .common import (DIFFICULTY_FILE, background, fresh_dir, lerp, noisy, paint, sample_rng,
                     save_jpeg, write_json)

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
    img = background(h, w, rng)
    bg_mean = img.mean(axis=(0, 1))
    names = list(VOC_SHAPES)

    # Distractors: thin lines in random colours; more of them on hard images.
    n_lines = int(rng.integers(0, 2 + int(10 * difficulty)))
    for _ in range(n_lines):
        pts = rng.uniform(0, [w, h, w, h])
        layer = Image.new('L', (w, h), 0)
        ImageDraw.Draw(layer).line(tuple(pts), fill=255, width=int(rng.integers(1, 4)))
        paint(img, layer, rng.uniform(0, 255, 3))

    # More and smaller objects on hard images.
    n_objects = (1 + int(rng.uniform() < 0.25 + 0.5 * difficulty)
                 + int(rng.uniform() < 0.3 * difficulty))
    max_side = int(lerp(110, 60, difficulty))
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
        contrast = lerp(1.0, 0.45, difficulty)
        colour = bg_mean + (np.asarray(colour, np.float32) - bg_mean) * contrast
        colour = colour + rng.normal(0, 10 + 30 * difficulty, 3)
        mask = Image.new('L', (w, h), 0)
        _draw_voc_shape(ImageDraw.Draw(mask), shape, box)
        paint(img, mask, colour)
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
        paint(img, bar, rng.uniform(40, 200, 3))

    img = noisy(img, lerp(3., 35., difficulty), rng)
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
    objects = [dict(obj, bbox=[value + 1 for value in obj['bbox']]) for obj in objects]
    return voc_annotation_xml(folder, img_id, width, height, objects, source).encode('utf-8')


def _voc_split(voc_root: str, year: str, split: str, ids: List[str], seed: int,
               difficulty: Dict[str, float]) -> None:
    root = osp.join(voc_root, year)
    for sub in ('JPEGImages', 'Annotations', osp.join('ImageSets', 'Main')):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    for index, img_id in enumerate(ids):
        img, objects, diff = draw_voc_image(sample_rng(seed, ('voc', year, split), index))
        save_jpeg(img, osp.join(root, 'JPEGImages', f'{img_id}.jpg'))
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
    voc_root = fresh_dir(osp.join(root, 'VOCdevkit'))
    difficulty: Dict[str, float] = {}
    ids07 = [f'{i:06d}' for i in range(1, n07 + n_test + 1)]
    _voc_split(voc_root, 'VOC2007', 'trainval', ids07[:n07], seed, difficulty)
    _voc_split(voc_root, 'VOC2007', 'test', ids07[n07:], seed, difficulty)
    _voc_split(voc_root, 'VOC2012', 'trainval', [f'2012_{i:06d}' for i in range(1, n12 + 1)],
               seed, difficulty)
    write_json(osp.join(voc_root, DIFFICULTY_FILE), difficulty)
    return voc_root
