# Baseline on the mini CIFAR-10 set: entropy selection (as ../resnet18_cifar10_entropy.py). The loss
# prediction module is kept (the entropy strategy scores through the same wrapper) but with
# loss_weight=0 it sends no gradient: the network trains as without it.
_base_ = './resnet18_cifar10_learnloss_mini.py'
model = dict(loss=dict(loss_weight=0.0))
train_cfg = dict(strategy='entropy')
