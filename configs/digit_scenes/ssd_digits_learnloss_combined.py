# The recommended learning-loss recipe (README, MNIST 5k benchmark) on the digit scenes: the
# head learns from detached features from the first epoch (no gradient into the detector), ranks
# all pairs of the batch, and selection spreads the top predicted losses with k-Center-Greedy.
_base_ = './ssd_digits_learnloss.py'
model = dict(loss=dict(pairs='all'))
custom_hooks = [
    dict(type='NumClassCheckHook'),
    dict(type='CheckInvalidLossHook', interval=50, priority='VERY_LOW'),
    dict(type='mmlearnloss.StopLossGradHook', epoch=0),
    dict(type='mmlearnloss.GroundTruthFrameHook'),
]
train_cfg = dict(
    strategy=dict(
        _delete_=True, type='mmlearnloss.DiverseLearningLossStrategy', candidate_factor=3),
    method='learning_loss_combined')
