"""mmdet's ``MinIoURandomCrop``, its trials computed in numpy: same draws, same crops."""
import numpy as np
from mmdet.datasets.transforms import MinIoURandomCrop
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import autocast_box_type
from numpy import random


def patch_overlaps(patch: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``(x1, y1, x2, y2)`` patch with each of ``boxes`` (N, 4), in float32 and in
    the order of operations of mmdet's ``bbox_overlaps``, so that both give the same bits."""
    patch = patch.astype(np.float32)
    patch_area = (patch[2] - patch[0]) * (patch[3] - patch[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    wh = np.clip(np.minimum(patch[2:], boxes[:, 2:]) - np.maximum(patch[:2], boxes[:, :2]), 0,
                 None)
    overlap = wh[:, 0] * wh[:, 1]
    union = np.maximum(patch_area + areas - overlap, np.float32(1e-6))
    return overlap / union


@TRANSFORMS.register_module()
class FastMinIoURandomCrop(MinIoURandomCrop):
    """mmdet's :class:`MinIoURandomCrop` (SSD's crop), faster on small objects.

    mmdet tries up to 50 random patches per IoU threshold and checks each with box structures
    and torch operations on a handful of boxes; with small objects and high thresholds most
    patches fail, and the trials take most of SSD's data time (README, "Detection on real
    pixels"; ``tools/benchmarks/crop_speed.py``). This class runs the same trials on numpy
    arrays: it draws the same random numbers in the same order and returns the same crop,
    image and annotations as mmdet's transform (``tests/test_fast_crop.py`` compares them
    sample by sample). Arguments are mmdet's.
    """

    @autocast_box_type()
    def transform(self, results: dict) -> dict:
        """Crop ``img`` and the annotations to a random patch whose IoU with every box is at
        least a random threshold (or leave them whole, mode 1)."""
        assert 'img' in results, '`img` is not found in results'
        assert 'gt_bboxes' in results, '`gt_bboxes` is not found in results'
        h, w = results['img'].shape[:2]
        boxes = results['gt_bboxes'].tensor.numpy()
        centers = (boxes[:, :2] + boxes[:, 2:]) / 2
        while True:
            self.mode = self._random_mode()
            if self.mode == 1:
                return results
            for _ in range(50):
                new_w = random.uniform(self.min_crop_size * w, w)
                new_h = random.uniform(self.min_crop_size * h, h)
                if new_h / new_w < 0.5 or new_h / new_w > 2:
                    continue
                left = random.uniform(w - new_w)
                top = random.uniform(h - new_h)
                patch = np.array((int(left), int(top), int(left + new_w), int(top + new_h)))
                if patch[2] == patch[0] or patch[3] == patch[1]:
                    continue
                inside = None
                if len(boxes):
                    if patch_overlaps(patch, boxes).min() < self.mode:
                        continue
                    inside = ((centers[:, 0] > patch[0]) & (centers[:, 1] > patch[1])
                              & (centers[:, 0] < patch[2]) & (centers[:, 1] < patch[3]))
                    if not inside.any():
                        continue
                return self._crop(results, patch, inside)

    def _crop(self, results: dict, patch: np.ndarray, inside) -> dict:
        """Cut ``patch`` out of the image and maps; keep the boxes (and their labels, flags,
        masks) whose centres lie ``inside`` it, moved into its frame."""
        if inside is not None:
            boxes = results['gt_bboxes'][inside]
            boxes.translate_([-patch[0], -patch[1]])
            if self.bbox_clip_border:
                boxes.clip_([patch[3] - patch[1], patch[2] - patch[0]])
            results['gt_bboxes'] = boxes
            for key in ('gt_ignore_flags', 'gt_bboxes_labels'):
                if results.get(key) is not None:
                    results[key] = results[key][inside]
            if results.get('gt_masks') is not None:
                results['gt_masks'] = results['gt_masks'][inside.nonzero()[0]].crop(patch)
        img = results['img'][patch[1]:patch[3], patch[0]:patch[2]]
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        if results.get('gt_seg_map') is not None:
            results['gt_seg_map'] = results['gt_seg_map'][patch[1]:patch[3], patch[0]:patch[2]]
        return results
