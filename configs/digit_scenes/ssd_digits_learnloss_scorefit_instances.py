# ./ssd_digits_learnloss_scorefit.py whose module learns each image's loss times its boxes
# (LearningLoss target='instances'), the loss its annotations carry in all, in place of the
# paper's target, the image's loss alone (for SSD an average over its objects). The budget
# counts images, and scenes hold 1 to 5 digits: on the first stage of the benchmark's seed 0
# the paper's target ranked the pool's images with few digits and many alike, so even the
# real losses chose no more digits than random (README, "Detection on real pixels").
_base_ = './ssd_digits_learnloss_scorefit.py'
model = dict(target='instances')
train_cfg = dict(method='learning_loss_scorefit_instances')
