"""The app's forward time against the command line's (issue "A researcher's first hour", item 6), run by
`bash scripts/bench.sh app-forward [RUNS] [SIZES…]`.

For each input size (default 224 and 518, the built-in model's training size), the built-in DINOv2 ViT-S/14 on
chelsea.png:
- the app under Xvfb (1280x800, its own display :94 unless DISPLAY is set, fresh settings), started with
  `--size S`; it reports the forward time of its first map (VITSCOPE_STARTUP_REPORT=exit) — the time the status
  bar shows;
- `vitscope info --image … --size S`, whose JSON holds the forward time of the same first pass.
Both are a first forward in a fresh process (f32 maps kept). Medians of RUNS (default 3).

    .venv/bin/python benches/app_forward.py VITSCOPE_BINARY [RUNS] [SIZES…]
"""
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = os.path.join(ROOT, "assets", "chelsea.png")


def app_forward(binary, size, env):
    with tempfile.TemporaryDirectory() as cfg:
        e = dict(env, VITSCOPE_CONFIG_DIR=cfg, VITSCOPE_STARTUP_REPORT="exit")
        r = subprocess.run([binary, "--view", "attention", "--image", IMAGE, "--size", str(size)], cwd=ROOT,
                           env=e, capture_output=True, text=True, timeout=600)
    m = re.search(r"forward (\d+) ms", r.stderr)
    if not m:
        sys.exit(f"the app did not report its first map:\n{r.stderr[-2000:]}")
    return float(m.group(1))


def cli_forward(binary, size):
    r = subprocess.run([binary, "info", "--image", IMAGE, "--size", str(size)], cwd=ROOT, capture_output=True,
                       text=True, check=True, timeout=600)
    info = json.loads(r.stdout)
    for key in ("forward_ms", "forward"):
        if key in info:
            return float(info[key])
    m = re.search(r'"forward[_a-z]*":\s*([0-9.]+)', r.stdout)
    return float(m.group(1))


def main():
    binary = os.path.abspath(sys.argv[1])
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    sizes = [int(s) for s in sys.argv[3:]] or [224, 518]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor())
    print(f"machine: {cpu}, {os.cpu_count()} logical CPUs; binary {binary}; median of {runs} runs")
    env = dict(os.environ)
    xvfb = None
    if not env.get("DISPLAY"):
        xvfb = subprocess.Popen(["Xvfb", ":94", "-screen", "0", "1280x800x24"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        env["DISPLAY"] = ":94"
    rows = []
    try:
        for size in sizes:
            app = [app_forward(binary, size, env) for _ in range(runs)]
            cli = [cli_forward(binary, size) for _ in range(runs)]
            a, c = statistics.median(app), statistics.median(cli)
            rows.append((size, a, c))
            print(f"  size {size}: app forward {a:7.0f} ms  (runs {app}), CLI forward {c:7.0f} ms  (runs {cli}); "
                  f"app / CLI {a / c:4.2f}")
    finally:
        if xvfb:
            xvfb.terminate()
    print(json.dumps([{"size": s, "app_ms": a, "cli_ms": c} for s, a, c in rows]))


if __name__ == "__main__":
    main()
