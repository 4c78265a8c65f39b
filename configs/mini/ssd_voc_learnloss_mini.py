# CPU-sized active learning on the mini VOC set (tools/make_mini_datasets.py): the README demo.
# Same model, taps, loss and loop as ../ssd_voc_learnloss.py; fewer samples, stages and epochs.
_base_ = '../ssd_voc_learnloss.py'
data_root = 'data/mini/VOCdevkit/'

# No ImageNet VGG-16 download: trains from scratch.
model = dict(architecture=dict(backbone=dict(init_cfg=None)))

train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(dataset=dict(datasets=[
        dict(type='VOCDataset', data_root=data_root, ann_file='VOC2007/ImageSets/Main/trainval.txt',
             data_prefix=dict(sub_data_root='VOC2007/'),
             filter_cfg=dict(filter_empty_gt=True, min_size=32),
             pipeline={{_base_.train_pipeline}}),
        dict(type='VOCDataset', data_root=data_root, ann_file='VOC2012/ImageSets/Main/trainval.txt',
             data_prefix=dict(sub_data_root='VOC2012/'),
             filter_cfg=dict(filter_empty_gt=True, min_size=32),
             pipeline={{_base_.train_pipeline}}),
    ])))
val_dataloader = dict(batch_size=8, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root))
test_dataloader = val_dataloader

# Constant learning rate: the stages are a few dozen iterations, shorter than the warm-up.
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True, begin=0, end=1000)]
custom_hooks = [
    dict(type='NumClassCheckHook'),
    dict(type='mmlearnloss.StopLossGradHook', epoch=1),
    dict(type='mmlearnloss.GroundTruthFrameHook'),
]
default_hooks = dict(logger=dict(interval=2), checkpoint=dict(interval=1, max_keep_ckpts=1))

train_cfg = dict(num_stages=3, initial_size=16, query_size=16, subset_size=None, max_epochs=2)
