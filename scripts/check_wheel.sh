#!/usr/bin/env bash
# The package as a user gets it: a wheel built from this checkout, installed without -e into a
# fresh virtual environment, every command run from a folder outside the checkout (where no conf/
# or data/ lies), a user's own config folder added on top. `make test-wheel`; CI runs it.
# Needs ESPCN_DATA_DIR (T91 and Set5); torch 2.13.0 (CPU) is installed first, as everywhere.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
: "${ESPCN_DATA_DIR:?set ESPCN_DATA_DIR to a data directory holding T91 and Set5}"
export ESPCN_DATA_DIR=$(cd "$ESPCN_DATA_DIR" && pwd)

step() { echo "== $*"; }
step "build the wheel and install it into a fresh environment"
python3 -m venv "$work/venv"
export PATH="$work/venv/bin:$PATH"
python -m pip install -q --upgrade pip
python -m pip install -q torch==2.13.0
python -m pip wheel -q --no-deps "$root" -w "$work/dist"
wheel=$(ls "$work"/dist/espcn_lightning-*.whl)
python -m pip install -q "$wheel[deploy,report]"
if python -m zipfile -l "$wheel" | grep -E '^ *(benchmarks|scripts|tests)/' > /dev/null; then
    echo "the wheel holds lab code (benchmarks, scripts or tests)"; exit 1
fi

cd "$work"
step "train, evaluate, upscale, export from $work"
espcn-train experiment=smoke trainer.enable_progress_bar=false hydra.run.dir=runs/smoke
test -s runs/smoke/model.pt
espcn-evaluate upscaler=bicubic "datasets=[Set5]" hydra.run.dir=runs/bicubic | grep "| Set5 | 5 | 30.39 |" > /dev/null
python - <<'PY'
import cv2, numpy as np
rng = np.random.default_rng(0)
cv2.imwrite("photo.png", rng.integers(0, 256, (40, 60, 3), np.uint8))
video = cv2.VideoWriter("clip.avi", cv2.VideoWriter_fourcc(*"MJPG"), 10, (60, 40))
for _ in range(5):
    video.write(rng.integers(0, 256, (40, 60, 3), np.uint8))
video.release()
PY
espcn-upscale photo.png photo_x3.png
espcn-upscale clip.avi clip_x3.mp4 | grep "upscaled 5 frames" > /dev/null
espcn-upscale photo.png photo_x2.png --model runs/smoke/model.pt --scale 3
espcn-export --onnx model.onnx
test -s model.onnx
espcn-data verify Set5

step "a user's own config folder on top of the shipped ones"
mkdir -p my_conf/experiment
printf '# @package _global_\ndefaults:\n  - smoke\n\nseed: 7\n' > my_conf/experiment/mine.yaml
step "a two-job sweep of the user's experiment, and its report"
espcn-train -m --config-dir my_conf experiment=mine "report_sets=[]" \
    trainer.enable_progress_bar=false hydra.sweep.dir=runs/sweep 'data.batch_size=8,16'
test "$(grep -l '"status": "completed"' runs/sweep/*/summary.json | wc -l)" -eq 2
grep -q "seed: 7" runs/sweep/0/.hydra/config.yaml
espcn-report runs/sweep > /dev/null
test -s runs/sweep/report.html
echo "wheel check: every command ran from outside the checkout"
