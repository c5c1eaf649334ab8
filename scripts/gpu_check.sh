#!/usr/bin/env bash
# The GPU proof in one command (issue "Instant on any machine").
#
#   bash scripts/gpu_check.sh prepare          # here (has Rust): release build + data into .gpucheck/
#   bash scripts/gpu_check.sh run [DIR]        # on the GPU machine (no Rust needed), or here
#
# `prepare` builds the release binary against the CUDA wheel in .venv, strips it and packs it into
# .gpucheck/ (git-ignored, well under 64 MiB) with the tiny DINOv2 fixture, a sample photo and this script.
# `run` needs only python3 with torch (for its libtorch, found from `python3 -c 'import torch'` unless
# LIBTORCH_LIB is set) and numpy. It makes a random ViT-S/14 in timm naming (the built-in model's shape),
# then checks and prints one table:
#   - CUDA found (vitscope doctor: driver, libtorch's CUDA part loaded, devices);
#   - dump on cuda vs cpu, every tensor: max |diff| <= 1e-4 in f32 (tiny model and ViT-S/14 at 224);
#   - forward time (median of 3, from `info --image`) and end-to-end time (one map exported, whole process)
#     at 224/518/1022 with f32 maps and with queries-and-keys;
#   - f16 and bf16 on CUDA; an out-of-memory turned into the clear message; the app's worker on CUDA.
# On a machine without a GPU the CUDA rows say so and the CPU rows still run ("tested as far as a CPU allows").
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}

if [ "$mode" = prepare ]; then
    bash scripts/setup.sh >/dev/null
    cargo build --release --quiet
    out=.gpucheck
    rm -rf "$out"; mkdir -p "$out/scripts" "$out/tests/fixtures" "$out/assets"
    cp target/release/vitscope target/release/vitscope-engine "$out/"
    strip "$out/vitscope" "$out/vitscope-engine" 2>/dev/null || true
    cp -r tests/fixtures/dinov2_tiny "$out/tests/fixtures/"
    cp assets/chelsea.png "$out/assets/"
    cp scripts/gpu_check.sh "$out/scripts/"
    du -sh "$out"
    echo "carry .gpucheck and run there: cd .gpucheck && bash scripts/gpu_check.sh run ."
    exit 0
fi
[ "$mode" = run ] || { echo "usage: gpu_check.sh prepare | run [DIR]" >&2; exit 2; }
dir=${2:-.}
cd "$dir"
bin=./vitscope
[ -x "$bin" ] || bin=target/release/vitscope
[ -x "$bin" ] || { echo "no vitscope binary here: run 'bash scripts/gpu_check.sh prepare' first" >&2; exit 1; }
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python
if [ -z "${LIBTORCH_LIB:-}" ]; then
    LIBTORCH_LIB=$($PY -c 'import torch, os; print(os.path.join(torch.__path__[0], "lib"))')
fi
export LD_LIBRARY_PATH="$LIBTORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
tiny=tests/fixtures/dinov2_tiny
photo=assets/chelsea.png
rows=()
row() { rows+=("$(printf '%-44s | %s' "$1" "$2")"); }
failed=0
fail() { failed=1; row "$1" "FAIL: $2"; }

# A random ViT-S/14 in timm naming (the built-in model's shape: 384 wide, 12 layers, 6 heads, 37x37 grid).
$PY - "$work/vits14" <<'PY'
import json, os, struct, sys
import numpy as np
out = sys.argv[1]; os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(0)
D, L, P, G = 384, 12, 14, 37
t = {}
r = lambda *s: (rng.standard_normal(s) * 0.02).astype(np.float32)
t["cls_token"] = r(1, 1, D); t["pos_embed"] = r(1, 1 + G * G, D)
t["patch_embed.proj.weight"] = r(D, 3, P, P); t["patch_embed.proj.bias"] = r(D)
for i in range(L):
    b = f"blocks.{i}"
    for n in ("norm1", "norm2"):
        t[f"{b}.{n}.weight"] = np.ones(D, np.float32); t[f"{b}.{n}.bias"] = np.zeros(D, np.float32)
    t[f"{b}.attn.qkv.weight"] = r(3 * D, D); t[f"{b}.attn.qkv.bias"] = r(3 * D)
    t[f"{b}.attn.proj.weight"] = r(D, D); t[f"{b}.attn.proj.bias"] = r(D)
    t[f"{b}.mlp.fc1.weight"] = r(4 * D, D); t[f"{b}.mlp.fc1.bias"] = r(4 * D)
    t[f"{b}.mlp.fc2.weight"] = r(D, 4 * D); t[f"{b}.mlp.fc2.bias"] = r(D)
t["norm.weight"] = np.ones(D, np.float32); t["norm.bias"] = np.zeros(D, np.float32)
header, off = {}, 0
for k, v in t.items():
    header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + v.nbytes]}; off += v.nbytes
h = json.dumps(header).encode(); h += b" " * (-len(h) % 8)
with open(os.path.join(out, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h))); f.write(h)
    for v in t.values(): f.write(v.tobytes())
json.dump({"architecture": "vit_small_patch14_random", "model_args": {"num_heads": 6, "img_size": 518}},
          open(os.path.join(out, "config.json"), "w"))
PY
vits=$work/vits14

# 1. CUDA found
doctor=$("$bin" doctor --model "$tiny" --size 24 2>/dev/null || true)
cuda=$(echo "$doctor" | $PY -c 'import json,sys; d=json.load(sys.stdin); print("yes" if d.get("cuda_available") else "no")' 2>/dev/null || echo no)
row "CUDA found (doctor)" "$(echo "$doctor" | $PY -c "import json,sys; d=json.load(sys.stdin); print('driver=%s cuda_part_loaded=%s devices=%s worker on %s' % (d['nvidia_driver'], d['libtorch_cuda_loaded'], d['cuda_devices'], d['worker'].get('device')))" 2>/dev/null || echo "doctor failed")"

# max |diff| over every tensor of two dumps
compare() {
    $PY - "$1" "$2" <<'PY'
import json, struct, sys
import numpy as np
def read(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); base = 8 + n
    return {k: np.frombuffer(b[base + v["data_offsets"][0]: base + v["data_offsets"][1]], np.float32)
            for k, v in h.items() if k != "__metadata__"}
a, c = read(sys.argv[1]), read(sys.argv[2])
assert a.keys() == c.keys(), "different tensors"
print(max(float(np.abs(a[k] - c[k]).max()) if a[k].size else 0.0 for k in a))
PY
}

median3() { $PY -c 'import sys; v=sorted(float(x) for x in sys.argv[1:]); print(f"{v[len(v)//2]:.1f}")' "$@"; }
forward_ms() { # model size device store [precision]
    "$bin" info --model "$1" --image "$photo" --size "$2" --device "$3" --attention "$4" --precision "${5:-f32}" 2>/dev/null \
        | $PY -c 'import json,sys; print(json.load(sys.stdin)["forward_ms"])'
}
end_to_end_s() { # model size device store
    local t0 t1
    t0=$(date +%s.%N)
    "$bin" export --model "$1" --image "$photo" --size "$2" --device "$3" --attention "$4" --layer 11 --head mean \
        --out "$work/e2e" --force >/dev/null 2>&1 || { echo "failed"; return; }
    t1=$(date +%s.%N)
    $PY -c "print(f'{$t1 - $t0:.2f}')"
}

devices=(cpu)
[ "$cuda" = yes ] && devices=(cpu cuda)

# 2. dump cuda vs cpu
if [ "$cuda" = yes ]; then
    for m in "$tiny" "$vits"; do
        size=224; [ "$m" = "$tiny" ] && size=24
        "$bin" dump --model "$m" --image "$photo" --size $size --device cpu --out "$work/cpu.safetensors" --force 2>/dev/null
        "$bin" dump --model "$m" --image "$photo" --size $size --device cuda --out "$work/cuda.safetensors" --force 2>/dev/null
        d=$(compare "$work/cpu.safetensors" "$work/cuda.safetensors")
        if $PY -c "import sys; sys.exit(0 if $d <= 1e-4 else 1)"; then row "dump cuda vs cpu, $(basename "$m") @$size" "max |diff| $d (<= 1e-4)"
        else fail "dump cuda vs cpu, $(basename "$m") @$size" "max |diff| $d"; fi
    done
else
    row "dump cuda vs cpu" "n/a: no GPU here"
fi

# 3. forward and end-to-end times
for dev in "${devices[@]}"; do
    for size in 224 518 1022; do
        for store in f32 query-keys; do
            [ "$dev" = cpu ] && [ $size = 1022 ] && [ $store = f32 ] && { row "ViT-S/14 @$size $dev $store" "skipped on the CPU (8 GB of maps; see scripts/bench.sh)"; continue; }
            ms=()
            for _ in 1 2 3; do ms+=("$(forward_ms "$vits" $size $dev $store || echo nan)"); done
            row "ViT-S/14 @$size $dev $store" "forward $(median3 "${ms[@]}") ms, end to end $(end_to_end_s "$vits" $size $dev $store) s"
        done
    done
done

# 4. f16 / bf16 on CUDA
if [ "$cuda" = yes ]; then
    for p in f16 bf16; do
        if ms=$(forward_ms "$vits" 224 cuda f32 $p); then row "ViT-S/14 @224 cuda precision $p" "forward $ms ms"
        else fail "ViT-S/14 @224 cuda precision $p" "did not run"; fi
    done
    # 5. out of memory in words
    err=$("$bin" info --model "$vits" --image "$photo" --size 4096x4096 --device cuda 2>&1 >/dev/null || true)
    if echo "$err" | grep -q "out of memory"; then row "out of memory on CUDA (4096x4096, f32 maps)" "clear: $(echo "$err" | cut -c1-80)…"
    else fail "out of memory on CUDA" "$(echo "$err" | head -c 200)"; fi
    # 6. the app's worker on CUDA
    w=$("$bin" doctor --model "$vits" --size 224 --device cuda 2>/dev/null | $PY -c 'import json,sys; d=json.load(sys.stdin)["worker"]; print(d["device"], round(d["forward_ms"],1), "ms")' || echo failed)
    case "$w" in cuda*) row "the app's worker on CUDA (doctor)" "$w";; *) fail "the app's worker on CUDA" "$w";; esac
else
    row "f16/bf16, OOM, worker on CUDA" "n/a: no GPU here"
fi

echo
printf '%s\n' "vitscope GPU check — $(uname -n), $("$bin" --version 2>/dev/null), libtorch $LIBTORCH_LIB"
printf '%-44s | %s\n' "check" "result"
printf '%s\n' "---------------------------------------------+--------------------------------------------"
printf '%s\n' "${rows[@]}"
exit $failed
