"""StageCheckpoints on its own: the checkpoint hooks it names per stage."""
from mmengine.hooks import CheckpointHook, Hook

from mmlearnloss.active.checkpoints import StageCheckpoints


class BestCheckpointHook(CheckpointHook):
    """A project's checkpoint hook: a CheckpointHook all the same."""


def test_checkpoint_hooks_and_their_subclasses_get_the_stage_file_names(tmp_path):
    hooks = [CheckpointHook(max_keep_ckpts=3), BestCheckpointHook(), Hook()]
    StageCheckpoints(str(tmp_path), keep=1).name(hooks, stage=2)
    assert [hook.filename_tmpl for hook in hooks[:2]] == ['stage_2_epoch_{}.pth'] * 2
    assert [hook.max_keep_ckpts for hook in hooks[:2]] == [-1, -1]  # the loop prunes instead
    assert not hasattr(hooks[2], 'filename_tmpl')


def test_without_keep_the_hook_keeps_its_own_limit(tmp_path):
    hook = CheckpointHook(max_keep_ckpts=3)
    StageCheckpoints(str(tmp_path), keep=None).name([hook], stage=0)
    assert hook.filename_tmpl == 'stage_0_epoch_{}.pth' and hook.max_keep_ckpts == 3
