"""Mini PASCAL VOC, CIFAR-10 and MPII datasets in their real on-disk formats, for the tests, the
``configs/mini/`` runs and ``tools/make_mini_datasets.py``.

Nothing is downloaded. Each image is drawn from a per-image random generator seeded by
``(seed, dataset, split, index)`` (:func:`sample_rng`), so a run is reproducible byte for byte and
an image does not change when the number of images changes. Every image has a difficulty in
[0, 1] that sets its noise, contrast, object size, clutter and occlusion: a small model learns the
easy ones in minutes on a CPU and a loss predictor has a real ranking to find. The difficulties
are written next to the data (``difficulty.json``); the frameworks ignore that file.

Layouts (the frameworks' dataset classes load them unchanged), one module per dataset:

* :mod:`.voc`: ``<out>/VOCdevkit/VOC{2007,2012}/{JPEGImages,Annotations,ImageSets/Main}``, mmdet
  ``VOCDataset``.
* :mod:`.cifar`: ``<out>/cifar10/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}``,
  Python 2 pickles like the official ones. mmpretrain's ``CIFAR10`` checks the official md5
  sums, so load them with ``mmlearnloss.datasets.MiniCIFAR10``.
* :mod:`.mpii`: ``<out>/mpii/{images,annotations}``, mmpose ``MpiiDataset`` with
  ``mpii_gt_val.mat`` head boxes.
"""
from .cifar import CIFAR10_CLASSES, cifar_labels, draw_cifar_image, make_cifar10
from .common import DIFFICULTY_FILE, MARKER, sample_rng
from .mpii import MPII_JOINTS, draw_mpii_image, make_mpii
from .voc import VOC_CLASSES, VOC_SHAPES, draw_voc_image, make_voc, voc_xml

__all__ = [
    'sample_rng', 'MARKER', 'DIFFICULTY_FILE', 'VOC_CLASSES', 'VOC_SHAPES', 'draw_voc_image',
    'voc_xml', 'make_voc', 'CIFAR10_CLASSES', 'cifar_labels', 'draw_cifar_image', 'make_cifar10',
    'MPII_JOINTS', 'draw_mpii_image', 'make_mpii'
]
