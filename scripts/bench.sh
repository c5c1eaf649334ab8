#!/usr/bin/env bash
# End-to-end benchmark against the Python stack (issue "Fast at any scale"):
#   bash scripts/bench.sh [CASE ...]      # cases: dinov2-224 dinov2-518 vitb16-224 dinov2-1022 (default: all)
#   bash scripts/bench.sh start [RUNS]    # start-up, first map in the app (Xvfb), whole-process export vs Python
#                                         # (benches/start_and_export.py; about 5 minutes)
#   bash scripts/bench.sh families [RUNS] # forward at 224 of each family's base-size random model against timm's
#                                         # eager forward (benches/family_forward.py; about 5 minutes)
#   bash scripts/bench.sh app-forward [RUNS] [SIZES…] # the app's forward time (Xvfb) against the CLI's,
#                                         # at 224 and 518 (benches/app_forward.py; a few minutes)
#   bash scripts/bench.sh faithfulness [RUNS] # deletion + insertion curves (20 steps, built-in model, 224) against
#                                         # the same loop in PyTorch (benches/faithfulness.py; about 5 minutes)
# Sets up (scripts/setup.sh), installs the Python pipeline's packages into .venv (timm, transformers,
# matplotlib), makes the random timm ViT-B/16 checkpoint once (bench-data/, git-ignored), builds the
# release bench, then runs benches/run_bench.py, which prints the table. Takes 20-30 minutes on 2 cores,
# most of it the Python pipeline at 1022 px.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PY=.venv/bin/python
if ! $PY -c 'import timm, transformers, matplotlib' 2>/dev/null; then
    echo "[bench] installing timm, transformers and matplotlib into .venv"
    # torchvision pinned to the one built for torch 2.11.0: timm needs it, and an unpinned one replaces torch
    $PY -m pip install -q --disable-pip-version-check "timm==1.0.31" "torchvision==0.26.0" "transformers==4.57.1" "matplotlib==3.10.7"
fi
if [ ! -f bench-data/vit_base_patch16_224/model.safetensors ]; then
    echo "[bench] making a random timm vit_base_patch16_224 (seed 0)"
    mkdir -p bench-data/vit_base_patch16_224
    $PY - <<'PY'
import timm, torch
from safetensors.torch import save_file
torch.manual_seed(0)
m = timm.create_model("vit_base_patch16_224", pretrained=False)
save_file({k: v.contiguous() for k, v in m.state_dict().items()}, "bench-data/vit_base_patch16_224/model.safetensors")
PY
fi
if [ "${1:-}" = start ]; then
    shift
    [ -f bench-data/viridis.npy ] || $PY -c 'import matplotlib, numpy as np; np.save("bench-data/viridis.npy", (matplotlib.colormaps["viridis"](np.arange(256))[:, :3] * 255).round().astype(np.uint8))'
    cargo build --release -q
    exec $PY benches/start_and_export.py target/release/vitscope "$@"
fi
if [ "${1:-}" = app-forward ]; then
    shift
    cargo build --release -q
    exec $PY benches/app_forward.py target/release/vitscope "$@"
fi
if [ "${1:-}" = faithfulness ]; then
    shift
    cargo build --release -q
    exec $PY benches/faithfulness.py target/release/vitscope "$@"
fi
if [ "${1:-}" = families ]; then
    shift
    cargo build --release -q
    exec $PY benches/family_forward.py target/release/vitscope "$@"
fi
cargo bench --bench end_to_end --no-run -q
exec $PY benches/run_bench.py "$@"
