# CPU-sized active learning on the mini VOC set (tools/make_mini_datasets.py).
# Same detector (Faster R-CNN with FPN), taps (the five FPN levels), loss and loop as
# ../faster-rcnn_voc_learnloss.py; a smaller network and input, fewer RoIs, samples, stages and
# epochs, so a stage takes well under a minute on 2 CPU cores.
_base_ = '../faster-rcnn_voc_learnloss.py'
data_root = 'data/mini/VOCdevkit/'
img_scale = (224, 224)  # the mini images are 160-200 px; the framework's scale is (1000, 600)
fpn_channels = 64

# Smaller than the framework's network (mini config only):
# - ResNet-18 instead of ResNet-50, trained from scratch (no ImageNet download), so nothing is
#   frozen (frozen_stages and norm_eval exist to keep pretrained weights as they are);
# - FPN, RPN and RoI head at 64 channels instead of 256, fully connected layers of 256 instead
#   of 1024: on a CPU the 256-channel 3x3 convolutions on the stride-4 level cost several times
#   the backbone. The loss prediction head reads the same five FPN levels, 64 channels each;
# - fewer proposals and sampled RoIs than the framework's 2000/1000/512 per image.
model = dict(
    architecture=dict(
        backbone=dict(depth=18, frozen_stages=-1, norm_eval=False, init_cfg=None),
        neck=dict(in_channels=[64, 128, 256, 512], out_channels=fpn_channels),
        rpn_head=dict(in_channels=fpn_channels, feat_channels=fpn_channels),
        roi_head=dict(
            bbox_roi_extractor=dict(out_channels=fpn_channels),
            bbox_head=dict(in_channels=fpn_channels, fc_out_channels=256)),
        train_cfg=dict(
            rpn_proposal=dict(nms_pre=500, max_per_img=200),
            rcnn=dict(sampler=dict(num=64))),
        test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=100))),
    loss_prediction_head=dict(in_channels=[fpn_channels] * 5))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
voc_filter = dict(filter_empty_gt=True, min_size=32, bbox_min_size=32)
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(dataset=dict(datasets=[
        dict(type='VOCDataset', data_root=data_root, ann_file='VOC2007/ImageSets/Main/trainval.txt',
             data_prefix=dict(sub_data_root='VOC2007/'), filter_cfg=voc_filter,
             pipeline=train_pipeline),
        dict(type='VOCDataset', data_root=data_root, ann_file='VOC2012/ImageSets/Main/trainval.txt',
             data_prefix=dict(sub_data_root='VOC2012/'), filter_cfg=voc_filter,
             pipeline=train_pipeline),
    ])))
val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

# lr 0.01 is the framework's for 16 images per batch: scaled linearly to 4, held constant (a
# stage is a few dozen iterations).
optim_wrapper = dict(optimizer=dict(lr=0.0025))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True, begin=0, end=1000)]
custom_hooks = [
    dict(type='mmlearnloss.StopLossGradHook', epoch=1),
    dict(type='mmlearnloss.GroundTruthFrameHook'),
]
default_hooks = dict(logger=dict(interval=2), checkpoint=dict(interval=1, max_keep_ckpts=1))

train_cfg = dict(num_stages=3, initial_size=16, query_size=16, subset_size=None, max_epochs=2)
