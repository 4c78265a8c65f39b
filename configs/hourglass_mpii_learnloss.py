# Active learning with learning loss: mmpose's stacked hourglass on MPII (paper Sec. 4.3).
#   python tools/al_train.py configs/hourglass_mpii_learnloss.py
# For plain training set train_cfg=dict(_delete_=True, type='EpochBasedTrainLoop', max_epochs=125).
#
# Network: the paper uses Newell et al.'s 2-stack hourglass. mmpose's HourglassNet defaults are
# far wider (2 stacks of it: 188M parameters), so the stacks here follow Newell's shape: 256
# channels and one residual block at every level, 4 downsamplings (34.7M parameters with 2
# stacks). Inputs must be at least 128 px. CPMHead supervises both stacks (intermediate
# supervision, as in Newell et al.).
_base_ = ('mmpose::body_2d_keypoint/topdown_heatmap/mpii/'
          'td-hm_hourglass52_8xb64-210e_mpii-256x256.py')
custom_imports = dict(imports=['mmlearnloss'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='mmlearnloss.LearningLoss',
    architecture=dict(
        type='TopdownPoseEstimator',
        data_preprocessor={{_base_.model.data_preprocessor}},
        backbone=dict(
            type='HourglassNet',
            num_stacks=2,
            downsample_times=4,
            stage_channels=(256, ) * 5,
            stage_blocks=(1, ) * 5,
            feat_channel=256),
        head=dict(
            type='CPMHead',
            in_channels=256,
            out_channels=16,
            num_stages=2,
            deconv_out_channels=None,
            loss=dict(type='KeypointMSELoss', use_target_weight=True),
            decoder={{_base_.codec}}),
        test_cfg={{_base_.model.test_cfg}}),
    # The backbone returns both stacks' outputs; no index taps both.
    taps=['backbone'],
    loss_prediction_head=dict(type='mmlearnloss.LossPredictionHead', in_channels=[256, 256]),
    # λ=1e-4: the heatmap MSE is ~1e-3, so the ranking loss would otherwise dominate (paper).
    loss=dict(type='mmlearnloss.LossPredictionLoss', margin=1.0, loss_weight=1e-4))

# Paper: batch 6, 125 epochs, gradient stopped after 75. Optimizer as mmpose's config.
train_dataloader = dict(batch_size=6)
param_scheduler = [
    dict(type='LinearLR', begin=0, end=500, start_factor=0.001, by_epoch=False),
    dict(type='MultiStepLR', begin=0, end=125, milestones=[100], gamma=0.1, by_epoch=True)
]
# Paper protocol: 1000 random initial person samples, +1000 per stage, top-K of a random
# subset of 5000 unlabeled samples; 125 epochs per stage.
train_cfg = dict(
    _delete_=True,
    type='mmlearnloss.ActiveLearningLoop',
    num_stages=10,
    initial_size=1000,
    query_size=1000,
    subset_size=5000,
    max_epochs=125,
    strategy='learning_loss',
    seed=0,
    reinit=True)
custom_hooks = [dict(type='mmlearnloss.StopLossGradHook', epoch=75)]

# The ranking metric compares the prediction with each sample's real loss, so validation
# samples need their target heatmaps too.
val_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size={{_base_.codec.input_size}}),
    dict(type='GenerateTarget', encoder={{_base_.codec}}),
    dict(type='PackPoseInputs')
]))
test_dataloader = val_dataloader
val_evaluator = [dict(type='MpiiPCKAccuracy'), dict(type='mmlearnloss.LossRankingMetric')]
test_evaluator = val_evaluator
