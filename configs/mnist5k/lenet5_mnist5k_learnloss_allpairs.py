# Learning loss beyond the paper (a): the ranking loss compares every pair of the mini-batch,
# B(B-1)/2 = 496 pairs of a batch of 32, instead of the paper's B/2 = 16 (first half against the
# second). Everything else as ./lenet5_mnist5k_learnloss.py.
_base_ = './lenet5_mnist5k_learnloss.py'
model = dict(loss=dict(pairs='all'))
train_cfg = dict(method='learning_loss_allpairs')
