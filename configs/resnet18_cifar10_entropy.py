# Baseline: entropy selection. The loss prediction module is kept (the entropy strategy scores
# through
# the same wrapper) but with loss_weight=0 it sends no gradient: the network trains as without it.
_base_ = './resnet18_cifar10_learnloss.py'
model = dict(loss=dict(loss_weight=0.0))
train_cfg = dict(strategy='entropy')
