"""How much of the annotators' work a query's pre-annotations already do (detection, VOC).

Usage:
    python tools/analysis/pre_annotation_quality.py QUERY_DIR --config CONFIG [--iou 0.5]
        [--out FILE.json] [--cfg-options KEY=VALUE ...]

QUERY_DIR is a query folder with ``label_studio_tasks.json`` (``tools/al_select.py --format
label-studio``, or a run with the Label Studio oracle). Each task's pre-annotation is read back
exactly as Label Studio would return it if the annotator submitted it unchanged (the format's own
converter, the XML integers it would write) and compared with the image's VOC XML, which must
hold the true boxes (use a pool with ground truth, e.g. ``--pool .../ImageSets/Main/test.txt`` of
al_select). A pre-annotated box is right when it has the class of a true box and IoU >= ``--iou``
with it (each true box matched once, most confident boxes first).

Printed: precision and recall of the pre-annotated boxes, the images the annotator only has to
submit (every box right, none missing or extra), and the corrections left (wrong boxes to delete
or fix, missed ones to draw) against drawing every box from scratch.
"""
import argparse
import json
import os.path as osp
import sys
import xml.etree.ElementTree as ET
from typing import Dict, List, Sequence

from mmengine.config import Config, DictAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Compare the pre-annotated boxes of a Label Studio query with the true boxes.')
    parser.add_argument('query_dir', help='query folder holding label_studio_tasks.json')
    parser.add_argument('--config', required=True,
                        help='the config whose training set names the VOC folders')
    parser.add_argument('--iou', type=float, default=0.5,
                        help='IoU from which a box of the right class counts as right (0.5)')
    parser.add_argument('--score-threshold', type=float, default=0., metavar='T',
                        help='count only the pre-annotated boxes of confidence >= T, as if the '
                        'tasks had been written with al_select\'s --score-threshold T (default: '
                        'all the tasks hold)')
    parser.add_argument('--out', metavar='FILE', help='also write the figures as json')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. data_root=...')
    args = parser.parse_args(argv)
    if not 0 < args.iou <= 1:
        parser.error(f'--iou must be in (0, 1], got {args.iou}')
    return args


def voc_objects(path: str) -> List[dict]:
    """The boxes of a VOC XML: ``name`` and ``bbox`` (1-based inclusive ints, as written)."""
    objects = []
    for obj in ET.parse(path).getroot().findall('object'):
        box = obj.find('bndbox')
        objects.append(dict(name=obj.findtext('name').strip(), bbox=[
            int(float(box.findtext(k))) for k in ('xmin', 'ymin', 'xmax', 'ymax')]))
    return objects


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two VOC boxes (``xmin..xmax`` covers the pixels ``[xmin - 1, xmax]``)."""
    w = min(a[2], b[2]) - max(a[0], b[0]) + 1
    h = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if w <= 0 or h <= 0:
        return 0.
    area = lambda box: (box[2] - box[0] + 1) * (box[3] - box[1] + 1)  # noqa: E731
    return w * h / (area(a) + area(b) - w * h)


def match(predicted: List[dict], truth: List[dict], min_iou: float) -> int:
    """How many of ``predicted`` (most confident first) are right: the class of a true box not
    matched yet and IoU >= ``min_iou`` with it."""
    free, right = list(range(len(truth))), 0
    for box in sorted(predicted, key=lambda b: -b.get('score', 0.)):
        candidates = [(iou(box['bbox'], truth[i]['bbox']), i) for i in free
                      if truth[i]['name'] == box['name']]
        best = max(candidates, default=(0., None))
        if best[1] is not None and best[0] >= min_iou:
            free.remove(best[1])
            right += 1
    return right


def task_boxes(fmt, task: dict, score_threshold: float = 0.) -> List[dict]:
    """The task's pre-annotated boxes (confidence >= ``score_threshold``) as Label Studio
    returns them when submitted unchanged."""
    boxes = []
    for prediction in task.get('predictions') or []:
        for item in prediction.get('result') or []:
            if item.get('score', 0.) < score_threshold:
                continue
            entry, _ = fmt.entry(task['data']['sample_id'], [item])
            if entry:
                boxes.append(dict(entry[0], score=item.get('score', 0.)))
    return boxes


def summarise(per_image: List[dict]) -> Dict[str, float]:
    truth = sum(p['truth'] for p in per_image)
    predicted = sum(p['predicted'] for p in per_image)
    right = sum(p['right'] for p in per_image)
    # A wrong box is deleted (or fixed), a missed one drawn; from scratch every box is drawn.
    corrections = sum(p['predicted'] - p['right'] + p['truth'] - p['right'] for p in per_image)
    return dict(images=len(per_image), true_boxes=truth, predicted_boxes=predicted,
                right_boxes=right, precision=right / predicted if predicted else 0.,
                recall=right / truth if truth else 0.,
                submit_only=sum(p['right'] == p['truth'] == p['predicted'] for p in per_image),
                corrections=corrections, from_scratch=truth)


def main(argv=None):
    args = parse_args(argv)
    from mmlearnloss.active.splits import PoolSplitter
    from mmlearnloss.annotation.formats import VOCSplitWriter
    from mmlearnloss.annotation.label_studio import TASKS_FILE, label_studio_format
    tasks_path = osp.join(args.query_dir, TASKS_FILE)
    if not osp.isfile(tasks_path):
        sys.exit(f'pre_annotation_quality.py: error: no {TASKS_FILE} in {args.query_dir}; write '
                 'one with tools/al_select.py --format label-studio.')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    pool = PoolSplitter(cfg.train_dataloader.dataset)
    if not all(isinstance(w, VOCSplitWriter) for w in pool.writers):
        sys.exit('pre_annotation_quality.py: error: the training set of '
                 f'{args.config} is {[w.describe() for w in pool.writers]}; this tool reads VOC '
                 'XMLs only.')
    fmt = label_studio_format(pool)
    writers = {w.folder: w for w in pool.writers}
    with open(tasks_path, encoding='utf-8') as f:
        tasks = json.load(f)
    per_image = []
    for task in tasks:
        sample_id = task['data']['sample_id']
        writer = writers.get(sample_id.split('/')[0])
        if writer is None:
            sys.exit(f'pre_annotation_quality.py: error: {sample_id} is in none of the VOC folders '
                     f'{sorted(writers)} of {args.config}.')
        truth = voc_objects(writer.annotation_path(sample_id))
        predicted = task_boxes(fmt, task, args.score_threshold)
        per_image.append(dict(sample_id=sample_id, truth=len(truth), predicted=len(predicted),
                              right=match(predicted, truth, args.iou)))
    figures = summarise(per_image)
    print(f'{tasks_path}: {figures["images"]} images, {figures["true_boxes"]} true boxes, '
          f'{figures["predicted_boxes"]} pre-annotated with confidence >= {args.score_threshold} '
          f'(IoU >= {args.iou} and the class: right)')
    print(f'  right boxes      {figures["right_boxes"]}  (precision {figures["precision"]:.3f}, '
          f'recall {figures["recall"]:.3f})')
    print(f'  submit only      {figures["submit_only"]} of {figures["images"]} images')
    print(f'  corrections      {figures["corrections"]} (wrong boxes to delete or fix, missed '
          f'ones to draw), against {figures["from_scratch"]} boxes to draw from scratch')
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as f:
            json.dump(dict(figures, iou=args.iou, score_threshold=args.score_threshold,
                           per_image=per_image), f, indent=1)
    return figures


if __name__ == '__main__':
    main()
