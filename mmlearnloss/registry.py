"""Registries of mmlearnloss, children of mmengine's root registries.

Configs reach the components as ``type='mmlearnloss.<Name>'`` from any default scope
(mmdet, mmpose, mmpretrain): mmengine resolves the ``mmlearnloss.`` prefix through the root.
"""
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='mmlearnloss',
                  locations=['mmlearnloss.models'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='mmlearnloss',
                 locations=['mmlearnloss.engine'])
METRICS = Registry('metric', parent=MMENGINE_METRICS, scope='mmlearnloss',
                   locations=['mmlearnloss.evaluation'])
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, scope='mmlearnloss',
                 locations=['mmlearnloss.active'])
TASK_UTILS = Registry('task util', parent=MMENGINE_TASK_UTILS, scope='mmlearnloss',
                      locations=['mmlearnloss.active', 'mmlearnloss.annotation'])
#: Per-sample loss computations (``ReplayAdapter`` and the family adapters), picked for an
#: architecture by its class or named by ``LearningLoss(per_sample=...)``.
PER_SAMPLE = Registry('per-sample loss', scope='mmlearnloss',
                      locations=['mmlearnloss.models.per_sample'])
#: Who labels the selected samples (``train_cfg.oracle``): the dataset itself, annotators given
#: query folders, a Label Studio project (``mmlearnloss.annotation.oracles``).
ORACLES = Registry('oracle', scope='mmlearnloss', locations=['mmlearnloss.annotation.oracles'])
#: How Label Studio labels the samples of a split writer's dataset (boxes, joints, classes),
#: picked for a training pool by its writers (``mmlearnloss.annotation.label_studio.formats``).
LABEL_STUDIO_FORMATS = Registry('label studio format', scope='mmlearnloss',
                                locations=['mmlearnloss.annotation.label_studio.formats'])
