# CPU-sized active learning on the mini MPII set (tools/make_mini_datasets.py).
# Same model, taps, loss and loop as ../hourglass_mpii_learnloss.py at 128 px (the smallest
# input the 4 downsamplings allow), fewer samples and epochs.
_base_ = '../hourglass_mpii_learnloss.py'
data_root = 'data/mini/mpii/'
codec = dict(type='MSRAHeatmap', input_size=(128, 128), heatmap_size=(32, 32), sigma=1)

# No flip test-time augmentation: halves the validation time on CPU.
model = dict(architecture=dict(head=dict(decoder=codec), test_cfg=dict(flip_test=False)))
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        pipeline=[
            dict(type='LoadImage'),
            dict(type='GetBBoxCenterScale'),
            dict(type='RandomFlip', direction='horizontal'),
            dict(type='RandomBBoxTransform', shift_prob=0),
            dict(type='TopdownAffine', input_size=codec['input_size']),
            dict(type='GenerateTarget', encoder=codec),
            dict(type='PackPoseInputs')
        ]))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        headbox_file=data_root + 'annotations/mpii_gt_val.mat',
        pipeline=[
            dict(type='LoadImage'),
            dict(type='GetBBoxCenterScale'),
            dict(type='TopdownAffine', input_size=codec['input_size']),
            dict(type='GenerateTarget', encoder=codec),
            dict(type='PackPoseInputs')
        ]))
test_dataloader = val_dataloader

param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True, begin=0, end=1000)]
custom_hooks = [dict(type='mmlearnloss.StopLossGradHook', epoch=2)]
default_hooks = dict(logger=dict(interval=2), checkpoint=dict(interval=1, max_keep_ckpts=1,
                                                              save_best=None))

train_cfg = dict(num_stages=3, initial_size=16, query_size=16, subset_size=48, max_epochs=3)
