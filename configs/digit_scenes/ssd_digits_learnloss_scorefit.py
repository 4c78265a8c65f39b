# Learning loss for detection as the diagnosis suggests (README, "Detection on real pixels"):
# - the module reads the neck's four maps averaged (the paper) and a summary of the detections
#   of each of the head's four levels of class logits (./ssd_digits_learnloss_scoretaps.py);
# - it learns from detached features from the first epoch, so the detector trains exactly as
#   with λ=0 (StopLossGradHook epoch 0);
# - after each stage's last epoch the module is fit further on the labeled images seen as the
#   pool is scored, through the test pipeline, the detector frozen (LossModuleFitHook).
# Selection is the paper's: the K highest predicted losses.
_base_ = './ssd_digits_learnloss_scoretaps.py'
custom_hooks = [
    dict(type='NumClassCheckHook'),
    dict(type='CheckInvalidLossHook', interval=50, priority='VERY_LOW'),
    dict(type='mmlearnloss.StopLossGradHook', epoch=0),
    dict(type='mmlearnloss.GroundTruthFrameHook'),
    dict(type='mmlearnloss.LossModuleFitHook', epochs=100, lr=1e-3),
]
train_cfg = dict(method='learning_loss_scorefit')
