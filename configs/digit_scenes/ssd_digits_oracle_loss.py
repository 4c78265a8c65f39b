# Learning loss with a perfect module, in simulation: ./ssd_digits_random.py's SSD (λ=0: the
# detector trains as the baselines'), selecting the pool images with the highest REAL loss, the
# module's target, computed from their annotations (OracleLossStrategy). The best that ranking
# by the paper's target can do on this task, whatever the module.
_base_ = './ssd_digits_random.py'
train_cfg = dict(strategy='oracle_loss', method='oracle_loss')
