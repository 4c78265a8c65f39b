from .stop_loss_grad_hook import StopLossGradHook

__all__ = ['StopLossGradHook']
