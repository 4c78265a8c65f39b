"""The model's predictions for queried samples, as plain values (pre-annotations for annotators)."""
from typing import Dict, Sequence

import torch
from mmengine.model import is_model_wrapper

from .scoring import pool_loader_cfg

__all__ = ['predict_samples', 'plain_prediction']


@torch.no_grad()
def predict_samples(model, val_dataloader, pool, ids: Sequence[str], out_dir: str,
                    name: str) -> Dict[str, dict]:
    """Run ``model.test_step`` on ``ids`` of ``pool`` with the val pipeline, on this process,
    without real (target) losses.

    Args:
        model: The model (a DDP wrapper is unwrapped: only this process predicts).
        val_dataloader (dict): The val dataloader config (pipeline, batch size, collate).
        pool (PoolSplitter): The pool the ids come from.
        ids (Sequence[str]): The samples.
        out_dir (str): Where the samples' annotation file is written.
        name (str): Part of its name, e.g. ``'stage_0_query'``.

    Returns:
        dict: Sample id -> :func:`plain_prediction` of its result.
    """
    from mmengine.runner import Runner
    model = model.module if is_model_wrapper(model) else model
    loader_cfg, ordered = pool_loader_cfg(val_dataloader, pool, ids, out_dir, name)
    loader = Runner.build_dataloader(loader_cfg)
    # Index the dataset directly: the loader's sampler would shard it over the ranks.
    dataset, batch_size = loader.dataset, loader.batch_size or 1
    if len(dataset) != len(ordered):
        raise RuntimeError(f'The prediction dataset has {len(dataset)} samples for '
                           f'{len(ordered)} ids; the dataset filtered or repeated samples.')
    was_training, with_targets = model.training, getattr(model, 'val_target_loss', None)
    model.eval()
    if with_targets is not None:
        # Pre-annotations need no real losses: an unlabeled image has no ground truth to replay
        # the loss on (a placeholder label would only cost time), and a replay whose loss calls
        # a collective would wait for the ranks that are not predicting.
        model.val_target_loss = False
    found = {}
    try:
        for start in range(0, len(ordered), batch_size):
            batch = loader.collate_fn([dataset[i] for i in range(start, start + batch_size)
                                       if i < len(ordered)])
            for sample_id, result in zip(ordered[start:start + batch_size],
                                         model.test_step(batch)):
                found[sample_id] = plain_prediction(result)
    finally:
        model.train(was_training)
        if with_targets is not None:
            model.val_target_loss = with_targets
    return found


def plain_prediction(result) -> dict:
    """JSON-ready values of one predicted data sample, in original image pixels.

    Keys (as the result has them): ``ori_shape`` (height, width), ``pred_loss`` (the predicted
    loss); detection: ``bboxes`` ([x0, y0, x1, y1] each, in the coordinates the framework loads
    the dataset's boxes in: VOC's XML minus 1, COCO's [x, y, x + w, y + h]), ``labels``,
    ``scores`` (confidences); pose: ``keypoints`` and ``keypoint_scores`` of the first instance;
    classification: ``label`` and ``score`` (its probability).
    """
    out = dict(ori_shape=[int(v) for v in result.metainfo.get('ori_shape', (0, 0))[:2]])
    if 'pred_loss' in result:
        out['pred_loss'] = float(result.pred_loss)
    instances = result.get('pred_instances')
    if instances is not None and 'bboxes' in instances and 'keypoints' not in instances:
        out['bboxes'] = _list(instances.bboxes)
        out['labels'] = [int(v) for v in _list(instances.labels)]
        out['scores'] = _list(instances.scores)
    if instances is not None and 'keypoints' in instances and len(instances.keypoints):
        out['keypoints'] = _list(instances.keypoints[0])
        if 'keypoint_scores' in instances:
            out['keypoint_scores'] = _list(instances.keypoint_scores[0])
    if 'pred_label' in result:
        out['label'] = int(_list(result.pred_label)[0])
        if 'pred_score' in result:
            out['score'] = float(_list(result.pred_score)[out['label']])
    return out


def _list(values) -> list:
    if hasattr(values, 'tolist'):
        return values.tolist()
    return [v.tolist() if hasattr(v, 'tolist') else v for v in values]
