#!/usr/bin/env bash
# The mini VOC demo (make demo-voc): build the mini VOC set and run a few active-learning stages
# of SSD300 with learning loss on CPU, ending with the per-stage table.
#   bash tools/demo_voc.sh [VENV_DIR]    (make demo-voc)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$root/.venv}"
cd "$root"
bash tools/install_env.sh "$venv"
"$venv/bin/python" tools/make_mini_datasets.py --out data/mini --tasks voc
work_dir="work_dirs/demo_ssd_voc_learnloss_mini_$(date +%Y%m%d_%H%M%S)"
"$venv/bin/python" tools/al_train.py configs/mini/ssd_voc_learnloss_mini.py --work-dir "$work_dir"
echo "Results: $work_dir/al_results.csv (state: $work_dir/al_state.json, splits: $work_dir/splits/)"
