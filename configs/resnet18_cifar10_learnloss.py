# Active learning with learning loss: mmpretrain's ResNet-18 on CIFAR-10 (paper Sec. 4.1).
#   python tools/al_train.py configs/resnet18_cifar10_learnloss.py
# What changes from the framework's config: the model is wrapped, the evaluator also scores the
# loss prediction, the gradient stop hook is added, the schedule is the paper's, and training is
# the active-learning loop (for plain training set
# train_cfg=dict(_delete_=True, type='EpochBasedTrainLoop', max_epochs=200)).
_base_ = 'mmpretrain::resnet/resnet18_8xb16_cifar10.py'
custom_imports = dict(imports=['mmlearnloss'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='mmlearnloss.LearningLoss',
    architecture={{_base_.model}},
    # The four residual stages, as in the paper's Fig. 2.
    taps=['backbone.layer1', 'backbone.layer2', 'backbone.layer3', 'backbone.layer4'],
    loss_prediction_head=dict(
        type='mmlearnloss.LossPredictionHead', in_channels=[64, 128, 256, 512]),
    loss=dict(type='mmlearnloss.LossPredictionLoss', margin=1.0, loss_weight=1.0))

# Paper: batch 128, SGD lr 0.1 momentum 0.9 weight decay 5e-4, 200 epochs, lr x0.1 at 160,
# gradient from the loss prediction module stopped after 120 epochs.
train_dataloader = dict(batch_size=128)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[160], gamma=0.1)
# Paper protocol: 1000 random initial labels, +1000 per stage up to 10000, the top-K predicted
# losses of a random subset of 10000 unlabeled images; 200 epochs per stage.
train_cfg = dict(
    _delete_=True,
    type='mmlearnloss.ActiveLearningLoop',
    num_stages=10,
    initial_size=1000,
    query_size=1000,
    subset_size=10000,
    max_epochs=200,
    strategy='learning_loss',
    seed=0,
    reinit=True)
custom_hooks = [dict(type='mmlearnloss.StopLossGradHook', epoch=120)]

val_evaluator = [dict(type='Accuracy', topk=(1, )), dict(type='mmlearnloss.LossRankingMetric')]
test_evaluator = val_evaluator
