"""Fits the loss prediction module on the labeled images as the pool is scored (no augmentation)."""
from contextlib import contextmanager
from typing import Iterable, Iterator, List

import torch
from mmengine.dataset import Compose, pseudo_collate
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch import Tensor

from mmlearnloss.evaluation.ranking_metric import ranking_accuracy
from mmlearnloss.registry import HOOKS
from .ground_truth_frame_hook import dataset_leaves


@HOOKS.register_module()
class LossModuleFitHook(Hook):
    """After the last epoch of a training run (of each active-learning stage), fit the loss
    prediction module on the labeled images seen through the evaluation pipeline, the
    architecture frozen.

    The paper's module learns the losses of the training pipeline's augmented views (SSD:
    Expand up to 4x, MinIoURandomCrop, photometric distortion) and is asked to rank the pool's
    unaugmented images; for a detector those are other distributions. This hook passes each
    labeled image once through ``val_dataloader``'s pipeline, keeps its pooled tapped maps and
    its real loss in eval mode (:meth:`LearningLoss.clean_view`), and trains the module's
    layers alone on them with the model's own ranking loss, for ``epochs`` passes over
    mini-batches of the training batch size. It runs before the epoch's checkpoint is saved,
    so the stage's checkpoint holds the fitted module. Every process fits on all labeled
    images with the same seed: the modules stay equal without a collective.

    Args:
        epochs (int): Passes over the kept vectors. Defaults to 100.
        lr (float): Adam's learning rate. Defaults to 1e-3.
        reset (bool): Fit a freshly initialised module (True) or go on from the module that
            learned with the architecture (False, the default: it learned from both views).
        seed (int): Seed of the mini-batch order. Defaults to 0.
    """

    priority = 'NORMAL'  # before CheckpointHook (VERY_LOW) saves the epoch

    def __init__(self, epochs: int = 100, lr: float = 1e-3, reset: bool = False,
                 seed: int = 0):
        if epochs < 1 or lr <= 0:
            raise ValueError(f'LossModuleFitHook needs epochs >= 1 and lr > 0, got '
                             f'epochs={epochs}, lr={lr}')
        self.epochs, self.lr, self.reset, self.seed = epochs, lr, reset, seed

    def after_train_epoch(self, runner) -> None:
        if runner.epoch + 1 < runner.max_epochs:
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        loader = runner.train_loop.dataloader
        batch_size = loader.batch_size or loader.batch_sampler.batch_size
        pipeline = Compose(runner.cfg.val_dataloader.dataset.pipeline)
        model.read_eval_pipeline(pipeline.transforms)
        with evaluation_pipeline(loader.dataset, pipeline) as samples:
            views = clean_views(model, (pseudo_collate(samples[start:start + batch_size])
                                        for start in range(0, len(samples), batch_size)))
        targets = views['target']
        accuracy = self.fit(model, views['pooled'], targets, batch_size)
        print_log(f'LossModuleFitHook: fit the loss prediction module on the {len(targets)} '
                  f'labeled images through the evaluation pipeline ({self.epochs} epochs); '
                  f'its ranking accuracy on them: {accuracy:.3f}.', logger='current')

    def fit(self, model, pooled: List[Tensor], targets: Tensor, batch_size: int) -> float:
        """Fit ``model``'s loss prediction module on ``pooled`` vectors and real losses as this
        hook is set; the fitted module's ranking accuracy on them."""
        return fit_head(model.loss_prediction_head, model.loss_prediction_loss, pooled, targets,
                        batch_size, epochs=self.epochs, lr=self.lr, reset=self.reset,
                        seed=self.seed)


def clean_views(model, batches: Iterable[dict], uncertainty: bool = False) -> dict:
    """Each sample of ``batches`` (collated, not yet preprocessed) as evaluation sees it
    (:meth:`LearningLoss.clean_view`): ``pooled`` tapped maps (one tensor a tap), its real
    ``target`` loss and, if ``uncertainty``, the entropy strategy's score; samples whose real
    loss is not finite are left out."""
    pooled, targets, entropy = [], [], []
    with torch.no_grad():
        for data in batches:
            data = model.data_preprocessor(data, False)
            maps, target = model.clean_view(data['inputs'], data['data_samples'])
            pooled.append(maps)
            targets.append(target.float())
            if uncertainty:
                out = model.score(data['inputs'], data['data_samples'], needs=('uncertainty', ))
                entropy.append(out['uncertainty'].float())
    targets = torch.cat(targets)
    finite = torch.isfinite(targets)
    return dict(pooled=[torch.cat(maps)[finite] for maps in zip(*pooled)],
                target=targets[finite],
                uncertainty=torch.cat(entropy)[finite] if uncertainty else None)


def fit_head(head, criterion, pooled: List[Tensor], targets: Tensor, batch_size: int,
             epochs: int, lr: float, reset: bool = False, seed: int = 0) -> float:
    """Train ``head`` (a :class:`LossPredictionHead`) alone on kept ``pooled`` vectors
    (:meth:`LossPredictionHead.pool_maps`) and real losses with ``criterion`` (the model's
    :class:`LossPredictionLoss`): Adam at ``lr``, ``epochs`` passes over shuffled mini-batches
    of ``batch_size``, freshly initialised first (from ``seed``) if ``reset``. Returns the
    fitted head's ranking accuracy on all the vectors."""
    if reset:
        # drawn from the seed, and training's random stream left as it was
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for layer in head.modules():
                if hasattr(layer, 'reset_parameters'):
                    layer.reset_parameters()
    optimizer = torch.optim.Adam(head.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    was_training = head.training
    head.train()
    with torch.enable_grad():
        for _ in range(epochs):
            for batch in torch.randperm(len(targets), generator=generator).split(batch_size):
                if len(batch) < 2:
                    continue  # a ranking needs a pair
                batch = batch.to(targets.device)
                loss, _, _ = criterion.measure(head.from_pooled([p[batch] for p in pooled]),
                                               targets[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    head.train(was_training)
    with torch.no_grad():
        return ranking_accuracy(head.from_pooled(pooled), targets)


@contextmanager
def evaluation_pipeline(dataset, pipeline: Compose) -> Iterator[list]:
    """The samples of every dataset under ``dataset`` (through Concat/Repeat/other wrappers,
    each once) through ``pipeline`` instead of their own."""
    leaves = list(dataset_leaves(dataset))
    if not leaves:
        raise TypeError(f'LossModuleFitHook: cannot find the pipeline of a '
                        f'{type(dataset).__name__}: expected a dataset with a pipeline, or a '
                        f'wrapper with .dataset or .datasets.')
    own = [leaf.pipeline for leaf in leaves]
    try:
        for leaf in leaves:
            leaf.pipeline = pipeline
        yield [leaf[i] for leaf in leaves for i in range(len(leaf))]
    finally:
        for leaf, pipe in zip(leaves, own):
            leaf.pipeline = pipe
