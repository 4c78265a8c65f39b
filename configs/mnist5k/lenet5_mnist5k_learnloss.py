# Active learning with learning loss on real digits: MNIST 5k (tools/make_mnist5k.py: 4000 train
# digits form the pool, 1000 val digits measure), mmpretrain's LeNet-5 (as in its
# lenet/lenet5_mnist.py). The paper's protocol (Sec. 4.1), scaled down to train in seconds per stage
# on 2 CPU cores:
#   paper (CIFAR-10): 1000 random initial labels, +1000 per stage, 10 stages, top-K of a random
#   subset of M=10000 unlabeled images; 200 epochs per stage, lr x0.1 at 160, gradient from the
#   loss prediction module stopped after 120; λ=1, margin ξ=1.
#   here: 100 random initial labels, +100 per stage, 6 stages (100..600 labels), M=1000 (the
#   paper's M/K=10); 25 epochs per stage, lr x0.1 at 20 (80%), gradient stopped after 15 (60%);
#   λ=1, ξ=1.
#   python tools/make_mnist5k.py
#   python tools/al_train.py configs/mnist5k/lenet5_mnist5k_learnloss.py
_base_ = 'mmpretrain::lenet/lenet5_mnist.py'
custom_imports = dict(imports=['mmlearnloss'], allow_failed_imports=False)
data_root = 'data/mnist5k'

model = dict(
    _delete_=True,
    type='mmlearnloss.LearningLoss',
    architecture={{_base_.model}},
    # The output of each of LeNet-5's three convolution blocks (after its pooling / activation):
    # 6x14x14, 16x5x5 and 120x1x1, as the paper taps each block of ResNet-18.
    taps=['backbone.features.2', 'backbone.features.5', 'backbone.features.7'],
    loss_prediction_head=dict(type='mmlearnloss.LossPredictionHead', in_channels=[6, 16, 120]),
    loss=dict(type='mmlearnloss.LossPredictionLoss', margin=1.0, loss_weight=1.0))

# Grayscale PNGs, 28x28 -> 32x32 (LeNet-5's input) as lenet5_mnist.py. Training shifts the digits
# by up to 2 pixels (random crop of the 2-pixel padded image), as the paper augments CIFAR-10 with
# crops: in a pilot (600 random labels, seed 0) it lifted val accuracy from 89.9 to 95.8%.
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='grayscale'),
    dict(type='Resize', scale=32),
    dict(type='RandomCrop', crop_size=32, padding=2),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', color_type='grayscale'),
    dict(type='Resize', scale=32),
    dict(type='PackInputs'),
]
dataset = dict(type='BaseDataset', data_root=data_root, data_prefix=dict(img_path='images'))
train_dataloader = dict(
    _delete_=True, batch_size=32, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(dataset, ann_file='train.json', pipeline=train_pipeline))
val_dataloader = dict(
    _delete_=True, batch_size=500, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(dataset, ann_file='val.json', pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = [dict(type='Accuracy', topk=(1, )), dict(type='mmlearnloss.LossRankingMetric')]
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[20], gamma=0.1)
custom_hooks = [dict(type='mmlearnloss.StopLossGradHook', epoch=15)]
train_cfg = dict(
    _delete_=True,
    type='mmlearnloss.ActiveLearningLoop',
    num_stages=6,
    initial_size=100,
    query_size=100,
    subset_size=1000,
    max_epochs=25,
    strategy='learning_loss',
    seed=0,
    reinit=True,
    score_batch_size=500)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=25, max_keep_ckpts=1))
auto_scale_lr = dict(enable=False)
