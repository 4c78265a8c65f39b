"""Run a local Label Studio for the annotators, in its own environment.

    python tools/label_studio_server.py setup              # create .venv-label-studio (~2 min)
    python tools/label_studio_server.py start [--files-root DIR] [--port N] [--data-dir DIR]
    python tools/label_studio_server.py stop DATA_DIR

Label Studio (pinned in tools/label_studio/requirements.txt) is a Django application with its own
dependency pins, so it lives in its own virtual environment (``.venv-label-studio`` in the
checkout, or ``$LABEL_STUDIO_VENV``), never in the project's. ``setup`` creates it once (a stamp
holds the requirements' hash) and migrates an empty database that every ``start`` copies, so a
start takes seconds instead of minutes.

``start`` serves on 127.0.0.1 (a free port unless ``--port``) from a throwaway data dir (unless
``--data-dir``), with an admin account and an API token made without prompts, local file serving
of the images under ``--files-root`` (Label Studio's ``LOCAL_FILES_DOCUMENT_ROOT``, default /),
no version check and no analytics. It waits until the server answers and the token works, then
prints the URL, the token, the ``export`` lines for the active-learning oracle
(``LABEL_STUDIO_URL``, ``LABEL_STUDIO_API_KEY``, ``LABEL_STUDIO_FILES_ROOT``) and the stop
command. The server runs in its own process group until ``stop``; ``<data dir>/server.json``
describes it.

Only the standard library is used, so any Python 3 can run this file; the project uses
:func:`start` and :func:`stop` from its tests.
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
REQUIREMENTS = osp.join(ROOT, 'tools', 'label_studio', 'requirements.txt')
DEFAULT_VENV = osp.join(ROOT, '.venv-label-studio')
STAMP = '.label-studio-env'
TEMPLATE_DB = osp.join('template', 'label_studio.sqlite3')
INFO = 'server.json'
# Settings Label Studio reads from the environment, with or without its LABEL_STUDIO_ / HEARTEX_
# prefix; generic names (HOST, PORT, USERNAME...) may be set for other reasons, so they go.
_LS_SETTINGS = ('HOST', 'PORT', 'USERNAME', 'PASSWORD', 'USER_TOKEN', 'DATABASE_NAME',
                'BASE_DATA_DIR', 'LOCAL_FILES_SERVING_ENABLED', 'LOCAL_FILES_DOCUMENT_ROOT')


def venv_dir(venv=None) -> str:
    return osp.abspath(venv or os.environ.get('LABEL_STUDIO_VENV') or DEFAULT_VENV)


def ensure_env(venv=None, python=None, quiet=False) -> str:
    """Create (or reuse) Label Studio's environment and its migrated empty database.

    Returns:
        str: The ``label-studio`` executable.
    """
    venv = venv_dir(venv)
    exe = osp.join(venv, 'bin', 'label-studio')
    with open(REQUIREMENTS, 'rb') as f:
        want = hashlib.sha256(f.read()).hexdigest()
    stamp = osp.join(venv, STAMP)
    if osp.isfile(stamp) and open(stamp).read().strip() == want and osp.isfile(exe) \
            and osp.isfile(osp.join(venv, TEMPLATE_DB)):
        return exe
    say = (lambda *a: None) if quiet else (lambda *a: print('[label-studio]', *a, flush=True))
    start = time.time()
    if not osp.isfile(osp.join(venv, 'bin', 'python')):
        say(f'creating {venv}')
        subprocess.run([python or sys.executable, '-m', 'venv', venv], check=True)
    say(f'installing {REQUIREMENTS} (about 2 minutes the first time)')
    # Ignore the machine's pip config (find-links to local wheels), as tools/install_env.sh.
    pip_env = dict(os.environ, PIP_CONFIG_FILE=os.devnull, PIP_FIND_LINKS='', PIP_NO_INPUT='1')
    subprocess.run([osp.join(venv, 'bin', 'python'), '-m', 'pip', 'install', '-q',
                    '--disable-pip-version-check', '-r', REQUIREMENTS], check=True, env=pip_env)
    say('migrating an empty database (about 2 minutes; every start copies it)')
    with tempfile.TemporaryDirectory(prefix='label-studio-template-') as data_dir:
        done = subprocess.run([exe, 'version', '--data-dir', data_dir], cwd=data_dir,
                              env=_server_env(data_dir, '/'), capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f'Migrating Label Studio\'s database failed:\n'
                               f'{done.stdout[-2000:]}{done.stderr[-3000:]}')
        os.makedirs(osp.dirname(osp.join(venv, TEMPLATE_DB)), exist_ok=True)
        shutil.copy(osp.join(data_dir, 'label_studio.sqlite3'), osp.join(venv, TEMPLATE_DB))
    with open(stamp, 'w') as f:
        f.write(want + '\n')
    say(f'ready in {time.time() - start:.0f} s')
    return exe


def start(files_root='/', port=0, data_dir=None, username='admin@localhost', password=None,
          token=None, venv=None, timeout=300.0, quiet=False) -> dict:
    """Start a server and wait until it answers; see the module docstring.

    Returns:
        dict: ``url``, ``token``, ``username``, ``password``, ``pid``, ``data_dir``,
        ``files_root``, ``log``, ``throwaway`` (the data dir goes on stop) and
        ``startup_seconds``; also written to ``<data_dir>/server.json``.

    Raises:
        RuntimeError: the server exited or did not answer in ``timeout`` seconds (the message
            holds the end of its log).
    """
    exe = ensure_env(venv, quiet=quiet)
    throwaway = data_dir is None
    data_dir = osp.abspath(data_dir or tempfile.mkdtemp(prefix='label-studio-'))
    os.makedirs(data_dir, exist_ok=True)
    database = osp.join(data_dir, 'label_studio.sqlite3')
    if not osp.exists(database):
        shutil.copy(osp.join(venv_dir(venv), TEMPLATE_DB), database)
    port = port or _free_port()
    token = token or secrets.token_hex(20)
    password = password or secrets.token_urlsafe(12)
    files_root = osp.abspath(files_root)
    url = f'http://127.0.0.1:{port}'
    log = osp.join(data_dir, 'server.log')
    began = time.time()
    with open(log, 'ab') as out:
        process = subprocess.Popen(
            # ``--option=value``: a value may begin with '-' (token_urlsafe draws '-'), which
            # argparse would take for an option when given as a separate argument.
            [exe, 'start', '--no-browser', '--internal-host=127.0.0.1', f'--port={port}',
             f'--data-dir={data_dir}', f'--username={username}', f'--password={password}',
             f'--user-token={token}', '--enable-legacy-api-token'],
            cwd=data_dir, env=_server_env(data_dir, files_root), stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    info = dict(url=url, token=token, username=username, password=password, pid=process.pid,
                data_dir=data_dir, files_root=files_root, log=log, throwaway=throwaway)
    _write_info(info)
    try:
        _wait_until_up(process, url, token, log, timeout)
    except BaseException:
        stop(info)
        raise
    info['startup_seconds'] = round(time.time() - began, 1)
    _write_info(info)
    return info


def stop(info_or_dir) -> None:
    """Stop the server of ``start`` (its info dict, data dir or server.json); a throwaway data
    dir is removed."""
    info = info_or_dir if isinstance(info_or_dir, dict) else _read_info(info_or_dir)
    pid = info['pid']
    try:
        os.killpg(pid, signal.SIGTERM)  # its own process group (start_new_session)
        for _ in range(100):
            if _exited(pid):
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
            _exited(pid)
    except ProcessLookupError:
        pass
    if info.get('throwaway'):
        shutil.rmtree(info['data_dir'], ignore_errors=True)


def _server_env(data_dir: str, files_root: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(('LABEL_STUDIO_', 'HEARTEX_')) and k not in _LS_SETTINGS}
    env.update(LABEL_STUDIO_BASE_DATA_DIR=data_dir, LOCAL_FILES_SERVING_ENABLED='true',
               LOCAL_FILES_DOCUMENT_ROOT=files_root, LATEST_VERSION_CHECK='false',
               COLLECT_ANALYTICS='false', PYTHONUNBUFFERED='1')
    return env


def _wait_until_up(process, url: str, token: str, log: str, timeout: float) -> None:
    deadline = time.time() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f'Label Studio exited with code {process.returncode} while '
                               f'starting; the end of {log}:\n{_tail(log)}')
        try:
            with urllib.request.urlopen(f'{url}/health', timeout=5) as response:
                if response.status == 200:
                    break
        except (urllib.error.URLError, OSError):
            pass
        if time.time() > deadline:
            raise RuntimeError(f'Label Studio did not answer at {url} within {timeout:.0f} s; '
                               f'the end of {log}:\n{_tail(log)}')
        time.sleep(0.5)
    request = urllib.request.Request(f'{url}/api/current-user/whoami',
                                     headers={'Authorization': f'Token {token}'})
    try:
        urllib.request.urlopen(request, timeout=30).close()
    except urllib.error.HTTPError as e:
        raise RuntimeError(f'Label Studio at {url} is up but refuses the API token it was '
                           f'started with (HTTP {e.code}); see {log}.') from e


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _write_info(info: dict) -> None:
    path = osp.join(info['data_dir'], INFO)
    with open(path + '.tmp', 'w') as f:
        json.dump(info, f, indent=1)
    os.replace(path + '.tmp', path)


def _read_info(path: str) -> dict:
    path = osp.join(path, INFO) if osp.isdir(path) else path
    if not osp.isfile(path):
        raise SystemExit(f'label_studio_server.py: no {INFO} at {path}: pass the data dir that '
                         '"start" printed.')
    with open(path) as f:
        return json.load(f)


def _exited(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)  # started by this process: reap it
        return done == pid
    except ChildProcessError:  # started by another process
        try:
            os.kill(pid, 0)
            return False
        except ProcessLookupError:
            return True


def _tail(path: str, lines: int = 30) -> str:
    try:
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-lines:])
    except OSError:
        return '(no log)'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--venv', help=f'Label Studio\'s environment (default {DEFAULT_VENV} or '
                        '$LABEL_STUDIO_VENV)')
    commands = parser.add_subparsers(dest='command', required=True)
    commands.add_parser('setup', help='create the environment and the empty database')
    run = commands.add_parser('start', help='start a server and print its URL and API token')
    run.add_argument('--files-root', default='/', help='folder whose images Label Studio may '
                     'serve (LOCAL_FILES_DOCUMENT_ROOT; default /); give the same to the oracle '
                     '(train_cfg.oracle.files_root)')
    run.add_argument('--port', type=int, default=0, help='port (default: a free one)')
    run.add_argument('--data-dir', help='keep the database here (default: a throwaway folder, '
                     'removed by stop)')
    run.add_argument('--username', default='admin@localhost', help='the admin\'s e-mail')
    run.add_argument('--password', help='the admin\'s password (default: random, printed)')
    run.add_argument('--token', help='the API token (default: random, printed)')
    run.add_argument('--timeout', type=float, default=300, help='seconds to wait for it')
    halt = commands.add_parser('stop', help='stop a server started here')
    halt.add_argument('data_dir', help='the data dir (or its server.json) that start printed')
    args = parser.parse_args(argv)

    if args.command == 'setup':
        print(ensure_env(args.venv))
    elif args.command == 'start':
        try:
            info = start(args.files_root, args.port, args.data_dir, args.username, args.password,
                         args.token, args.venv, args.timeout)
        except RuntimeError as e:
            raise SystemExit(f'label_studio_server.py: error: {e}')
        print(f'Label Studio is up at {info["url"]} (started in {info["startup_seconds"]} s)\n'
              f'  log in as {info["username"]} / {info["password"]}\n'
              f'  serving the images under {info["files_root"]}\n'
              f'For the oracle (train_cfg.oracle=dict(type="label_studio", ...)):\n'
              f'  export LABEL_STUDIO_URL={info["url"]}\n'
              f'  export LABEL_STUDIO_API_KEY={info["token"]}\n'
              f'  export LABEL_STUDIO_FILES_ROOT={info["files_root"]}\n'
              f'Stop it with:\n'
              f'  python {osp.relpath(__file__)} stop {info["data_dir"]}')
    else:
        stop(args.data_dir)
        print('stopped')


if __name__ == '__main__':
    main()
