"""The dry run before the first stage: every step a stage takes, once, on one batch."""
import copy
from typing import Callable

import torch
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmlearnloss.utils import seeded_rng
from .scoring import scoring_autocast
from .strategies import BaseStrategy


def dry_run_one_batch(runner, labeled_dataloader: Callable, strategy: BaseStrategy, seed: int,
                      score_amp: bool = False) -> None:
    """Before the first stage, what every stage will do, once: a training step on one
    labeled batch, a validation prediction (with target losses where configured) and the
    strategy's scoring on one validation batch. A config that cannot work fails here, in a
    minute, not after a stage of training. The model's weights and buffers and the random
    streams are as before; the optimizer is a throwaway one.

    Args:
        runner (Runner): The runner.
        labeled_dataloader (callable): Builds a loader of the labeled set (a throwaway one:
            an abandoned iterator leaves state in some batch samplers, e.g. mmdet's
            AspectRatioBatchSampler keeps its half-filled buckets).
        strategy (BaseStrategy): The selection strategy, whose scoring is tried.
        seed (int): Seed of the random streams while trying (they are restored afterwards).
        score_amp (bool): Score under mixed precision, as the stages will.

    Raises:
        RuntimeError: A step failed; it says which, and why.
    """
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    weights = copy.deepcopy(model.state_dict())
    was_training = model.training
    device = next(model.parameters()).device
    with seeded_rng(seed, device):  # every random stream as it was afterwards
        try:
            part = 'the training step on one labeled batch'
            optim_wrapper = runner.build_optim_wrapper(copy.deepcopy(runner.cfg.optim_wrapper))
            model.train()
            batch = next(iter(labeled_dataloader()))
            runner.model.train_step(batch, optim_wrapper=optim_wrapper)
            optim_wrapper.zero_grad()
            if runner.val_loop is not None:
                part = 'the validation prediction' + (
                    ' with target losses' if getattr(model, 'val_target_loss', False) else '')
                batch = next(iter(runner.build_dataloader(
                    copy.deepcopy(runner.cfg.val_dataloader))))
                model.eval()
                with torch.no_grad():
                    runner.model.val_step(batch)
                needs = strategy.needs
                if needs is not None:
                    part = f'scoring for {type(strategy).__name__} ({needs})'
                    with torch.no_grad(), scoring_autocast(model, score_amp):
                        model.score_step(batch, needs=(needs, ) if isinstance(needs, str)
                                         else tuple(needs))
        except Exception as error:
            raise RuntimeError(
                f'Dry run before the first stage: {part} failed ({type(error).__name__}: '
                f'{error}). Nothing was trained; fix the config and run again '
                f'(train_cfg.dry_run=False skips this check).') from error
        finally:
            model.load_state_dict(weights)
            model.train(was_training)
    print_log('Dry run before the first stage: a training step, a validation prediction'
              f'{" and scoring" if strategy.needs is not None else ""} work.',
              logger='current')
