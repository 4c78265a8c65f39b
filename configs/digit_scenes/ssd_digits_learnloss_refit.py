# Learning loss whose module is also fit on the labeled images as the pool is scored: after each
# stage's last epoch, LossModuleFitHook fits the module alone (the detector frozen) on the labeled
# images through the test pipeline (no Expand, crop or photometric distortion), before the
# stage's checkpoint. Everything else is the paper's recipe of ./ssd_digits_learnloss.py.
_base_ = './ssd_digits_learnloss.py'

custom_hooks = [
    dict(type='NumClassCheckHook'),
    dict(type='CheckInvalidLossHook', interval=50, priority='VERY_LOW'),
    dict(type='mmlearnloss.StopLossGradHook', epoch=72),  # as ./ssd_digits_learnloss.py
    dict(type='mmlearnloss.GroundTruthFrameHook'),
    dict(type='mmlearnloss.LossModuleFitHook', epochs=100, lr=1e-3),
]
