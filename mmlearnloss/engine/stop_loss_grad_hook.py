"""Stops the loss-prediction gradient into the architecture after some epochs (paper Sec. 4)."""
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmlearnloss.registry import HOOKS


@HOOKS.register_module()
class StopLossGradHook(Hook):
    """From epoch ``epoch`` (0-based, counted within the current training run or active-learning
    stage) on, the tapped features are detached before the loss prediction module: the module
    keeps learning, the architecture no longer receives its gradient. The paper stops after
    120 of 200 epochs (CIFAR-10) and 75 of 125 (MPII).

    Args:
        epoch (int): First epoch trained with detached features.
    """

    priority = 'LOW'

    def __init__(self, epoch: int):
        if epoch < 0:
            raise ValueError(f'epoch must be >= 0, got {epoch}')
        self.epoch = epoch

    def before_train(self, runner) -> None:
        max_epochs = getattr(runner.train_loop, 'max_epochs', None)
        if max_epochs is not None and max_epochs <= self.epoch:
            print_log(f'StopLossGradHook: the gradient stop at epoch {self.epoch} never happens '
                      f'with max_epochs={max_epochs}.', logger='current', level=30)

    def before_train_epoch(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        detach = runner.epoch >= self.epoch
        if detach != model.detach_taps:
            state = 'stopped' if detach else 'flows'
            print_log(f'Epoch {runner.epoch}: gradient from the loss prediction module into the '
                      f'architecture {state}.', logger='current')
        model.detach_taps = detach
