"""Annotators in Label Studio: the queried samples go to a project, their annotations come back.

``train_cfg.oracle=dict(type='label_studio', url=..., project=...)`` makes
:class:`~mmlearnloss.ActiveLearningLoop` push each selection to a Label Studio server
(:meth:`LabelStudioOracle.ask`) and stop; ``al_train.py --resume`` pulls the annotations
(:meth:`LabelStudioOracle.collect`), converts them to the dataset's format
(:func:`.tasks.returned_from_export`) and checks them as the manual oracle does. The API
token comes from an environment variable (``LABEL_STUDIO_API_KEY``), never from the config.
Only plain HTTP (``urllib``) is used: Label Studio runs as its own process from its own
environment (``tools/label_studio_server.py``).
"""
from __future__ import annotations

import json
import os
import os.path as osp
import urllib.error
import urllib.parse
import urllib.request
from typing import Dict, List, Optional, Union

from mmlearnloss.utils import atomic_write_text
from ..formats import SplitPool
from ..query import QUERY_CSV, RETURNED_DIR, read_query
from .formats import FROM_NAME, label_studio_format
from .tasks import EXPORT_FILE, import_tasks, labeling_config, returned_from_export, task_is_done

__all__ = ['LabelStudioError', 'AnnotationsPending', 'LabelStudioClient', 'LabelStudioOracle',
           'collect_returned']

#: In a query folder: which server, project and tasks the query went to.
PROJECT_FILE = 'label_studio.json'


class LabelStudioError(ValueError):
    """The Label Studio server cannot be reached, refuses the token, or refuses a request."""


class AnnotationsPending(ValueError):
    """Some tasks of the query are not annotated yet; nothing was changed."""


class LabelStudioClient:
    """The few calls of Label Studio's REST API the oracle needs (legacy ``Token`` auth).

    Args:
        url (str): The server, e.g. ``http://127.0.0.1:8080``.
        token (str): An API token (Account & Settings > Legacy token).
        token_env (str): Where the token came from, named in errors.
        timeout (float): Seconds per request.
    """

    def __init__(self, url: str, token: str, token_env: str = 'LABEL_STUDIO_API_KEY',
                 timeout: float = 60.) -> None:
        self.url = url.rstrip('/')
        self.token, self.token_env, self.timeout = token, token_env, timeout

    def request(self, method: str, path: str, body=None, **params):
        """JSON in, JSON out; errors become :class:`LabelStudioError` saying what to do."""
        query = f'?{urllib.parse.urlencode(params)}' if params else ''
        request = urllib.request.Request(
            f'{self.url}{path}{query}', method=method,
            data=None if body is None else json.dumps(body).encode('utf-8'),
            headers={'Authorization': f'Token {self.token}', 'Content-Type': 'application/json',
                     'Accept': 'application/json'})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read()
        except urllib.error.HTTPError as e:
            detail = e.read()[:600].decode('utf-8', 'replace')
            if e.code in (401, 403):
                raise LabelStudioError(
                    f'Label Studio at {self.url} refused the API token from ${self.token_env} '
                    f'(HTTP {e.code}: {detail}). Set {self.token_env} to the token of a user of '
                    'that server (Account & Settings > Legacy token; '
                    'tools/label_studio_server.py start prints it).') from None
            raise LabelStudioError(f'Label Studio at {self.url} answered {method} {path} with '
                                   f'HTTP {e.code}: {detail}') from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, 'reason', e)
            raise LabelStudioError(
                f'Cannot reach Label Studio at {self.url} ({reason}). Start it (python '
                'tools/label_studio_server.py start) or set train_cfg.oracle.url / '
                '$LABEL_STUDIO_URL to where it runs.') from None
        return json.loads(text) if text else None

    def check(self) -> dict:
        """The token's user; fails early on a wrong URL or token."""
        return self.request('GET', '/api/current-user/whoami')

    def projects(self) -> List[dict]:
        found, page = [], 1
        while True:
            answer = self.request('GET', '/api/projects', page=page, page_size=100)
            found += answer['results'] if isinstance(answer, dict) else answer
            if not isinstance(answer, dict) or not answer.get('next'):
                return found
            page += 1

    def project(self, project: Union[int, str], label_config: str, description: str = '') -> dict:
        """The project with this id or title; a title not found is created with the config."""
        if isinstance(project, int) or str(project).isdigit():
            return self.request('GET', f'/api/projects/{int(project)}')
        for found in self.projects():
            if found.get('title') == project:
                return self.request('GET', f'/api/projects/{found["id"]}')
        return self.request('POST', '/api/projects',
                            dict(title=project, label_config=label_config,
                                 description=description, sampling='Sequential sampling',
                                 show_skip_button=False))

    def ensure_local_storage(self, project: int, path: str) -> None:
        """A Local Files source for ``path``, so the server may serve its images (not synced:
        the tasks are imported with their predictions instead)."""
        path = osp.abspath(path)
        storages = self.request('GET', '/api/storages/localfiles', project=project)
        if not any(osp.abspath(s.get('path') or '') == path for s in storages):
            self.request('POST', '/api/storages/localfiles',
                         dict(project=project, path=path, title=osp.basename(path) or path,
                              use_blob_urls=False))

    def import_tasks(self, project: int, tasks: List[dict]) -> dict:
        return self.request('POST', f'/api/projects/{project}/import', tasks,
                            commit_to_project='true')

    def export(self, project: int) -> List[dict]:
        """Every task of the project with its annotations (Export > JSON)."""
        return self.request('GET', f'/api/projects/{project}/export', exportType='JSON',
                            download_all_tasks='true')

    def project_url(self, project: int) -> str:
        return f'{self.url}/projects/{project}/data'


class LabelStudioOracle:
    """Annotators working in a Label Studio project.

    Args:
        url (str, optional): The server; default ``$LABEL_STUDIO_URL``. Left out of the run's
            config hash, so a server restarted elsewhere can take over.
        project (int | str): Project id, or title (found, or created with a labeling config made
            from the dataset's classes). Default ``'mmlearnloss'``. Every query's tasks carry
            ``data.query`` (the query folder), so one project can serve all stages.
        api_key_env (str): The environment variable holding the API token.
        files_root (str, optional): The server's ``LOCAL_FILES_DOCUMENT_ROOT``; the images must
            be under it (``tools/label_studio_server.py start --files-root``). Default
            ``$LABEL_STUDIO_FILES_ROOT``, else /.
        score_threshold (float): Predicted boxes / joints below this confidence are not
            pre-annotated.
    """

    def __init__(self,
                 url: Optional[str] = None,
                 project: Union[int, str] = 'mmlearnloss',
                 api_key_env: str = 'LABEL_STUDIO_API_KEY',
                 files_root: Optional[str] = None,
                 score_threshold: float = 0.3,
                 timeout: float = 60.) -> None:
        self.url = url
        self.project = project
        self.api_key_env = api_key_env
        self.files_root = files_root or os.environ.get('LABEL_STUDIO_FILES_ROOT') or '/'
        self.score_threshold = score_threshold
        self.timeout = timeout

    def client(self, url: Optional[str] = None) -> LabelStudioClient:
        url = url or self.url or os.environ.get('LABEL_STUDIO_URL')
        if not url:
            raise LabelStudioError('No Label Studio server: set train_cfg.oracle.url or '
                                   '$LABEL_STUDIO_URL (tools/label_studio_server.py start prints '
                                   'it).')
        token = os.environ.get(self.api_key_env)
        if not token:
            raise LabelStudioError(f'No API token for Label Studio at {url}: set '
                                   f'${self.api_key_env} (tools/label_studio_server.py start '
                                   'prints it; never put it in the config).')
        return LabelStudioClient(url, token, self.api_key_env, self.timeout)

    def ask(self, pool: SplitPool, query: dict, scores, predictions: Optional[Dict[str, dict]],
            stage: int, model_version: str = 'mmlearnloss') -> str:
        """Put the query's samples into the project as tasks with pre-annotations.

        Args:
            pool (SplitPool): The pool of the query.
            query (dict): What :func:`~mmlearnloss.annotation.query.write_query` returned.
            scores (list[float] | None): The queried samples' selection scores (the predicted
                loss for ``learning_loss``), ``data.selection_score`` of their tasks.
            predictions (dict, optional): Sample id -> plain prediction.
            stage (int): The stage that selected them (0-based).

        Returns:
            str: The project's URL.
        """
        client = self.client()
        client.check()
        config = labeling_config(pool, title='Label what the model should learn next')
        project = client.project(self.project, config,
                                 description=f'Queries of mmlearnloss; see {query["dir"]}')
        self._check_config(client, project, pool)
        tasks = import_tasks(pool, query['ids'], scores, predictions, self.files_root,
                             query=query['dir'], model_version=model_version,
                             score_threshold=self.score_threshold)
        existing = [t for t in client.export(project['id'])
                    if (t.get('data') or {}).get('query') == query['dir']]
        if not existing:  # asked again after a crash: the tasks are there already
            for folder in sorted({osp.dirname(pool.image_path(i)) for i in query['ids']}):
                client.ensure_local_storage(project['id'], folder)
            client.import_tasks(project['id'], tasks)
        url = client.project_url(project['id'])
        atomic_write_text(osp.join(query['dir'], PROJECT_FILE), json.dumps(
            dict(url=client.url, project=project['id'], project_title=project.get('title'),
                 project_url=url, query=query['dir'], num_tasks=len(tasks), stage=stage),
            indent=1) + '\n')
        return url

    @staticmethod
    def _check_config(client: LabelStudioClient, project: dict, pool: SplitPool) -> None:
        """A reused project must label what this dataset needs (same tag, every class)."""
        fmt = label_studio_format(pool)
        control = (project.get('parsed_label_config') or {}).get(FROM_NAME) or {}
        missing = sorted(set(fmt.labels()) - set(control.get('labels') or []))
        if control.get('type', '').lower() != fmt.result_type or missing:
            raise LabelStudioError(
                f'Label Studio project {project["id"]} ({client.project_url(project["id"])}) '
                f'has another labeling config: this dataset needs a {fmt.result_type} tag '
                f'named "{FROM_NAME}" with its labels (missing: {missing[:10]}). Choose another '
                'project (train_cfg.oracle.project) or a new title, which is created for you.')

    def collect(self, pool: SplitPool, query_dir: str) -> str:
        """Fetch the query's tasks into ``returned/label_studio_export.json``.

        Raises:
            AnnotationsPending: tasks are still open or skipped (nothing is written then).
        """
        query_dir = osp.abspath(query_dir)
        path = osp.join(query_dir, PROJECT_FILE)
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path} is missing: the query in {query_dir} was not sent '
                                    'to Label Studio.')
        with open(path, encoding='utf-8') as f:
            sent = json.load(f)
        client = self.client(self.url or os.environ.get('LABEL_STUDIO_URL') or sent['url'])
        tasks = [t for t in client.export(sent['project'])
                 if (t.get('data') or {}).get('query') == query_dir]
        num_queried = len(read_query(query_dir)['ids'])
        open_tasks = [t for t in tasks if not task_is_done(t)]
        if open_tasks or len(tasks) < num_queried:
            shown = ', '.join(str(t.get('id')) for t in open_tasks[:20])
            raise AnnotationsPending(
                f'{len(open_tasks) + num_queried - len(tasks)} of {num_queried} tasks of this '
                f'query are still open (not annotated, or skipped) in Label Studio project '
                f'{sent["project"]} ({client.project_url(sent["project"])}); task ids: '
                f'[{shown}]. Nothing was changed: finish them, then run the same command '
                f'again (the instructions are in {osp.join(query_dir, "README.txt")}).')
        export = osp.join(query_dir, RETURNED_DIR, EXPORT_FILE)
        atomic_write_text(export, json.dumps(tasks) + '\n')
        return export


def collect_returned(pool: SplitPool, query_dir: str,
                     oracle: Optional[LabelStudioOracle] = None) -> None:
    """Before the returned annotations are checked: fetch them from Label Studio (if the run
    uses it), then turn a Label Studio export in ``returned/`` into the dataset's files."""
    if oracle is not None:
        oracle.collect(pool, query_dir)
    returned_from_export(pool, query_dir)


def instructions(project_url: str, query_dir: str, resume_command: str) -> str:
    """What the annotators and the person running the experiment do next."""
    listed = osp.join(query_dir, QUERY_CSV)
    return (f'The queried samples are tasks in Label Studio: {project_url} (most informative '
            f'first, with the model\'s predictions as pre-annotations; {listed} lists them). '
            f'Annotate and submit every task, then continue with:\n    {resume_command}')
