"""The checkpoints of an active-learning run: each stage its own, ``stage_<k>_epoch_<n>.pth``."""
import glob
import os
import os.path as osp
import re
from typing import List, Optional, Tuple

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

from .state import ALState


class StageCheckpoints:
    """Names, lists, prunes and finds the checkpoints of every stage in the work dir.

    Args:
        work_dir (str): The run's work dir, where the ``CheckpointHook`` saves.
        keep (int, optional): Checkpoints kept of the stage in progress, the newest; None keeps
            every checkpoint the hook writes.
    """

    def __init__(self, work_dir: str, keep: Optional[int] = 1) -> None:
        self.work_dir = work_dir
        self.keep = keep

    def name(self, hooks, stage: int) -> None:
        """Give every stage its own checkpoint names so stages never overwrite each other.

        With ``keep`` the loop, not the hook, deletes old checkpoints: the option stands in for
        the hook's ``max_keep_ckpts``. The hook is built again every stage, so set its file
        names again after the hooks are restarted.
        """
        for hook in hooks:
            if isinstance(hook, CheckpointHook):
                hook.filename_tmpl = f'stage_{stage}_epoch_{{}}.pth'
                if self.keep is not None:
                    hook.max_keep_ckpts = -1

    def prune(self, stage: int) -> None:
        """Delete the stage's checkpoints but the newest ``keep``."""
        if self.keep is None or not is_main_process():
            return
        for _, path in self.of_stage(stage)[:-self.keep]:
            os.remove(path)

    def of_stage(self, stage: int) -> List[Tuple[int, str]]:
        """(epoch, path) of the stage's checkpoints in the work dir, oldest first."""
        pattern = osp.join(self.work_dir, f'stage_{stage}_epoch_*.pth')
        found = []
        for path in glob.glob(pattern):
            match = re.search(r'_epoch_(\d+)\.pth$', path)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found)

    def latest(self, stage: int) -> Optional[str]:
        """The stage's newest complete checkpoint.

        mmengine writes a checkpoint in place and names it in ``last_checkpoint`` once it is
        written: a newer one of the stage is what a kill interrupted, and is deleted.
        """
        found = self.of_stage(stage)
        record = osp.join(self.work_dir, 'last_checkpoint')
        last = None
        if osp.exists(record):
            with open(record) as f:
                last = osp.basename(f.read().strip())
        complete = next((epoch for epoch, path in found if osp.basename(path) == last), 0)
        for epoch, path in found:
            if epoch > complete:
                print_log(f'Stage {stage + 1}: {path} was not completely written (the run '
                          f'stopped while saving it); deleted.', logger='current', level=30)
                if is_main_process():
                    os.remove(path)
        found = [(epoch, path) for epoch, path in found if epoch <= complete]
        return found[-1][1] if found else None

    def check_resume_from(self, path: Optional[str], state: ALState, num_stages: int,
                          resume: bool) -> Optional[str]:
        """The checkpoint ``--resume CHECKPOINT`` names, if it is one the stage in progress
        can resume training from.

        Args:
            path (str, optional): The checkpoint; None returns None.
            state (ALState): The run's state.
            num_stages (int): The run's number of stages.
            resume (bool): Whether the run resumes.

        Returns:
            str | None: The checkpoint's absolute path.
        """
        if path is None:
            return None
        stage = state.stage
        record = state.stages[stage] if stage < len(state.stages) else None
        if not resume or record is None or record['status'] != 'split_written':
            where = (f'has finished its {num_stages} stage(s)' if record is None else
                     f'has trained stage {stage + 1} (status {record["status"]!r})')
            raise ValueError(f'--resume {path}: the run in {self.work_dir} is not training '
                             f'a stage: it {where}; resume it without a checkpoint.')
        if not osp.isfile(path):
            raise FileNotFoundError(f'--resume {path}: no such checkpoint file.')
        if not re.fullmatch(rf'stage_{stage}_epoch_\d+\.pth', osp.basename(path)):
            have = [osp.basename(p) for _, p in self.of_stage(stage)]
            raise ValueError(f'--resume {path}: stage {stage + 1} is in progress, so training '
                             f'resumes from one of its own checkpoints, '
                             f'stage_{stage}_epoch_<n>.pth '
                             f'(here: {", ".join(have) or "none yet"}).')
        return osp.abspath(path)
