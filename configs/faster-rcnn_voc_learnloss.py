# Active learning with learning loss: mmdet's Faster R-CNN (ResNet-50 + FPN, ImageNet init) on
# PASCAL VOC07+12, with the paper's VOC protocol (Sec. 4.2, there with SSD).
#   python tools/al_train.py configs/faster-rcnn_voc_learnloss.py
# What changes from the framework's config: the model is wrapped, the evaluator also scores the
# loss prediction, the gradient stop hook is added, the dataset is not repeated (the schedule is
# given in plain epochs instead), and training is the active-learning loop (for plain training
# set train_cfg=dict(_delete_=True, type='EpochBasedTrainLoop', max_epochs=12)).
_base_ = 'mmdet::pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py'
custom_imports = dict(imports=['mmlearnloss'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='mmlearnloss.LearningLoss',
    architecture={{_base_.model}},
    # 'neck' returns the five FPN levels (strides 4 ... 64, 256 channels each) that both the RPN
    # and the RoI head read; no index taps all of them.
    taps=['neck'],
    loss_prediction_head=dict(type='mmlearnloss.LossPredictionHead', in_channels=[256] * 5),
    loss=dict(type='mmlearnloss.LossPredictionLoss', margin=1.0, loss_weight=1.0))

# The framework's schedule: SGD lr 0.01 for 8 GPUs x 2 images, 4 epochs over the dataset repeated
# 3 times (12 passes), lr x0.1 after 3 (9 passes). The loop splits the pool itself, so the
# dataset is not repeated and the same 12 passes are 12 plain epochs, lr x0.1 at 9. The paper
# has no Faster R-CNN schedule; its ~60% gradient stop (CIFAR 120/200, MPII 75/125) is epoch 7.
# With 2 images per GPU each rank has a single pair for the ranking loss; LearningLoss ranks
# the whole global batch (global_ranking=True, its default), 8 pairs on 8 GPUs.
max_epochs = 12
train_dataloader = dict(dataset=dict(times=1))
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[9], gamma=0.1)
]
# Paper protocol: 1000 random initial images, +1000 per stage, the whole unlabeled pool scored.
train_cfg = dict(
    _delete_=True,
    type='mmlearnloss.ActiveLearningLoop',
    num_stages=10,
    initial_size=1000,
    query_size=1000,
    subset_size=None,
    max_epochs=max_epochs,
    strategy='learning_loss',
    seed=0,
    reinit=True)
custom_hooks = [
    dict(type='mmlearnloss.StopLossGradHook', epoch=7),
    dict(type='mmlearnloss.GroundTruthFrameHook'),
]

val_evaluator = [
    dict(type='VOCMetric', metric='mAP', eval_mode='11points'),
    dict(type='mmlearnloss.LossRankingMetric')
]
test_evaluator = val_evaluator
