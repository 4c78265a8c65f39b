# ./ssd_digits_learnloss_scorefit.py whose module learns each image's loss times its boxes
# (LearningLoss target='instances'), the loss its annotations carry in all, in place of the
# paper's target, the image's loss alone (for SSD an average over its objects). The budget
# counts images, and scenes hold 1 to 5 digits: on the benchmark's seed 0, selecting by the
# real losses themselves (./ssd_digits_oracle_loss.py) labeled no more digits than random
# (README, "What selecting by the real loss does").
_base_ = './ssd_digits_learnloss_scorefit.py'
model = dict(target='instances')
train_cfg = dict(method='learning_loss_scorefit_instances')
