# Baseline on MNIST 5k: coreset selection, with the hyperparameters of ./lenet5_mnist5k_learnloss.py
# unchanged. The loss prediction module is kept (the strategy scores through the same wrapper) but
# with loss_weight=0 it sends no gradient: the network trains as without it.
_base_ = './lenet5_mnist5k_learnloss.py'
model = dict(loss=dict(loss_weight=0.0))
train_cfg = dict(strategy='coreset')
