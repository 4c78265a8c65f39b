"""Who labels the samples a stage selected: one registered oracle per way of annotating.

``train_cfg.oracle`` names one (``'simulated'``, ``'manual'``, ``'label_studio'``: each oracle is
registered under its class name and that short name) or gives its config
(``dict(type='label_studio', url=..., project=...)``, ``dict(type='ManualOracle')``).
An oracle labels the selection at once (:class:`SimulatedOracle`: the dataset's own labels) or
sends it to annotators as a query folder (:func:`~mmlearnloss.annotation.query.write_query`) and
leaves it pending: the run stops, and on ``al_train.py --resume`` the oracle collects what came
back into the folder's ``returned/``, which the loop checks and uses
(:func:`~mmlearnloss.annotation.query.apply_returned`). Another annotation tool is another class
registered in :data:`~mmlearnloss.registry.ORACLES`; the loop does not change.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Union

from mmengine.dist import barrier, is_main_process
from mmengine.logging import print_log

from mmlearnloss.registry import ORACLES
from .formats import SplitPool
from .label_studio.oracle import LabelStudioOracle, collect_returned, instructions
from .query import write_query

__all__ = ['Query', 'BaseOracle', 'SimulatedOracle', 'ManualOracle', 'LabelStudioProjectOracle',
           'build_oracle']


@dataclass
class Query:
    """The samples a stage asks an oracle to label, and what the oracle may need for it.

    Args:
        stage (int): The stage that selected them (0-based).
        ids (list[str]): The selected samples, most informative first.
        scores (list[float]): Their selection scores; empty if the strategy has none.
        pool (SplitPool): The training pool they come from.
        labeled (list[str]): The samples labeled before the query.
        query_dir (str): Where a query folder for annotators goes (``WORK_DIR/queries/
            stage_<k>``).
        resume_command (str): The command that continues the run once the labels are back.
        predict (callable): Sample ids -> the model's predictions of them, by id (for tools
            that show annotators pre-annotations).
    """

    stage: int
    ids: List[str]
    scores: List[float]
    pool: SplitPool
    labeled: List[str]
    query_dir: str
    resume_command: str
    predict: Callable[[List[str]], Dict[str, dict]]


class BaseOracle:
    """Labels the samples a stage selected.

    Both methods are called in every process; an oracle writes files and talks to annotators
    from the main process only.
    """

    def ask(self, query: Query) -> bool:
        """Ask for the labels of ``query.ids``.

        Returns:
            bool: True if they are labeled now (the pool's annotations serve them); False if
            they are pending: a query folder is in ``query.query_dir``, and the run stops
            until ``--resume``.
        """
        raise NotImplementedError

    def collect(self, query: Query) -> None:
        """On ``--resume`` of a pending query: bring the annotations into its ``returned/``
        folder, in the dataset's format (the loop then checks and uses them)."""
        raise NotImplementedError(f'{type(self).__name__} leaves no query pending')


@ORACLES.register_module(name=['SimulatedOracle', 'simulated'])
class SimulatedOracle(BaseOracle):
    """The dataset's own annotations, as in the paper: the selection is labeled at once."""

    def ask(self, query: Query) -> bool:
        return True


@ORACLES.register_module(name=['ManualOracle', 'manual'])
class ManualOracle(BaseOracle):
    """Annotators working from a query folder: the samples in the dataset's format,
    ``query.csv`` and ``README.txt`` (:func:`~mmlearnloss.annotation.query.write_query`); they
    put the annotated files into its ``returned/`` folder (or a Label Studio export of them)."""

    def ask(self, query: Query) -> bool:
        if is_main_process():
            written = write_query(query.pool, query.ids, query.scores, query.query_dir,
                                  labeled=query.labeled, resume_command=query.resume_command)
            message = self.send(query, written)
            print_log(f'Stage {query.stage + 1}: waiting for annotations of '
                      f'{len(written["ids"])} samples.\n{message}', logger='current')
        return False

    def send(self, query: Query, written: dict) -> str:
        """Give the annotators the query folder ``written`` (what
        :func:`~mmlearnloss.annotation.query.write_query` returned); returns what to tell
        them and the person running the experiment."""
        return written['instructions']

    def collect(self, query: Query) -> None:
        if is_main_process():  # a Label Studio export in returned/ becomes the dataset's files
            collect_returned(query.pool, query.query_dir)
        barrier()


@ORACLES.register_module(name=['LabelStudioProjectOracle', 'label_studio'])
class LabelStudioProjectOracle(ManualOracle):
    """Annotators in a Label Studio project: the query's samples become its tasks,
    pre-annotated with the model's predictions, and their annotations are fetched from it on
    ``--resume``.

    Args:
        **kwargs: The settings of
            :class:`~mmlearnloss.annotation.label_studio.oracle.LabelStudioOracle` (``url``,
            ``project``, ``api_key_env``, ``files_root``, ``score_threshold``, ``timeout``);
            the API token comes from the environment, never from the config.
    """

    def __init__(self, **kwargs) -> None:
        if 'api_key' in kwargs or 'token' in kwargs:
            raise ValueError('Put the Label Studio API token in $LABEL_STUDIO_API_KEY (or the '
                             'variable named by api_key_env), never in the config.')
        self.label_studio = LabelStudioOracle(**kwargs)

    def send(self, query: Query, written: dict) -> str:
        predictions = query.predict(written['ids'])
        url = self.label_studio.ask(query.pool, written, query.scores, predictions, query.stage,
                                    model_version=f'stage_{query.stage}')
        return instructions(url, query.query_dir, query.resume_command)

    def collect(self, query: Query) -> None:
        if is_main_process():  # fetched from Label Studio, converted from its export
            collect_returned(query.pool, query.query_dir, self.label_studio)
        barrier()


def build_oracle(cfg: Union[str, dict, BaseOracle]) -> BaseOracle:
    """The oracle of ``train_cfg.oracle``: the name of a registered oracle or its config dict.

    Examples:
        >>> build_oracle('simulated')
        >>> build_oracle('label_studio')  # every setting at its default: --cfg-options works
        >>> build_oracle(dict(type='label_studio', url='http://127.0.0.1:8080', project=3))
        >>> build_oracle(dict(type='mmlearnloss.ManualOracle'))
    """
    if isinstance(cfg, BaseOracle):
        return cfg
    cfg = dict(type=cfg) if isinstance(cfg, str) else dict(cfg)
    kind = cfg.pop('type', None)
    oracle_class = ORACLES.get(kind) if isinstance(kind, str) else None
    if oracle_class is None:
        raise ValueError(f'unknown oracle {kind!r}: train_cfg.oracle is the name of an oracle '
                         f'registered in mmlearnloss.registry.ORACLES '
                         f'({sorted(ORACLES.module_dict)}), or dict(type=NAME, ...) with its '
                         'settings.')
    return oracle_class(**cfg)
