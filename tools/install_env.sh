#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment with the pinned OpenMMLab stack.
#
# Usage: bash tools/install_env.sh [VENV_DIR]   (default: .venv in the checkout)
#
# Idempotent: a stamp file holds the hash of requirements/*.txt and setup.py; when it matches,
# the script returns at once. The slow step (building mmcv with its CPU ops, ~9 min on 2 cores)
# is cached by pip as a wheel, so a rebuilt environment on the same machine takes ~2 min.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$root/.venv}"
py="${PYTHON:-python3}"
stamp="$venv/.mmlearnloss-env"
want="$(cat "$root"/requirements/*.txt "$root/setup.py" | sha256sum | cut -d' ' -f1)"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/python" ]]; then
  exit 0
fi

echo "[install_env] setting up $venv (first time: ~12 min, mostly building mmcv)"
[[ -x "$venv/bin/python" ]] || "$py" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)

# The machine's pip config points find-links at a local torch+cpu file, which breaks
# torchvision from the registry. Ignore config files and find-links for every install so
# later steps cannot swap torch back to the +cpu build.
export PIP_CONFIG_FILE=/dev/null
export PIP_FIND_LINKS=
export PIP_NO_INPUT=1

"${pip[@]}" install -q --upgrade pip
"${pip[@]}" install -q -r "$root/requirements/build.txt"
"${pip[@]}" install -q -r "$root/requirements/torch.txt"
"${pip[@]}" install -q -r "$root/requirements/runtime.txt" -r "$root/requirements/tests.txt" \
  -c "$root/requirements/torch.txt"

if ! "$venv/bin/python" -c 'import mmcv, mmcv.ops' 2>/dev/null; then
  echo "[install_env] building mmcv 2.1.0 with CPU ops (cached by pip after the first build)"
  MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="$(nproc)" \
    "${pip[@]}" install -q --no-build-isolation -r "$root/requirements/mmcv.txt" \
    -c "$root/requirements/torch.txt"
fi
"${pip[@]}" install -q --no-deps -r "$root/requirements/openmmlab.txt"
PYTHONWARNINGS=ignore "${pip[@]}" install -q --no-deps --no-build-isolation -e "$root"

"$venv/bin/python" - <<'PY'
import torch, torchvision, mmcv, mmcv.ops, mmengine, mmdet, mmpose, mmpretrain, mmlearnloss
print(f"[install_env] torch {torch.__version__}, torchvision {torchvision.__version__}, "
      f"mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, mmdet {mmdet.__version__}, "
      f"mmpose {mmpose.__version__}, mmpretrain {mmpretrain.__version__}")
PY
echo "$want" > "$stamp"
