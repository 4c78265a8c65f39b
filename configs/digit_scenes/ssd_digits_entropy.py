# Baseline of ./ssd_digits_learnloss.py: the same SSD without the loss prediction loss (λ=0),
# selecting by entropy.
_base_ = './ssd_digits_learnloss.py'
model = dict(loss=dict(loss_weight=0.0))
train_cfg = dict(strategy='entropy')
