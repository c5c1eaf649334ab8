"""Drive the end-to-end benchmark: each case through vitscope (benches/end_to_end.rs) and through the
Python pipeline (benches/python_reference.py), one process per case and side, on the same machine and
threads; then print a table of medians, ratios and peak RSS. Run it with `bash scripts/bench.sh`."""
import json
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
DINO = os.path.join(ROOT, "models", "dinov2-small-imgfocus")
VITB = os.path.join(ROOT, "bench-data", "vit_base_patch16_224")
IMAGE = os.path.join(ROOT, "assets", "chelsea.png")

# Storage strategies compared against the f32 capture (see src/model/store.rs), per case.
STORES = {"dinov2-1022": ["f16", "bf16", "query-keys"], "dinov2-518": ["f16", "bf16", "query-keys"]}

# (case, model folder, runs)
CASES = [
    ("dinov2-224", DINO, 5),
    ("dinov2-518", DINO, 3),
    ("vitb16-224", VITB, 5),
    ("dinov2-1022", DINO, 1),
]


def run(cmd):
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def store_errors(ref, other):
    """Max |other - f32| per part (CLS rows, rollout, distance px, entropy nats), and relative to the part's
    largest f32 value."""
    import numpy as np
    a = np.fromfile(ref["values"], dtype="<f4")
    b = np.fromfile(other["values"], dtype="<f4")
    out, at = {}, 0
    for k, n in ref["parts"].items():
        x, y = a[at:at + n], b[at:at + n]
        d = float(np.abs(x - y).max())
        out[k] = (d, d / max(float(np.abs(x).max()), 1e-30))
        at += n
    return out


def main():
    only = sys.argv[1:]
    cases = [c for c in CASES if not only or c[0] in only]
    cpu = next(
        (l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
        platform.processor(),
    )
    print(f"machine: {cpu}, {os.cpu_count()} logical CPUs, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM; image {IMAGE}")
    rows, stores = [], []
    for case, model, runs in cases:
        out = os.path.join(ROOT, "bench-data", "out", case)
        rust = run(["cargo", "bench", "-q", "--bench", "end_to_end", "--",
                    case, model, IMAGE, os.path.join(out, "rust"), str(runs)])
        py = run([PY, os.path.join(ROOT, "benches", "python_reference.py"),
                  case, model, IMAGE, os.path.join(out, "python"), str(runs)])
        rows.append((case, runs, rust, py))
        print(f"{case}: vitscope {rust['total']:.0f} ms, python {py['total']:.0f} ms", flush=True)
        for store in STORES.get(case, []):
            other = run(["cargo", "bench", "-q", "--bench", "end_to_end", "--",
                         case, model, IMAGE, os.path.join(out, "rust-" + store), str(runs), store])
            stores.append((case, rust, other, py))
            print(f"{case} {store}: vitscope {other['total']:.0f} ms", flush=True)
    print()
    print("| case | tokens | runs | vitscope total ms | python total ms | speed-up | "
          "vitscope forward+capture ms | torch eager, no capture ms | ratio | "
          "torch SDPA, no capture ms | ratio | vitscope peak RSS MiB | python peak RSS MiB |")
    print("|" + "---|" * 13)
    for case, runs, r, p in rows:
        print(f"| {case} | {r['tokens']} | {runs} | {r['total']:.0f} | {p['total']:.0f} | "
              f"{p['total'] / r['total']:.1f}x | {r['forward']:.0f} | {p['forward_eager']:.0f} | "
              f"{r['forward'] / p['forward_eager']:.2f} | {p['forward_plain']:.0f} | "
              f"{r['forward'] / p['forward_plain']:.2f} | "
              f"{r['peak_rss_mb']:.0f} | {p['peak_rss_mb']:.0f} |")
    print()
    print("stages (median ms), vitscope / python:")
    for case, _, r, p in rows:
        parts = ", ".join(f"{k} {r[k]:.0f}/{p[k]:.0f}"
                          for k in ["decode", "forward", "maps", "rollout", "distance", "png"])
        print(f"  {case}: {parts}")
    print(f"libtorch threads: vitscope {rows[0][2]['threads']}, python {rows[0][3]['threads']}")
    if stores:
        print()
        print("attention storage (vitscope, same pipeline; errors are max |x - x_f32|, and relative to the "
              "largest f32 value):")
        print("| case | store | total ms | speed-up vs python | forward ms | forward / torch eager | "
              "rollout ms | distance ms | peak RSS MiB | CLS rows err | rollout err | distance err px | "
              "entropy err nats |")
        print("|" + "---|" * 13)
        for case, ref, o, p in [(c, r, r, p) for c, _, r, p in rows if c in STORES] + stores:
            e = store_errors(ref, o)
            err = lambda k: f"{e[k][0]:.2e} ({e[k][1]:.1e})"
            print(f"| {case} | {o['store']} | {o['total']:.0f} | {p['total'] / o['total']:.1f}x | "
                  f"{o['forward']:.0f} | {o['forward'] / p['forward_eager']:.2f} | {o['rollout']:.0f} | "
                  f"{o['distance']:.0f} | {o['peak_rss_mb']:.0f} | {err('rows')} | {err('rollout')} | "
                  f"{err('distance')} | {err('entropy')} |")


if __name__ == "__main__":
    main()
