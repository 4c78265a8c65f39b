"""CIFAR-10 that accepts files other than the official ones (the mini dataset)."""
from mmpretrain.datasets import CIFAR10
from mmpretrain.registry import DATASETS


@DATASETS.register_module()
class MiniCIFAR10(CIFAR10):
    """mmpretrain's :class:`CIFAR10`, minus the md5 check of the official files.

    mmpretrain's ``CIFAR10`` compares each of ``data_batch_1..5``, ``test_batch`` and
    ``batches.meta`` with the md5 sum of the official release and, on a mismatch, tries to
    download the official archive; so it cannot load the mini dataset of
    ``tools/make_mini_datasets.py``, which has the same format and file names but other
    content. This class only sets those md5 sums to ``None``, which mmpretrain's own
    integrity check reads as "the file must exist". Loading, splits and arguments are
    mmpretrain's, e.g. ``dict(type='MiniCIFAR10', data_root='data/mini/cifar10',
    split='train')`` with ``custom_imports=dict(imports=['mmlearnloss.datasets'])``.
    """

    train_list = [[name, None] for name, _ in CIFAR10.train_list]
    test_list = [[name, None] for name, _ in CIFAR10.test_list]
    meta = dict(CIFAR10.meta, md5=None)
