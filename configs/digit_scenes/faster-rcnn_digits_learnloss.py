# Faster R-CNN with learning loss on the detection scenes of real MNIST digits in VOC format
# (python tools/make_digit_scenes.py --out data/digit_scenes), sized for 2 CPU cores.
#   python tools/al_train.py configs/digit_scenes/faster-rcnn_digits_learnloss.py
# One hop from the shipped ../faster-rcnn_voc_learnloss.py; what changes, and nothing else:
# - data: the digit scenes (VOC2007 + VOC2012 trainval pool, VOC2007 test), classes '0'-'9';
# - input size: the framework's pipelines with scale 128 instead of (1000, 600);
# - network size: ResNet-18 at half width, trained from scratch (nothing frozen), FPN, RPN and
#   RoI head at 64 channels, fully connected layers of 256, fewer proposals and sampled RoIs;
#   anchors of scale 4 instead of 8 (digits are 16-51 px at this input). The loss prediction
#   head taps the same five FPN levels;
# - schedule: shorter stages, fewer samples (200 initial, +200 per stage).
_base_ = '../faster-rcnn_voc_learnloss.py'
data_root = 'data/digit_scenes/VOCdevkit/'
metainfo = dict(classes=('0', '1', '2', '3', '4', '5', '6', '7', '8', '9'))
img_scale = (128, 128)
fpn_channels = 64

model = dict(
    architecture=dict(
        backbone=dict(depth=18, base_channels=32, frozen_stages=-1, norm_eval=False,
                      init_cfg=None),
        neck=dict(in_channels=[32, 64, 128, 256], out_channels=fpn_channels),
        rpn_head=dict(in_channels=fpn_channels, feat_channels=fpn_channels,
                      anchor_generator=dict(scales=[4])),
        roi_head=dict(
            bbox_roi_extractor=dict(out_channels=fpn_channels),
            bbox_head=dict(in_channels=fpn_channels, fc_out_channels=256, num_classes=10)),
        train_cfg=dict(
            rpn_proposal=dict(nms_pre=500, max_per_img=200),
            rcnn=dict(sampler=dict(num=64))),
        test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=100))),
    loss_prediction_head=dict(in_channels=[fpn_channels] * 5))

# mmdet's voc0712 pipelines, with scale 128.
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
    # avoid bboxes being resized (mmdet's comment): the evaluator compares original boxes
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
# The framework marks boxes under 32 px as ignored in training (VOC objects are large); the
# digits are 20-64 px tall, 5-50 px wide.
voc_filter = dict(filter_empty_gt=True, min_size=32, bbox_min_size=4)
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(dataset=dict(datasets=[
        dict(type='VOCDataset', data_root=data_root, metainfo=metainfo,
             ann_file='VOC2007/ImageSets/Main/trainval.txt',
             data_prefix=dict(sub_data_root='VOC2007/'), filter_cfg=voc_filter,
             pipeline=train_pipeline),
        dict(type='VOCDataset', data_root=data_root, metainfo=metainfo,
             ann_file='VOC2012/ImageSets/Main/trainval.txt',
             data_prefix=dict(sub_data_root='VOC2012/'), filter_cfg=voc_filter,
             pipeline=train_pipeline),
    ])))
val_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader

# lr 0.01 is the framework's for 16 images per batch: scaled linearly to 8.
max_epochs = 12
optim_wrapper = dict(optimizer=dict(lr=0.005))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[9], gamma=0.1)
]
custom_hooks = [
    dict(type='mmlearnloss.StopLossGradHook', epoch=7),
    dict(type='mmlearnloss.GroundTruthFrameHook'),
]
default_hooks = dict(logger=dict(interval=10))
train_cfg = dict(num_stages=5, initial_size=200, query_size=200, max_epochs=max_epochs)
