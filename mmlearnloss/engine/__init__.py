from .ground_truth_frame_hook import GroundTruthFrameHook, pipeline_transforms
from .loss_module_fit_hook import LossModuleFitHook
from .stop_loss_grad_hook import StopLossGradHook

__all__ = ['GroundTruthFrameHook', 'LossModuleFitHook', 'StopLossGradHook', 'pipeline_transforms']
