"""Every active-learning stage starts like a run of the config: hooks that keep state for one run
(mmengine's EMAHook, mmdet's PipelineSwitchHook, CheckpointHook's best score) are built again for
each stage, flags that a hook set on the model are undone, and a stage resumed mid-way gets the
hooks' state back from its checkpoint. An RTMDet-style SSD config (EMA weights, a pipeline
switched for the last epochs) through tools/al_train.py's config on mini VOC, in this process so
that a probe hook can look at the hooks the loop runs."""
import hashlib
import json
import os
import shutil

import pytest
import torch
from mmengine.hooks import EMAHook, Hook
from mmengine.registry import HOOKS
from mmengine.runner import Runner

import al_train
from conftest import config_path
from mmlearnloss.testing.voc import make_voc

#: What the probe saw, in order; reset before every run.
RECORDS = []

CONFIG = f'''
_base_ = {config_path('mini/ssd_voc_learnloss_mini.py')!r}
# The pool: VOC2007 trainval only, without the RepeatDataset/ConcatDataset wrappers, so that
# PipelineSwitchHook can replace the dataset's pipeline (as with RTMDet's CocoDataset).
train_dataloader = dict(batch_size=2, dataset=dict(
    _delete_=True, type='VOCDataset', data_root={{{{_base_.data_root}}}},
    ann_file='VOC2007/ImageSets/Main/trainval.txt', data_prefix=dict(sub_data_root='VOC2007/'),
    filter_cfg=dict(filter_empty_gt=True, min_size=32), pipeline={{{{_base_.train_pipeline}}}}))
val_dataloader = dict(batch_size=2)
# RTMDet's EMA, and from the second epoch a pipeline that trains on 320 px instead of 300 px.
switch_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(320, 320), keep_ratio=False),
    dict(type='PackDetInputs'),
]
custom_hooks = [
    dict(type='NumClassCheckHook'),
    dict(type='mmlearnloss.StopLossGradHook', epoch=1),
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0002, update_buffers=True,
         priority=49),
    dict(type='PipelineSwitchHook', switch_epoch=1, switch_pipeline=switch_pipeline),
    dict(type='FlagSwitchHook', switch_epoch=1),
    dict(type='StageProbeHook'),
]
default_hooks = dict(checkpoint=dict(save_best='pascal_voc/mAP', rule='greater'))
train_cfg = dict(num_stages=2, initial_size=2, query_size=2, max_epochs=2, keep_checkpoints=2)
'''


@HOOKS.register_module(force=True)
class FlagSwitchHook(Hook):
    """Sets a flag on the model once per run at ``switch_epoch``, as YOLOXModeSwitchHook sets
    ``bbox_head.use_l1``. SSDHead reads ``use_depthwise`` only when it is built, so training is
    unchanged."""

    def __init__(self, switch_epoch: int):
        self.switch_epoch = switch_epoch
        self._has_switched = False

    def before_train_epoch(self, runner) -> None:
        if runner.epoch >= self.switch_epoch and not self._has_switched:
            runner.model.architecture.bbox_head.use_depthwise = True
            self._has_switched = True


def digest(state_dict) -> str:
    sha = hashlib.sha256()
    for key in sorted(state_dict):
        sha.update(key.encode())
        sha.update(state_dict[key].detach().cpu().contiguous().numpy().tobytes())
    return sha.hexdigest()


@HOOKS.register_module(force=True)
class StageProbeHook(Hook):
    """Records the EMA hook's state when a stage's training starts and after every epoch, and
    the image size and the model's flag of every iteration."""

    priority = 'LOWEST'  # after the loop's resume and every other hook

    def before_train(self, runner) -> None:
        RECORDS.append(dict(event='start', **self._ema(runner)))

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        RECORDS.append(dict(event='iter', stage=runner.train_loop.stage, epoch=runner.epoch,
                            size=tuple(data_batch['inputs'][0].shape[-2:]),
                            flag=runner.model.architecture.bbox_head.use_depthwise))

    def after_train_epoch(self, runner) -> None:
        RECORDS.append(dict(event='epoch_end', **self._ema(runner)))

    def after_train(self, runner) -> None:
        RECORDS.append(dict(event='end', **self._ema(runner)))

    @staticmethod
    def _ema(runner) -> dict:
        ema = next(hook for hook in runner.hooks if isinstance(hook, EMAHook))
        averaged = ema.ema_model.module.state_dict()
        initial = runner.train_loop._initial_weights
        return dict(stage=runner.train_loop.stage, epoch=runner.epoch,
                    steps=int(ema.ema_model.steps), ema=digest(averaged),
                    model=digest(runner.model.state_dict()),
                    ema_is_initial=all(torch.equal(v, initial[k]) for k, v in averaged.items()))


def train(config, work_dir, name, resume=False):
    """tools/al_train.py's config for ``config``, trained in this process; returns the records."""
    RECORDS.clear()
    argv = [str(config), '--work-dir', str(work_dir)] + (['--resume'] if resume else [])
    cfg = al_train.build_config(al_train.parse_args(argv))
    cfg.experiment_name = name  # its own logger and message hub
    Runner.from_cfg(cfg).train()
    return list(RECORDS)


def truncate_to_mid_stage_two(whole, killed):
    """``killed``: ``whole``'s run as if killed after epoch 1 of stage 2, its checkpoint written."""
    os.makedirs(killed)
    shutil.copytree(whole / 'splits', killed / 'splits')
    shutil.copy(whole / 'initial_weights.pth', killed)
    shutil.copy(whole / 'stage_1_epoch_1.pth', killed)
    (killed / 'last_checkpoint').write_text(str(killed / 'stage_1_epoch_1.pth'))
    state = json.loads((whole / 'al_state.json').read_text())
    state['stage'] = 1
    state['stages'][1].update(status='split_written', checkpoint=None, metrics={})
    (killed / 'al_state.json').write_text(json.dumps(state))


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp('stage_hooks')
    make_voc(str(root / 'data' / 'mini'), n07=4, n12=1, n_test=2, seed=0)
    config = root / 'ssd_ema_pipeline_switch.py'
    config.write_text(CONFIG)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)  # the mini configs' data_root is relative
        whole = train(config, root / 'whole', 'stage_hooks_whole')
        truncate_to_mid_stage_two(root / 'whole', root / 'killed')
        resumed = train(config, root / 'killed', 'stage_hooks_resumed', resume=True)
    return dict(root=root, whole=whole, resumed=resumed)


def events(records, event, stage=None):
    return [r for r in records if r['event'] == event and (stage is None or r['stage'] == stage)]


def test_ema_starts_every_stage_from_the_initial_weights_with_no_steps(runs):
    starts, ends = events(runs['whole'], 'start'), events(runs['whole'], 'end')
    assert [(r['stage'], r['epoch']) for r in starts] == [(0, 0), (1, 0)]
    assert all(r['ema_is_initial'] and r['steps'] == 0 for r in starts)
    # stage 1 moved the average away from the initial weights; stage 2 did not start from it
    assert not ends[0]['ema_is_initial']
    assert starts[1]['ema'] != ends[0]['ema']
    # the step count is the stage's own iterations, not the run's
    for stage, end in enumerate(ends):
        assert end['steps'] == len(events(runs['whole'], 'iter', stage)) > 0


def test_pipeline_switches_at_its_epoch_in_every_stage(runs):
    sizes = {(r['stage'], r['epoch']): r['size'] for r in events(runs['whole'], 'iter')}
    assert sizes == {(0, 0): (300, 300), (0, 1): (320, 320),
                     (1, 0): (300, 300), (1, 1): (320, 320)}


def test_a_flag_a_hook_set_on_the_model_is_undone_for_the_next_stage(runs):
    flags = {(r['stage'], r['epoch']): r['flag'] for r in events(runs['whole'], 'iter')}
    assert flags == {(0, 0): False, (0, 1): True, (1, 0): False, (1, 1): True}


def test_every_stage_keeps_its_own_best_checkpoint(runs):
    root = runs['root'] / 'whole'
    assert sorted(p.name for p in root.glob('best_*.pth')) == [
        'best_pascal_voc_mAP_stage_0_epoch_2.pth', 'best_pascal_voc_mAP_stage_1_epoch_2.pth']


def test_a_stage_resumed_mid_way_gets_its_ema_state_from_the_checkpoint(runs):
    start, = events(runs['resumed'], 'start')
    # stage_1_epoch_1.pth was written at the end of stage 2's first epoch (runner.epoch 0)
    saved = [r for r in events(runs['whole'], 'epoch_end', 1) if r['epoch'] == 0][0]
    assert (start['stage'], start['epoch']) == (1, 1)
    # the averaged weights, their step count and the model's own weights of that epoch's end
    assert start['steps'] == saved['steps'] > 0
    assert start['ema'] == saved['ema'] and start['model'] == saved['model']
    assert start['ema'] != start['model']
    # the switched pipeline from the first resumed epoch on
    assert {r['size'] for r in events(runs['resumed'], 'iter')} == {(320, 320)}


def test_a_stage_resumed_mid_way_ends_like_the_uninterrupted_one(runs):
    end, = events(runs['resumed'], 'end')
    reference = events(runs['whole'], 'end', 1)[0]
    assert end['steps'] == reference['steps']
    resumed, whole = (torch.load(runs['root'] / run / 'stage_1_epoch_2.pth', map_location='cpu',
                                 weights_only=False) for run in ('killed', 'whole'))
    for key in ('state_dict', 'ema_state_dict'):
        for name, value in whole[key].items():
            torch.testing.assert_close(resumed[key][name], value, msg=f'{key} {name}')
