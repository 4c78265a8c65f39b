# Learning loss beyond the paper, (a) + (b) + (c) together: the module learns from detached features
# from epoch 0 (the network trains as with λ=0), with the ranking loss over all pairs of the batch,
# and selection spreads the picks among the 3K highest predicted losses. Everything else as
# ./lenet5_mnist5k_learnloss.py.
_base_ = './lenet5_mnist5k_learnloss.py'
model = dict(loss=dict(pairs='all'))
custom_hooks = [dict(type='mmlearnloss.StopLossGradHook', epoch=0)]
train_cfg = dict(
    strategy=dict(
        _delete_=True, type='mmlearnloss.DiverseLearningLossStrategy', candidate_factor=3),
    method='learning_loss_combined')
