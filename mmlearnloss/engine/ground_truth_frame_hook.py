"""Tells the model in which frame the evaluation pipeline delivers the ground truth."""
from typing import Iterator, List

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmlearnloss.registry import HOOKS


def dataset_leaves(dataset) -> Iterator:
    """The datasets with a pipeline under ``dataset``, in order, looking through wrappers of
    one (``RepeatDataset``, ``ClassBalancedDataset``) or several (``ConcatDataset``)."""
    if hasattr(dataset, 'pipeline'):
        yield dataset
    elif hasattr(dataset, 'datasets'):
        for child in dataset.datasets:
            yield from dataset_leaves(child)
    elif hasattr(dataset, 'dataset'):
        yield from dataset_leaves(dataset.dataset)


def pipeline_transforms(dataset) -> List:
    """The transforms of the pipeline of ``dataset`` (of its first dataset, through wrappers);
    empty when none has one."""
    leaf = next(dataset_leaves(dataset), None)
    return list(getattr(getattr(leaf, 'pipeline', None), 'transforms', []))


@HOOKS.register_module()
class GroundTruthFrameHook(Hook):
    """Before each validation and test, reads the loop's pipeline and tells
    :class:`LearningLoss` in which frame its samples carry their ground truth, so the target
    losses of the evaluated samples are computed where the network sees the image.

    mmdet's test pipelines load boxes after ``Resize`` (in the image file's pixels, as
    ``VOCMetric`` wants them); a loss computed on those boxes without mapping them to the
    network input is another number. Without this hook (or
    :meth:`LearningLoss.read_eval_pipeline`), a detector's validation target losses stop the
    run with a message instead of being wrong. The shipped detection configs list it in
    ``custom_hooks``.
    """

    priority = 'NORMAL'

    def before_val(self, runner) -> None:
        self._read(runner, runner.val_loop)

    def before_test(self, runner) -> None:
        self._read(runner, runner.test_loop)

    @staticmethod
    def _read(runner, loop) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if hasattr(model, 'read_eval_pipeline'):
            model.read_eval_pipeline(pipeline_transforms(loop.dataloader.dataset))
