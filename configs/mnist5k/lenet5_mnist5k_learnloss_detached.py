# Learning loss beyond the paper (c): no joint training. The gradient stop starts at epoch 0, so
# the loss prediction module learns from detached features during the whole stage and the network
# trains exactly as with λ=0 (the baselines): no first-stage cost. Everything else as
# ./lenet5_mnist5k_learnloss.py.
_base_ = './lenet5_mnist5k_learnloss.py'
custom_hooks = [dict(type='mmlearnloss.StopLossGradHook', epoch=0)]
train_cfg = dict(method='learning_loss_detached')
