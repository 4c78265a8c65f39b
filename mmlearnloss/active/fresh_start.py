"""What every stage resets to start like a new run of the config: the initial weights, the
modules' modes, the hooks, the optimizer and its schedules."""
import copy
import os
import os.path as osp
from typing import List, Set, Tuple

import torch
from mmengine.dist import is_main_process

#: A module, its public plain attributes and its submodules, as :func:`module_modes` took them.
ModuleModes = List[Tuple[torch.nn.Module, dict, dict]]


def initial_weights(model: torch.nn.Module, path: str) -> dict:
    """The weights every stage starts from, saved once in ``path`` so a resumed run uses them
    too (and loaded into ``model`` when it resumes)."""
    if osp.exists(path):
        weights = torch.load(path, map_location='cpu', weights_only=True)
        model.load_state_dict(weights)
    else:
        weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        if is_main_process():
            tmp = path + '.tmp'
            torch.save(weights, tmp)
            os.replace(tmp, path)
    return weights


def module_modes(model: torch.nn.Module) -> ModuleModes:
    """Every submodule with its public plain attributes (flags, numbers, names) and its
    submodules, for :func:`restore_module_modes`."""
    plain = (bool, int, float, str, tuple, type(None))
    modes = []
    for module in model.modules():
        attributes = {name: value for name, value in vars(module).items()
                      if not name.startswith('_') and name != 'training'
                      and isinstance(value, plain)}
        modes.append((module, attributes, dict(module.named_children())))
    return modes


def restore_module_modes(modes: ModuleModes) -> None:
    """Give every submodule back its attributes and submodules as :func:`module_modes` took
    them: mode-switch hooks set them (YOLOX's ``bbox_head.use_l1``, SwitchRecipeHook's
    ``head.loss_module``) and loading weights does not undo them."""
    for module, attributes, children in modes:
        for name, value in {**attributes, **children}.items():
            setattr(module, name, value)


def restart_hooks(runner, run_info_keys: Set[str]) -> None:
    """Build the config's hooks again and call their ``before_run``, as a new run would.

    Hooks keep state for one run: EMAHook its averaged model and step count,
    PipelineSwitchHook and YOLOXModeSwitchHook that they switched, CheckpointHook the
    best score (in the message hub, with the checkpoints it kept). A hook registered by
    code rather than the config cannot be built again and keeps its state.

    Args:
        runner (Runner): The runner.
        run_info_keys (set[str]): The message hub's runtime info from before the run; what
            hooks added since is removed.
    """
    previous = list(runner.hooks)
    runner.hooks.clear()
    runner.register_hooks(copy.deepcopy(runner.cfg.get('default_hooks')),
                          copy.deepcopy(runner.cfg.get('custom_hooks')))
    built = {type(hook) for hook in runner.hooks}
    for hook in previous:
        if type(hook) not in built:
            runner.register_hook(hook)
    for key in list(runner.message_hub.runtime_info):
        if key not in run_info_keys:
            runner.message_hub.pop_info(key)
    runner.call_hook('before_run')


def fresh_optimizer(runner, max_iters: int) -> None:
    """Give the runner a new optimizer and new parameter schedulers from its config, as a new
    run of ``max_iters`` iterations would have."""
    runner.optim_wrapper = runner.build_optim_wrapper(copy.deepcopy(runner.cfg.optim_wrapper))
    # mmengine scales the lr of a fresh optimizer, before schedulers store it as initial lr.
    runner.param_schedulers = copy.deepcopy(runner.cfg.get('param_scheduler'))
    runner.scale_lr(runner.optim_wrapper, runner.auto_scale_lr)
    if runner.param_schedulers is not None:
        runner.param_schedulers = runner.build_param_scheduler(runner.param_schedulers)
    runner.optim_wrapper.initialize_count_status(runner.model, 0, max_iters)
