"""Compatibility fixes applied when mmlearnloss is imported."""
import torch
from mmengine.runner.checkpoint import CheckpointLoader


def _load_local_checkpoint(filename, map_location=None, logger=None):
    # mmengine 0.10.7 calls torch.load without weights_only; torch >= 2.6 defaults it to True and
    # rejects mmengine's own checkpoints (they hold numpy and config objects), so --resume fails.
    # Local files are the user's own checkpoints, so full unpickling is the intended behaviour.
    import os.path as osp
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)


CheckpointLoader.register_scheme(prefixes='', force=True)(_load_local_checkpoint)
