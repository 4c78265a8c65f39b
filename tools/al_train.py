"""Run a whole active-learning experiment: python tools/al_train.py CONFIG [options].

The config's ``train_cfg`` is an ``mmlearnloss.ActiveLearningLoop``; everything else (model,
datasets, evaluator, schedule) is the framework's config. Flags follow the frameworks'
tools/train.py.
"""
import argparse
import os
import os.path as osp
import sys
import traceback

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction
from mmengine.runner import Runner
from mmengine.utils import import_modules_from_strings

import mmlearnloss
from mmlearnloss.active.state import ALStateError

#: Errors that report a problem with the user's settings, data or state files, when mmlearnloss
#: raises them (see :func:`is_user_error`).
USER_ERRORS = (ALStateError, FileExistsError, FileNotFoundError, ValueError)
#: Where the project's own code lives: errors raised here are written for the user.
PROJECT_DIRS = tuple(osp.join(osp.dirname(osp.abspath(path)), '')
                     for path in (__file__, mmlearnloss.__file__))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Active learning with learning loss')
    parser.add_argument('config', help='config file, e.g. configs/ssd_voc_learnloss.py')
    parser.add_argument('--work-dir', help='where state, splits, checkpoints and logs go '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', const=True, default=False, metavar='CHECKPOINT',
                        help='continue the run in --work-dir from its al_state.json (with '
                        '--seeds: every seed that started; the others start); the stage in '
                        'progress trains on from its newest complete checkpoint, or from '
                        'CHECKPOINT, one of its own stage_<k>_epoch_<n>.pth')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision training (the config\'s OptimWrapper '
                        'becomes an AmpOptimWrapper with dynamic loss scale)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr of every stage by the real batch size (batch size x '
                        'processes) over the config\'s auto_scale_lr.base_batch_size')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. train_cfg.num_stages=3')
    parser.add_argument('--seeds', type=int, nargs='+',
                        help='run one trial per seed, in WORK_DIR/seed_<s> (the layout the plot '
                        'tools read); default: the config\'s train_cfg.seed in WORK_DIR')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--debug', action='store_true',
                        help='show the full traceback of configuration and data errors too '
                        '(errors raised by the frameworks always show theirs)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_config(args, seed=None) -> Config:
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
        # mmengine imports custom_imports when it loads the file, not when an option sets them.
        if cfg.get('custom_imports'):
            import_modules_from_strings(**cfg.custom_imports)
    cfg.launcher = args.launcher
    name = osp.splitext(osp.basename(args.config))[0]
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join('./work_dirs', name)
    loop_type = str(cfg.get('train_cfg', {}).get('type', ''))
    if not loop_type.endswith('ActiveLearningLoop'):
        sys.exit(f'{args.config}: train_cfg.type is {loop_type!r}; al_train.py needs '
                 f"train_cfg=dict(_delete_=True, type='mmlearnloss.ActiveLearningLoop', ...). "
                 f'For plain training use the framework\'s tools/train.py.')
    if seed is not None:
        cfg.work_dir = osp.join(cfg.work_dir, f'seed_{seed}')
        cfg.train_cfg.seed = seed
        cfg.experiment_name = f'{name}_seed_{seed}'
    state = osp.join(cfg.work_dir, 'al_state.json')
    if osp.exists(state) and not args.resume:
        sys.exit(f'{state} exists: this work dir holds an active-learning run. Pass --resume to '
                 f'continue it, or choose another --work-dir.')
    if args.resume and not osp.exists(state) and seed is None:
        sys.exit(f'--resume: no {state}; nothing to resume in {cfg.work_dir}.')
    # The loop resumes stage by stage from its state file; the runner's own resume would load a
    # checkpoint before the loop knows which stage it belongs to. A seed that never started
    # starts.
    cfg.resume = False
    cfg.train_cfg.resume = bool(args.resume) and osp.exists(state)
    if isinstance(args.resume, str):
        if args.seeds and len(args.seeds) > 1:
            sys.exit(f'--resume {args.resume}: a checkpoint belongs to one run; with several '
                     '--seeds resume without a checkpoint, or give one --seeds.')
        cfg.train_cfg.resume_from = args.resume
    if args.amp:
        enable_amp(cfg, args.config)
    if args.auto_scale_lr:
        auto_scale = cfg.get('auto_scale_lr') or {}
        if 'base_batch_size' not in auto_scale:
            sys.exit(f'--auto-scale-lr: {args.config} has no auto_scale_lr.base_batch_size, the '
                     'batch size its lr was set for; add auto_scale_lr = dict(enable=False, '
                     'base_batch_size=N) to the config (mmdet\'s configs have it).')
        cfg.auto_scale_lr = dict(auto_scale, enable=True)
    if args.launcher != 'none' and not torch.cuda.is_available():
        # CPU processes (tests, CPU-only nodes): gloo, and DDP without device ids. mmengine's
        # defaults (nccl, device_ids=[LOCAL_RANK]) assume one GPU per process.
        cfg.env_cfg = dict(cfg.get('env_cfg') or {})
        cfg.env_cfg['dist_cfg'] = dict(cfg.env_cfg.get('dist_cfg') or {}, backend='gloo')
        cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None,
                                     broadcast_buffers=False)
    # A fixed runner seed (sampler order, initial weights) makes stages reproducible on resume.
    randomness = cfg.get('randomness') or {}
    if randomness.get('seed') is None:
        cfg.randomness = dict(randomness, seed=cfg.train_cfg.get('seed', 0))
    return cfg


def enable_amp(cfg: Config, config_file: str) -> None:
    """Mixed precision as the frameworks' ``tools/train.py --amp`` sets it."""
    wrapper = cfg.get('optim_wrapper') or {}
    kind = wrapper.get('type', 'OptimWrapper')
    if kind == 'AmpOptimWrapper':
        print(f'--amp: {config_file} trains with AmpOptimWrapper already.', flush=True)
        return
    if kind != 'OptimWrapper':
        sys.exit(f'--amp: the optim_wrapper of {config_file} is a {kind}; --amp turns an '
                 f'OptimWrapper into an AmpOptimWrapper. Set optim_wrapper.type in the config.')
    from mmengine.device import (is_cuda_available, is_mlu_available, is_musa_available,
                                 is_npu_available)
    if not (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available()):
        sys.exit('--amp: mmengine\'s AmpOptimWrapper trains on a GPU (CUDA, NPU, MLU or MUSA) '
                 'only, and this machine has none; leave --amp out on the CPU.')
    cfg.optim_wrapper = dict(wrapper, type='AmpOptimWrapper', loss_scale='dynamic')


def is_user_error(error: BaseException) -> bool:
    """Whether ``error`` reports bad settings, data or state in words for the user: one of
    :data:`USER_ERRORS` raised by mmlearnloss or its tools (or re-raised with its message by
    mmengine's registry, which builds our components). The same types raised inside the
    frameworks, and anything else, keep their traceback: they may be bugs."""
    seen = set()
    while isinstance(error, USER_ERRORS) and id(error) not in seen:
        seen.add(id(error))
        frames = traceback.extract_tb(error.__traceback__)
        if frames and osp.abspath(frames[-1].filename).startswith(PROJECT_DIRS):
            return True
        error = error.__cause__ or error.__context__
    return False


def init_cpu_distributed(launcher: str) -> None:
    """Start the process group for CPU processes, which mmengine's init_dist cannot (it
    selects a CUDA device first). The Runner then finds it initialised and uses it."""
    if launcher == 'none' or torch.cuda.is_available() or dist.is_initialized():
        return
    if launcher != 'pytorch':
        sys.exit(f'--launcher {launcher} without CUDA is not supported; use torchrun '
                 f'(--launcher pytorch) on CPU.')
    dist.init_process_group(backend='gloo')


def main(argv=None):
    args = parse_args(argv)
    init_cpu_distributed(args.launcher)
    for seed in args.seeds or [None]:
        cfg = build_config(args, seed)
        if seed is not None:
            print(f'===== Trial with seed {seed}: {cfg.work_dir} =====', flush=True)
        try:
            runner = Runner.from_cfg(cfg)
            runner.train()
        except USER_ERRORS as error:
            # Bad settings, data or state files: the message says what to do; no traceback.
            if args.debug or not is_user_error(error):
                raise
            sys.exit(f'al_train.py: error: {type(error).__name__}: {error}')
    if dist.is_available() and dist.is_initialized():
        # Left to interpreter exit, gloo's threads can abort the process ('terminate called
        # without an active exception'), which torchrun reports as a failed rank.
        dist.barrier()
        dist.destroy_process_group()


if __name__ == '__main__':
    main()
