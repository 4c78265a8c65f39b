"""The durable state of an active-learning run: one JSON file in the work dir.

The file says which stage the run is in, which sample ids are labeled, and what every stage did
(its split, checkpoint, metrics, the ids it selected with their scores). It is rewritten atomically
after every step of a stage (temporary file in the same directory, flush, fsync, ``os.replace``), so
a run killed at any moment finds either the old or the new state, never a torn file, and resumes
without relabeling or losing a label.

The file also carries :func:`config_hash` of the config that started the run, and the config
itself as hashed (:func:`canonical_config`): resuming with a different experiment config is
refused, naming the keys that differ, instead of silently mixing two experiments in one work dir.
"""
import hashlib
import json
import math
import os.path as osp
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, List, Optional, Sequence, Union

from mmlearnloss.utils import atomic_write_text

__all__ = [
    'ALState', 'ALStateError', 'STAGE_STATUSES', 'DEFAULT_HASH_IGNORE', 'config_hash',
    'canonical_config', 'config_differences'
]

#: Steps of a stage, in order; a stage record's ``status`` is the last step it completed.
STAGE_STATUSES = ('split_written', 'trained', 'evaluated', 'queried', 'selected')

#: Config keys that say where or how a run is launched, not what the experiment is.
DEFAULT_HASH_IGNORE = ('work_dir', 'resume', 'launcher')

# Version of the file layout; bump it when the layout changes so old files fail clearly.
_FORMAT_VERSION = 1

_REQUIRED_KEYS = {
    'config_hash': str,
    'seed': int,
    'stage': int,
    'labeled': list,
    'stages': list,
}
#: Keys a state file may have besides the required ones.
_OPTIONAL_KEYS = {'config': dict}


class ALStateError(ValueError):
    """An active-learning state file is unreadable, malformed or from another experiment."""


@dataclass
class ALState:
    """What an active-learning run has done so far.

    Args:
        config_hash (str): :func:`config_hash` of the experiment config.
        seed (int): Seed of the run (initial labels, pool subsets, random selection).
        stage (int): The current stage (cycle) index.
        labeled (list[str]): Ids of the labeled samples, in the order they were labeled.
        stages (list[dict]): One record per stage: ``{'stage': i, 'num_labeled': n,
            'metrics': {...}, 'selected': [ids], 'scores': [floats aligned with selected, or
            empty for strategies without scores], 'checkpoint': path, 'status': one of
            STAGE_STATUSES}``. Only ``stage`` and ``status`` are required; the loop fills the
            rest as the stage progresses.
        config (dict, optional): :func:`canonical_config` of the experiment config (what the
            hash is of), so a resume with another config can name the keys that differ.
    """

    config_hash: str
    seed: int
    stage: int
    labeled: List[str]
    stages: List[dict] = field(default_factory=list)
    config: Optional[dict] = None

    def validate(self) -> None:
        """Raise :class:`ALStateError` if the state is inconsistent (checked on save and load)."""
        problems = _state_problems(asdict(self))
        if problems:
            raise ALStateError('Invalid active-learning state: ' + '; '.join(problems))

    def save(self, path: str) -> None:
        """Write the state to ``path`` atomically (see :func:`mmlearnloss.utils.atomic_write_text`).

        The state is validated and fully serialized before the file is touched, so an invalid or
        non-JSON-serializable state leaves the previous file intact.
        """
        self.validate()
        payload = dict(format_version=_FORMAT_VERSION, **asdict(self))
        text = json.dumps(payload, indent=2, allow_nan=True) + '\n'
        atomic_write_text(path, text)

    @classmethod
    def load(cls, path: str, expected_config_hash: Union[str, Sequence[str], None] = None,
             config: Optional[dict] = None) -> 'ALState':
        """Read a state file written by :meth:`save`. Never modifies the file.

        Args:
            path (str): The state file.
            expected_config_hash (str | Sequence[str], optional): If given, the file must have
                been written by a run of the config with this hash (one of these hashes).
            config (dict, optional): :func:`canonical_config` of the current config: a refusal
                then names the keys that differ from the file's config.

        Raises:
            FileNotFoundError: ``path`` does not exist.
            ALStateError: the file is not valid JSON, lacks keys, has wrong types, or (with
                ``expected_config_hash``) belongs to another experiment.
        """
        remedy = ('delete it to start the active-learning run from scratch, or pick another '
                  '--work-dir')
        if not osp.isfile(path):
            raise FileNotFoundError(f'Active-learning state file not found: {path}')
        try:
            with open(path, encoding='utf-8') as f:
                payload = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ALStateError(f'Active-learning state file {path} is not valid JSON ({e}); '
                               f'{remedy}.') from e
        if not isinstance(payload, dict):
            raise ALStateError(f'Active-learning state file {path} holds a '
                               f'{type(payload).__name__}, expected a JSON object; {remedy}.')
        version = payload.pop('format_version', None)
        if version != _FORMAT_VERSION:
            raise ALStateError(f'Active-learning state file {path} has format_version={version!r}, '
                               f'this version of mmlearnloss reads {_FORMAT_VERSION}; {remedy}.')
        problems = _state_problems(payload)
        unknown = sorted(set(payload) - set(_REQUIRED_KEYS) - set(_OPTIONAL_KEYS))
        if unknown:
            problems.append(f'unknown keys {unknown}')
        if problems:
            raise ALStateError(f'Active-learning state file {path} is malformed: '
                               f'{"; ".join(problems)}; {remedy}.')
        state = cls(**payload)
        accepted = [expected_config_hash] if isinstance(expected_config_hash, str) else \
            list(expected_config_hash or [])
        if accepted and state.config_hash not in accepted:
            if state.config is not None and config is not None:
                differences = config_differences(state.config, config)
                what = (f'these keys differ (the run\'s -> the current config\'s): '
                        f'{"; ".join(differences)}') if differences else \
                    f'its config hash is {state.config_hash}'
            else:
                what = (f'its config hash is {state.config_hash}, the current config hashes to '
                        f'{accepted[0]}')
            raise ALStateError(
                f'Active-learning state file {path} was written by a run of another config '
                f'({what}). Resume with the config that started the run, or pick another '
                f'--work-dir to start a new experiment.')
        return state


def _state_problems(payload: dict) -> List[str]:
    """List what is wrong with a state dict (empty if nothing)."""
    problems = []
    for key, expected_type in _OPTIONAL_KEYS.items():
        if payload.get(key) is not None and not isinstance(payload[key], expected_type):
            problems.append(f'{key!r} should be {expected_type.__name__}, got '
                            f'{type(payload[key]).__name__}')
    for key, expected_type in _REQUIRED_KEYS.items():
        if key not in payload:
            problems.append(f'missing key {key!r}')
        elif not isinstance(payload[key], expected_type) or isinstance(payload[key], bool):
            problems.append(f'{key!r} should be {expected_type.__name__}, got '
                            f'{type(payload[key]).__name__}')
    if problems:
        return problems
    if not all(isinstance(i, str) for i in payload['labeled']):
        problems.append("'labeled' should hold sample ids as str")
    elif len(set(payload['labeled'])) != len(payload['labeled']):
        problems.append("'labeled' holds duplicate ids")
    for i, record in enumerate(payload['stages']):
        if not isinstance(record, dict):
            problems.append(f'stages[{i}] should be a dict, got {type(record).__name__}')
            continue
        for key in ('stage', 'status'):
            if key not in record:
                problems.append(f'stages[{i}] lacks {key!r}')
        if 'status' in record and record['status'] not in STAGE_STATUSES:
            problems.append(f'stages[{i}] has status {record["status"]!r}, expected one of '
                            f'{list(STAGE_STATUSES)}')
        selected, scores = record.get('selected'), record.get('scores')
        if selected is not None and scores and len(selected) != len(scores):
            problems.append(f'stages[{i}] has {len(selected)} selected ids but {len(scores)} '
                            'scores (they must be aligned, or no scores at all)')
    return problems


def config_hash(cfg: Mapping, ignore: Iterable[str] = DEFAULT_HASH_IGNORE) -> str:
    """A stable sha256 of the config items that define an experiment: of
    :func:`canonical_config` (``ignore`` as there; a canonical config hashes as itself).

    Returns:
        str: 64 hex digits.
    """
    canonical = canonical_config(cfg, ignore)
    text = json.dumps(canonical, sort_keys=True, separators=(',', ':'), ensure_ascii=True)
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def canonical_config(cfg: Mapping, ignore: Iterable[str] = DEFAULT_HASH_IGNORE) -> dict:
    """The config items that define an experiment, as plain JSON data.

    Keys are sorted, tuples and lists alike, and the keys in ``ignore`` are left out: top-level
    names (``'work_dir'``), dotted paths into nested dicts (``'train_dataloader.num_workers'``)
    or ``'*.name'``, the key ``name`` at any depth (``'*.data_root'``: every dataset's). Values
    that are not JSON types (classes, functions in pure-Python configs) become their qualified
    name or ``repr``.

    Args:
        cfg (Mapping): The config, e.g. an mmengine ``Config`` or a plain dict.
        ignore (Iterable[str]): Keys that do not change the experiment. Defaults to
            :data:`DEFAULT_HASH_IGNORE`.
    """
    if hasattr(cfg, 'to_dict'):  # mmengine Config
        cfg = cfg.to_dict()
    if not isinstance(cfg, Mapping):
        raise TypeError(f'config_hash expects a dict-like config, got {type(cfg).__name__}')
    ignore_paths = [tuple(key.split('.')) for key in ignore]
    return _canonical(cfg, (), ignore_paths)


def config_differences(old: Mapping, new: Mapping, limit: int = 12) -> List[str]:
    """``'key: old -> new'`` for each leaf of two :func:`canonical_config` dicts that differs
    (``limit`` at most, then how many more)."""
    a, b = dict(_leaves(old)), dict(_leaves(new))
    missing = '(not set)'
    keys = sorted(k for k in set(a) | set(b) if a.get(k, missing) != b.get(k, missing))
    shown = [f'{k}: {_short(a.get(k, missing))} -> {_short(b.get(k, missing))}'
             for k in keys[:limit]]
    if len(keys) > limit:
        shown.append(f'and {len(keys) - limit} more')
    return shown


def _leaves(value: Any, path: str = ''):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f'{path}.{key}' if path else key)
    elif isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        for index, item in enumerate(value):
            yield from _leaves(item, f'{path}[{index}]')
    else:
        yield path, value


def _short(value: Any) -> str:
    text = value if value == '(not set)' else json.dumps(value)
    return text if len(text) <= 60 else text[:57] + '...'


def _ignored(path: tuple, ignore_paths: List[tuple]) -> bool:
    return any(path == p or (p[0] == '*' and path[-(len(p) - 1):] == p[1:])
               for p in ignore_paths)


def _canonical(value: Any, path: tuple, ignore_paths: List[tuple]) -> Any:
    """Turn a config value into plain JSON data with a single spelling per meaning."""
    if isinstance(value, Mapping):
        return {
            str(k): _canonical(v, path + (str(k), ), ignore_paths)
            for k, v in value.items() if not _ignored(path + (str(k), ), ignore_paths)
        }
    if isinstance(value, (list, tuple)):
        return [_canonical(v, path, ignore_paths) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v, path, ignore_paths) for v in value), key=repr)
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # json would write NaN/Infinity, which is not JSON
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, type) or callable(value):
        return f'{getattr(value, "__module__", "")}.{getattr(value, "__qualname__", repr(value))}'
    return repr(value)
