"""The mini MPII dataset: images, mmpose's json annotations and the head boxes of PCKh, read by
mmpose's ``MpiiDataset``."""
import io
import os
import os.path as osp
from typing import List, Tuple

import numpy as np
from PIL import Image, ImageDraw

from .common import (DIFFICULTY_FILE, background, fresh_dir, lerp, noisy, paint, sample_rng,
                     save_jpeg, write_json)

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
    img = background(size, size, rng)
    bg_mean = img.mean(axis=(0, 1))

    # Distractor limbs: lines in the figure's own colours, more on hard images.
    for _ in range(int(rng.integers(0, 2 + int(8 * difficulty)))):
        layer = Image.new('L', (size, size), 0)
        pts = rng.uniform(0, size, 4)
        ImageDraw.Draw(layer).line(tuple(pts), fill=255, width=int(rng.integers(2, 6)))
        colour = list(MPII_COLOURS.values())[int(rng.integers(len(MPII_COLOURS)))]
        paint(img, layer, bg_mean + (np.asarray(colour) - bg_mean) * rng.uniform(0.2, 0.8))

    joints, u = _mpii_pose(rng, difficulty)
    # Scale so the figure spans 55%..85% of the image, then place it fully inside.
    lo, hi = joints.min(0), joints.max(0)
    margin = 10
    extent = rng.uniform(0.55, 0.85) * (size - 2 * margin)
    k = extent / max(hi - lo)
    joints, u, lo, hi = joints * k, u * k, lo * k, hi * k
    offset = rng.uniform([margin, margin], size - margin - (hi - lo)) - lo
    joints = joints + offset

    thickness = max(1, int(round(lerp(7., 2., difficulty) * rng.uniform(0.8, 1.2))))
    contrast = lerp(1.0, 0.35, difficulty)
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
        paint(img, mask, colour)
    # Joint dots, so a joint is a visible point and not only the end of a line.
    dots = Image.new('L', (size, size), 0)
    r = thickness * 0.6 + 1
    for x, y in joints:
        ImageDraw.Draw(dots).ellipse((x - r, y - r, x + r, y + r), fill=255)
    paint(img, dots, bg_mean + (np.array([250., 250., 250.]) - bg_mean) * contrast)

    # Occlusion: a patch over part of the figure on some hard images (joints stay labelled,
    # as MPII labels occluded joints).
    if rng.uniform() < difficulty * 0.8:
        cx, cy = joints[int(rng.integers(16))]
        half = rng.uniform(0.6, 1.3) * u
        patch = Image.new('L', (size, size), 0)
        ImageDraw.Draw(patch).rectangle((cx - half, cy - half, cx + half, cy + half), fill=255)
        paint(img, patch, rng.uniform(50, 200, 3))

    img = noisy(img, lerp(3., 40., difficulty), rng)
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
        save_jpeg(img, osp.join(mpii_root, 'images', image))
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
    write_json(osp.join(mpii_root, 'annotations', f'mpii_{split}.json'), anns)
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
    mpii_root = fresh_dir(osp.join(root, 'mpii'))
    os.makedirs(osp.join(mpii_root, 'images'))
    os.makedirs(osp.join(mpii_root, 'annotations'))
    _, train = _mpii_split(mpii_root, 'train', n_train, seed, first_id=10_000_001)
    val_anns, val = _mpii_split(mpii_root, 'val', n_val, seed, first_id=20_000_001)
    _write_mpii_gt_mat(osp.join(mpii_root, 'annotations', 'mpii_gt_val.mat'), val_anns, val)
    write_json(osp.join(mpii_root, DIFFICULTY_FILE),
               {'train': [round(p['difficulty'], 6) for p in train],
                'val': [round(p['difficulty'], 6) for p in val]})
    return mpii_root
