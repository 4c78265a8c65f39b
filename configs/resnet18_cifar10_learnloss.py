# Learning loss on mmpretrain's ResNet-18 for CIFAR-10 (paper Sec. 4.1), plain training.
# What changes from the framework's config: the model is wrapped, the evaluator also scores the
# loss prediction, the gradient stop hook is added, and the schedule is the paper's.
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
train_cfg = dict(by_epoch=True, max_epochs=200, val_interval=10)
custom_hooks = [dict(type='mmlearnloss.StopLossGradHook', epoch=120)]

val_evaluator = [dict(type='Accuracy', topk=(1, )), dict(type='mmlearnloss.LossRankingMetric')]
test_evaluator = val_evaluator
