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


def main():
    only = sys.argv[1:]
    cases = [c for c in CASES if not only or c[0] in only]
    cpu = next(
        (l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
        platform.processor(),
    )
    print(f"machine: {cpu}, {os.cpu_count()} logical CPUs, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM; image {IMAGE}")
    rows = []
    for case, model, runs in cases:
        out = os.path.join(ROOT, "bench-data", "out", case)
        rust = run(["cargo", "bench", "-q", "--bench", "end_to_end", "--",
                    case, model, IMAGE, os.path.join(out, "rust"), str(runs)])
        py = run([PY, os.path.join(ROOT, "benches", "python_reference.py"),
                  case, model, IMAGE, os.path.join(out, "python"), str(runs)])
        rows.append((case, runs, rust, py))
        print(f"{case}: vitscope {rust['total']:.0f} ms, python {py['total']:.0f} ms", flush=True)
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


if __name__ == "__main__":
    main()
