# Learning loss beyond the paper (b): label high predicted losses that are spread out. Of the
# 3K highest predicted losses of the scored subset, the highest first, then k-Center-Greedy on the
# pooled deepest tap (mmlearnloss.DiverseLearningLossStrategy). The factor 3 was set before any
# run, not tuned. Training as ./lenet5_mnist5k_learnloss.py.
_base_ = './lenet5_mnist5k_learnloss.py'
train_cfg = dict(
    strategy=dict(
        _delete_=True, type='mmlearnloss.DiverseLearningLossStrategy', candidate_factor=3),
    method='learning_loss_diverse')
