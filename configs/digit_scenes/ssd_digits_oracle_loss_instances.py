# ./ssd_digits_oracle_loss.py with the target LearningLoss(target='instances') learns: each
# image's real loss times its boxes. The best that ranking by that target can do.
_base_ = './ssd_digits_oracle_loss.py'
model = dict(target='instances')
train_cfg = dict(method='oracle_loss_instances')
