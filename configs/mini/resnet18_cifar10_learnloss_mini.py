# CPU-sized active learning on the mini CIFAR-10 set (tools/make_mini_datasets.py).
# Same model, taps, loss and loop as ../resnet18_cifar10_learnloss.py; fewer samples and epochs.
_base_ = '../resnet18_cifar10_learnloss.py'
custom_imports = dict(imports=['mmlearnloss', 'mmlearnloss.datasets'], allow_failed_imports=False)
data_root = 'data/mini/cifar10'

# MiniCIFAR10 is mmpretrain's CIFAR10 without the md5 check of the official files.
train_dataloader = dict(batch_size=32, num_workers=0, persistent_workers=False,
                        dataset=dict(type='MiniCIFAR10', data_root=data_root))
val_dataloader = dict(batch_size=100, num_workers=0, persistent_workers=False,
                      dataset=dict(type='MiniCIFAR10', data_root=data_root))
test_dataloader = val_dataloader

param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[12], gamma=0.1)
custom_hooks = [dict(type='mmlearnloss.StopLossGradHook', epoch=9)]
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=5, max_keep_ckpts=1))

train_cfg = dict(num_stages=3, initial_size=100, query_size=100, subset_size=300, max_epochs=15)
