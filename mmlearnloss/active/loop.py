"""ActiveLearningLoop: stages of split -> train -> evaluate -> score -> select (paper Sec. 3)."""
import glob
import os
import os.path as osp
import random
import shlex
import sys
from functools import partial
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.dist import barrier, broadcast_object_list, get_rank, is_main_process
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop
from mmengine.runner.utils import set_random_seed

from mmlearnloss.annotation.oracles import Query, build_oracle
from mmlearnloss.annotation.query import apply_returned
from mmlearnloss.engine import pipeline_transforms
from mmlearnloss.evaluation import LossRankingMetric
from mmlearnloss.registry import LOOPS
from .checkpoints import StageCheckpoints
from .dry_run import dry_run_one_batch
from .fresh_start import (fresh_optimizer, initial_weights, module_modes, restart_hooks,
                          restore_module_modes)
from .predictions import predict_samples
from .report import save_val_losses, write_report
from .run_state import load_or_create_state
from .scoring import plain_cfg, pool_loader_cfg, score_pool, sync_buffers
from .seeding import SampleSeededDataset, derive_seed
from .selection import select_and_score
from .splits import PoolSplitter
from .strategies import build_strategy


@LOOPS.register_module()
class ActiveLearningLoop(EpochBasedTrainLoop):
    """Runs a whole active-learning experiment as the runner's train loop.

    Every stage writes the labeled split as annotation files in the dataset's own format,
    trains on it like a new run of the config (fresh optimizer, schedule and hooks, the
    model's modes as built), evaluates with the config's evaluator,
    scores (a random subset of) the unlabeled pool with the strategy and labels the top ``K``.
    The state (labeled ids, selections and their scores, metrics) lives in
    ``<work_dir>/al_state.json``, written atomically, so a killed run resumes without
    relabeling: ``tools/al_train.py CONFIG --resume``.

    Args:
        runner (Runner): The runner.
        dataloader (dict): The train dataloader config; its dataset is the whole pool.
        num_stages (int): Number of training stages (the paper: 10, from 1k to 10k labels).
        initial_size (int): Size of the random initial labeled set (paper: 1000).
        query_size (int): Samples labeled after each stage but the last (paper: 1000).
        subset_size (int, optional): Size M of the random subset of the unlabeled pool that is
            scored (paper: 10000 CIFAR-10, 5000 MPII). None scores the whole pool (VOC).
        max_epochs (int): Training epochs per stage.
        strategy (dict | str): Selection strategy config or name: ``'learning_loss'``,
            ``'entropy'``, ``'coreset'``, ``'random'``.
        seed (int): Seed of the initial set, the subsets and random selection, and of every
            epoch's data order, augmentation and model draws (:meth:`run_epoch`).
        reinit (bool): Restore the initial weights at the start of every stage (default, as
            most studies do) instead of fine-tuning the previous stage's model.
        val_interval (int): Also evaluate every ``val_interval`` epochs within a stage; every
            stage is evaluated at its end regardless. Defaults to 0 (end of stage only).
        score_batch_size (int, optional): Batch size of the scoring loader (default: the
            val dataloader's). Scoring keeps no activations for backward, so on a GPU it takes
            a larger batch than validation.
        score_amp (bool): Score under mixed precision (float16 on a GPU, bfloat16 on the CPU);
            the scores are float32. Defaults to False.
        score_pin_memory (bool, optional): ``pin_memory`` of the scoring loader (default: the
            val dataloader's); pinned batches copy to the GPU faster.
        score_chunk_size (int, optional): Each process saves the values of every
            ``score_chunk_size`` samples it scores (rounded down to whole batches) under
            ``WORK_DIR/score_chunks/`` as soon as they are scored, so a run killed while
            scoring a large pool scores only the rest on ``--resume``; a stage's chunks are
            deleted once its selection is in the state. Default 1000; None saves none.
        oracle (str | dict): Who labels the selection: the name or config of an oracle
            registered in ``mmlearnloss.registry.ORACLES``
            (:mod:`mmlearnloss.annotation.oracles`). ``'simulated'`` (default, as the paper): the
            dataset's own annotations. ``'manual'``: after each selection the run writes the
            query for annotators (``WORK_DIR/queries/stage_<k>/``: the samples in the dataset's
            format, ``query.csv``, ``README.txt``) and stops; ``--resume`` checks the returned
            annotations (every queried sample labeled, nothing else changed) and continues.
            ``dict(type='label_studio', url=..., project=...)``: the same, with the query sent
            to a Label Studio project as tasks pre-annotated by the model, and the annotations
            fetched from it on ``--resume``
            (:class:`~mmlearnloss.annotation.oracles.LabelStudioProjectOracle`).
        keep_checkpoints (int, optional): Checkpoints kept of the stage in progress, the
            newest (default 1: what ``--resume`` needs); every finished stage keeps its final
            checkpoint (what fine-tuning and the records need) and nothing else. The loop
            deletes the others itself, in place of the ``CheckpointHook``'s
            ``max_keep_ckpts``. None keeps every checkpoint the hook writes (SSD300-VOC: 300
            epochs x 10 stages of about 213 MB each).
        method (str, optional): Name of the method in the result files and plots; default the
            strategy's short name (``'learning_loss'``). Variants of one strategy (another loss,
            another schedule) set their own, e.g. ``'learning_loss_all_pairs'``; the plot tools
            draw one line per method.
        dry_run (bool): Before the first stage of a new run, run a training step, a validation
            prediction and the strategy's scoring on one batch each
            (:func:`~mmlearnloss.active.dry_run.dry_run_one_batch`; the model and the random
            streams are left as they were), so a config that cannot work fails in a minute and
            leaves no run behind. Default True.
        resume (bool): Continue from ``al_state.json`` in the work dir (``al_train.py
            --resume`` sets it). Without it an existing state file is an error, so a run is
            never overwritten by accident.
        resume_from (str, optional): With ``resume``: the checkpoint the stage in progress
            resumes training from (``al_train.py --resume CHECKPOINT``), one of its own
            ``stage_<k>_epoch_<n>.pth``; default the newest complete one.
    """

    def __init__(self,
                 runner,
                 dataloader: dict,
                 num_stages: int,
                 initial_size: int,
                 query_size: int,
                 max_epochs: int,
                 subset_size: Optional[int] = None,
                 strategy: Union[dict, str] = 'learning_loss',
                 seed: int = 0,
                 reinit: bool = True,
                 val_interval: int = 0,
                 score_batch_size: Optional[int] = None,
                 score_amp: bool = False,
                 score_pin_memory: Optional[bool] = None,
                 score_chunk_size: Optional[int] = 1000,
                 oracle: Union[str, dict] = 'simulated',
                 keep_checkpoints: Optional[int] = 1,
                 method: Optional[str] = None,
                 dry_run: bool = True,
                 resume: bool = False,
                 resume_from: Optional[str] = None):
        for name, value in (('num_stages', num_stages), ('initial_size', initial_size),
                            ('max_epochs', max_epochs)):
            if int(value) < 1:
                raise ValueError(f'ActiveLearningLoop: {name} must be >= 1, got {value}')
        if num_stages > 1 and query_size < 1:
            raise ValueError(f'ActiveLearningLoop: query_size must be >= 1, got {query_size}')
        if keep_checkpoints is not None and keep_checkpoints < 1:
            raise ValueError(f'ActiveLearningLoop: keep_checkpoints must be >= 1 (the newest '
                             f'checkpoint is what --resume needs) or None (keep all), got '
                             f'{keep_checkpoints}')
        if score_chunk_size is not None and score_chunk_size < 1:
            raise ValueError(f'ActiveLearningLoop: score_chunk_size must be >= 1 (samples per '
                             f'saved chunk of scores) or None (save none), got '
                             f'{score_chunk_size}')
        if subset_size is not None and subset_size < query_size:
            raise ValueError(f'ActiveLearningLoop: subset_size M={subset_size} is smaller than '
                             f'query_size K={query_size}; M must be at least K.')
        self._runner = runner
        self.dataloader_cfg = plain_cfg(dataloader)
        self.num_stages = num_stages
        self.initial_size = initial_size
        self.query_size = query_size
        self.subset_size = subset_size
        self.stage_epochs = max_epochs
        self.strategy = build_strategy(strategy)
        self.seed = seed
        self.reinit = reinit
        self.stage_val_interval = val_interval
        self.score_batch_size = score_batch_size
        self.score_amp = bool(score_amp)
        self.score_pin_memory = score_pin_memory
        self.score_chunk_size = score_chunk_size
        self.oracle = build_oracle(oracle)
        self.checkpoints = StageCheckpoints(runner.work_dir, keep_checkpoints)
        self.method = method or self.strategy.name
        self.dry_run_first = dry_run
        self.awaiting_annotations = False
        #: The stage whose trained weights the model holds (None: the initial weights).
        self._trained_stage: Optional[int] = None
        self.pool = PoolSplitter(self.dataloader_cfg['dataset'])
        self.resume = resume
        self.state_path = osp.join(runner.work_dir, 'al_state.json')
        self.splits_dir = osp.join(runner.work_dir, 'splits')
        self.chunks_dir = osp.join(runner.work_dir, 'score_chunks')
        self.init_weights_path = osp.join(runner.work_dir, 'initial_weights.pth')
        self.check_evaluation()  # before anything is written: a bad config leaves no run
        self.state = load_or_create_state(runner.cfg.to_dict(), self.state_path, resume, self.pool,
                                          initial_size, query_size, num_stages, seed)
        if not resume:  # a new run: its first split, in the state before anything else
            self._stage_record(0)
            self._save_state()
            barrier()
        self.resume_from = self.checkpoints.check_resume_from(resume_from, self.state,
                                                              num_stages, resume)
        # Human labels returned in earlier stages replace the dataset's entries in every split.
        for record in self.state.stages:
            if record.get('query_dir') and record['status'] == 'selected':
                apply_returned(self.pool, record['query_dir'])
        self.stage = self.state.stage
        # The runner builds optimizer and schedulers once, before run(), from this dataloader.
        super().__init__(runner, self._labeled_dataloader(self.stage), max_epochs,
                         val_begin=1, val_interval=max(val_interval, 1))
        #: The stage whose labeled set self.dataloader serves (building it parses the dataset).
        self._loader_stage = self.stage
        #: Message hub entries from before the run; hooks add theirs per stage.
        self._run_info_keys = set(runner.message_hub.runtime_info)

    def run(self) -> torch.nn.Module:
        """Run the stages from the state's, until the last is done or a query awaits its
        annotations; then write the report."""
        self._initial_weights = initial_weights(self._unwrapped(), self.init_weights_path)
        self._initial_modes = module_modes(self._unwrapped())
        # A new run only: a resumed one passed it when it started (the config hash is the
        # same), and its stage resumes mid-way from a checkpoint.
        if self.dry_run_first and not self.resume:
            try:
                dry_run_one_batch(self.runner, partial(self._labeled_dataloader, 0), self.strategy,
                                  self.seed, self.score_amp)
            except Exception:
                self._discard_new_run()  # the config cannot work: leave no run to resume
                raise
        print_log(f'Active learning: {self.num_stages} stages, {self.initial_size} initial '
                  f'labels, K={self.query_size}, M={self.subset_size or "whole pool"}, strategy '
                  f'{type(self.strategy).__name__}, '
                  f'{"re-initialised" if self.reinit else "fine-tuned"} between stages.',
                  logger='current')
        while self.state.stage < self.num_stages:
            self.run_stage(self.state.stage)
            if self.awaiting_annotations:
                return self.runner.model
        write_report(self.state.stages, self.runner.work_dir,
                     config=osp.basename(self.runner.cfg.filename or ''),
                     strategy=self.strategy.name, method=self.method, seed=self.seed)
        return self.runner.model

    def run_stage(self, stage: int) -> None:
        """Train, evaluate and (but for the last stage) select and label. Resumes a half-done
        stage."""
        self.stage = stage
        record = self._stage_record(stage)
        print_log(f'===== Stage {stage + 1}/{self.num_stages}: {len(self.state.labeled)} labeled '
                  f'samples =====', logger='current')
        if record['status'] == 'split_written':
            self.train_stage(stage)
            record['checkpoint'] = self.checkpoints.latest(stage)
            self._advance(record, 'trained')
        if record['status'] in ('trained', 'evaluated') and self._trained_stage != stage:
            # Resumed after training finished: the model in memory is not the trained one.
            self.runner.load_checkpoint(record['checkpoint'])
            self._trained_stage = stage
        if record['status'] == 'trained':
            record['metrics'] = self.evaluate()
            save_val_losses(self.runner.val_loop, self.runner.work_dir, stage)
            self._advance(record, 'evaluated')
        if record['status'] == 'evaluated':
            if stage + 1 < self.num_stages:
                record['selected'], record['scores'] = self.select(stage)
                self.label(stage, record)
            else:
                record['status'] = 'selected'  # the last stage selects nothing
        elif record['status'] == 'queried':  # resumed: the annotators had the query
            self.label(stage, record)
        if self.awaiting_annotations:
            self._drop_score_chunks(stage)
            return
        if record['status'] == 'selected':
            self.state.stage = stage + 1
            if self.state.stage < self.num_stages:
                self._stage_record(self.state.stage)  # writes the next split
            self._save_state()
            self._drop_score_chunks(stage)

    def train_stage(self, stage: int) -> None:
        """Fresh hooks, optimizer and schedule, (re-)initialised weights, ``max_epochs`` epochs:
        every stage starts like a run of the config."""
        runner = self.runner
        if self._loader_stage != stage:
            # A fresh dataset, too: a hook that switched the pipeline switched the old one.
            self.dataloader = self._labeled_dataloader(stage)
            self._loader_stage = stage
        self._max_epochs = self.stage_epochs
        self._max_iters = self.stage_epochs * len(self.dataloader)
        self._epoch = self._iter = 0
        self.stop_training = False
        restore_module_modes(self._initial_modes)
        if self.reinit or stage == 0:
            self._unwrapped().load_state_dict(self._initial_weights)
            print_log(f'Stage {stage + 1}: training from the initial weights.', logger='current')
        else:
            previous = self.state.stages[stage - 1]['checkpoint']
            runner.load_checkpoint(previous)
            print_log(f'Stage {stage + 1}: fine-tuning stage {stage}\'s model ({previous}).',
                      logger='current')
        restart_hooks(runner, self._run_info_keys)
        fresh_optimizer(runner, self._max_iters)
        self.checkpoints.name(runner.hooks, stage)
        resume_from = self.checkpoints.latest(stage)
        if self.resume_from is not None:  # --resume CHECKPOINT: once, for this stage
            resume_from, self.resume_from = self.resume_from, None
        # Hooks restore their state from a checkpoint only when the runner resumes (EMAHook's
        # averaged model, SwitchRecipeHook's recipes); otherwise EMAHook would continue from
        # the averaged weights saved as the model's.
        runner._resume = resume_from is not None
        if resume_from is not None:
            print_log(f'Stage {stage + 1}: resuming training from {resume_from}', logger='current')
            runner.resume(resume_from)
        runner.call_hook('before_train')
        while self._epoch < self._max_epochs and not self.stop_training:
            self.run_epoch()
            if (self.stage_val_interval and self._epoch % self.stage_val_interval == 0
                    and self._epoch < self._max_epochs):
                self.validate()
        runner.call_hook('after_train')
        runner._resume = False
        self._trained_stage = stage

    def run_epoch(self) -> None:
        """One epoch whose random draws are set where they are made, from (seed, stage, epoch)
        and, with ``randomness.diff_rank_seed``, the rank: the data order (the sampler's seed;
        one order for all ranks, each takes its shard), each sample's augmentation (its own
        seed, whichever process loads it: :class:`SampleSeededDataset`) and the model's draws
        (reseeded every iteration). A run resumed at the epoch's start, or from a checkpoint
        within it, trains exactly like an uninterrupted one."""
        rank = get_rank() if self.runner._randomness_cfg.get('diff_rank_seed', False) else 0
        self._epoch_seed = derive_seed(self.seed, rank, self.stage, self._epoch)
        sampler = getattr(self.dataloader.batch_sampler, 'sampler', None)
        sampler = self.dataloader.sampler if sampler is None else sampler
        if hasattr(sampler, 'seed'):  # DefaultSampler shuffles with seed + epoch
            sampler.seed = derive_seed('order', self.seed, self.stage, self._epoch)
        if isinstance(self.dataloader.dataset, SampleSeededDataset):
            self.dataloader.dataset.set_epoch_seed(derive_seed('augment', self._epoch_seed))
        set_random_seed(derive_seed('epoch', self._epoch_seed))  # for the epoch's hooks
        # Batches of this epoch that the checkpoint it resumed from had trained.
        self._trained_batches = max(self._iter - self._epoch * len(self.dataloader), 0)
        if self._trained_batches:
            print_log(f'Stage {self.stage + 1}: epoch {self._epoch + 1} resumes after batch '
                      f'{self._trained_batches}; the batches before it are loaded and skipped.',
                      logger='current')
        super().run_epoch()
        self.checkpoints.prune(self.stage)

    def run_iter(self, idx: int, data_batch) -> None:
        """Train on a batch with the model's draws reseeded; skip one trained before a
        restart."""
        if idx < self._trained_batches:
            return  # loaded (the batch sampler's state goes on) but trained before the restart
        set_random_seed(derive_seed('iter', self._epoch_seed, idx))
        super().run_iter(idx, data_batch)

    def validate(self) -> dict:
        """Run the val loop; its metrics are logged as computed.

        mmengine's LogProcessor logs the window mean, not the value, of every scalar whose name
        contains "loss", and the message hub keeps each ``val/`` scalar across validations (and
        stages): ``learnloss/rank_acc`` would be logged (and sent to the visualizer) as the mean
        of the last validations instead of this one's. Each validation starts them afresh.
        """
        scalars = self.runner.message_hub.log_scalars
        for key in [k for k in scalars if k.startswith('val/')]:
            del scalars[key]
        return self.runner.val_loop.run()

    def evaluate(self) -> Dict[str, float]:
        """The stage's validation metrics (none without a val loop), the model's buffers
        synchronised over the processes first."""
        sync_buffers(self.runner.model)
        metrics = self.validate() if self.runner.val_loop is not None else {}
        return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}

    def select(self, stage: int):
        """Score a random subset of the unlabeled pool; returns the K chosen ids, most
        informative first, and their scores (empty if the strategy has none)."""
        labeled = set(self.state.labeled)
        unlabeled = [i for i in self.pool.sample_ids() if i not in labeled]
        if self.query_size > len(unlabeled):
            raise ValueError(f'Stage {stage + 1}: asked to label K={self.query_size} samples but '
                             f'only {len(unlabeled)} are unlabeled. Lower query_size or '
                             f'num_stages.')
        rng = random.Random(f'{self.seed}-subset-{stage}')
        subset = unlabeled
        if self.subset_size is not None and self.subset_size < len(unlabeled):
            position = {sample_id: i for i, sample_id in enumerate(unlabeled)}
            subset = sorted(rng.sample(unlabeled, self.subset_size), key=position.__getitem__)
        needs = self.strategy.needs
        values = labeled_values = None
        if needs is not None:
            subset, values = self.score(subset, needs, f'stage_{stage}_pool')
            if self.strategy.needs_labeled:
                _, labeled_values = self.score(self.state.labeled, needs, f'stage_{stage}_labeled')
        selected = scores = None
        if is_main_process():
            selected, scores = select_and_score(self.strategy, subset, self.query_size, values,
                                                labeled_values, seed=self.seed * 1000 + stage)
        selected, scores = self._broadcast((selected, scores or []))
        print_log(f'Stage {stage + 1}: selected {len(selected)} of {len(subset)} scored samples '
                  f'with {type(self.strategy).__name__}.', logger='current')
        return selected, scores

    def score(self, ids: List[str], needs: Union[str, Sequence[str]], name: str):
        """Score ``ids`` with the model; returns (ids in scoring order, values)."""
        loader_cfg, ordered = pool_loader_cfg(self.runner.cfg.val_dataloader, self.pool, ids,
                                              self.splits_dir, name, self.score_batch_size,
                                              self.score_pin_memory)
        loader = self.runner.build_dataloader(loader_cfg)
        what = needs if isinstance(needs, str) else ', '.join(needs)
        options = [f'batch size {loader_cfg["batch_size"]}']
        options += ['mixed precision'] if self.score_amp else []
        options += ['pinned memory'] if loader_cfg.get('pin_memory') else []
        print_log(f'Scoring {len(ordered)} samples ({what}; {", ".join(options)})',
                  logger='current')
        chunks = {} if self.score_chunk_size is None else dict(
            chunk_dir=osp.join(self.chunks_dir, name), chunk_size=self.score_chunk_size,
            chunk_key=self.state.config_hash)
        return score_pool(self.runner.model, loader, ordered, needs, amp=self.score_amp,
                          **chunks)

    def label(self, stage: int, record: dict) -> None:
        """Have the oracle label the stage's selection, or, resumed while the annotators had
        it, collect and check their labels; then the labeled set grows by it. A query the
        oracle leaves pending is saved as 'queried' and stops the run."""
        query = Query(
            stage=stage, ids=record['selected'], scores=record['scores'], pool=self.pool,
            labeled=self.state.labeled,
            query_dir=record.get('query_dir') or osp.join(self.runner.work_dir, 'queries',
                                                          f'stage_{stage}'),
            resume_command=resume_command(sys.argv),
            predict=partial(predict_samples, self.runner.model, self.runner.cfg.val_dataloader,
                            self.pool, out_dir=self.splits_dir, name=f'stage_{stage}_query'))
        if record['status'] == 'queried':
            self.oracle.collect(query)
            apply_returned(self.pool, record['query_dir'])  # lists what is wrong, if anything
            print_log(f'Stage {stage + 1}: the {len(record["selected"])} returned annotations '
                      f'in {record["query_dir"]} are complete; continuing.', logger='current')
        elif not self.oracle.ask(query):
            record['query_dir'] = query.query_dir
            self._advance(record, 'queried')
            self.awaiting_annotations = True
            return
        self.state.labeled = self.state.labeled + record['selected']
        record['status'] = 'selected'

    def check_evaluation(self) -> None:
        """Before any training: tell the model in which frame the validation pipeline delivers
        the ground truth, and fail now, not after a stage, if the ranking metric is configured
        but the validation samples carry no ground truth for target losses."""
        val_loop = self.runner.val_loop
        model = self._unwrapped()
        if val_loop is None or not hasattr(model, 'read_eval_pipeline'):
            return
        transforms = pipeline_transforms(val_loop.dataloader.dataset)
        model.read_eval_pipeline(transforms)
        metrics = getattr(val_loop.evaluator, 'metrics', [])
        if not any(isinstance(metric, LossRankingMetric) for metric in metrics):
            return
        if not model.val_target_loss:
            raise ValueError('val_evaluator has LossRankingMetric, but the model computes no '
                             'validation target losses (LearningLoss(val_target_loss=False)): '
                             'remove the metric or set val_target_loss=True.')
        sample = val_loop.dataloader.dataset[0]
        if not model.adapter.has_targets([sample['data_samples']]):
            names = [type(t).__name__ for t in transforms]
            raise ValueError(
                f'val_evaluator has LossRankingMetric, which compares predicted with real '
                f'losses, but the validation samples carry no ground truth for the '
                f'{type(model.architecture).__name__} loss (val pipeline: {names}). Load the '
                f'annotations in val_dataloader.dataset.pipeline (mmdet: LoadAnnotations; '
                f'mmpose: GenerateTarget), or remove LossRankingMetric from val_evaluator.')

    def _stage_record(self, stage: int) -> dict:
        """The state's record of ``stage``, created (and its split written) on first use."""
        while len(self.state.stages) <= stage:
            index = len(self.state.stages)
            if is_main_process():
                self.pool.write(self.state.labeled, self.splits_dir, f'stage_{index}_labeled')
            self.state.stages.append(
                dict(stage=index, num_labeled=len(self.state.labeled), status='split_written',
                     metrics={}, selected=[], scores=[], checkpoint=None))
        return self.state.stages[stage]

    def _advance(self, record: dict, status: str) -> None:
        record['status'] = status
        self._save_state()

    def _save_state(self) -> None:
        if is_main_process():
            self.state.save(self.state_path)

    def _labeled_dataloader(self, stage: int):
        """A loader of the labeled set, written as the stage's split."""
        cfg = plain_cfg(self.dataloader_cfg)
        dataset, _ = self.pool.write(self.state.labeled, self.splits_dir,
                                     f'stage_{stage}_labeled')
        # Samples seeded per epoch (run_epoch), in whichever process loads them. A sampler
        # seed for every rank alike: diff_rank_seed would have mmengine draw a random one.
        cfg['dataset'] = dict(type=SampleSeededDataset, dataset=dataset)
        return self.runner.build_dataloader(cfg, seed=self.runner.seed, diff_rank_seed=False)

    def _discard_new_run(self) -> None:
        """Remove what a new run wrote before its dry run failed (state, first split, initial
        weights), so the same command works once the config is fixed."""
        if is_main_process():
            for path in [self.state_path, self.init_weights_path,
                         *glob.glob(osp.join(self.splits_dir, 'stage_0_labeled*'))]:
                if osp.exists(path):
                    os.remove(path)

    def _drop_score_chunks(self, stage: int) -> None:
        """Delete the values saved while scoring for ``stage`` (:func:`score_pool`): its
        selection is in the state now, so no resume needs them."""
        if is_main_process():
            for folder in glob.glob(osp.join(self.chunks_dir, f'stage_{stage}_*')):
                for path in glob.glob(osp.join(folder, '*')):
                    os.remove(path)
                os.rmdir(folder)

    def _unwrapped(self):
        model = self.runner.model
        return model.module if is_model_wrapper(model) else model

    @staticmethod
    def _broadcast(obj):
        holder = [obj]
        broadcast_object_list(holder, src=0)
        return holder[0]


def resume_command(argv: List[str]) -> str:
    """The command that started this run (``argv``) with ``--resume`` and without the
    checkpoint an earlier ``--resume`` named: the same config options are needed for the config
    hash to match."""
    out, skip = [], False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg == '--resume':
            skip = i + 1 < len(argv) and argv[i + 1].endswith('.pth')
        elif not arg.startswith('--resume='):
            out.append(arg)
    return shlex.join(['python', *out, '--resume'])
