# Learning loss with a perfect module, in simulation: the same SSD as ./ssd_digits_random.py
# (λ=0: the detector trains as the baselines'), selecting the pool images with the highest REAL
# loss, the module's target, computed from their annotations (OracleLossStrategy). The best
# that ranking by the paper's target can do on this task, whatever the module.
_base_ = './ssd_digits_learnloss.py'
model = dict(loss=dict(loss_weight=0.0))
train_cfg = dict(strategy='oracle_loss', method='oracle_loss')
