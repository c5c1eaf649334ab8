"""Start-up and whole-process export benchmark (issue "Instant on any machine"), run by
`bash scripts/bench.sh start`. Every figure is a whole process timed from outside (fork to exit), with its
own peak RSS from wait4; medians over RUNS (default 5; the matplotlib pipeline 3).

1. `vitscope --help`, and `vitscope --version`.
2. The app under Xvfb (1280x800; its own display :93 unless DISPLAY is set), fresh settings, the built-in
   model and chelsea.png at 224: the time from process start to the first attention map on screen, as
   the app itself reports it (VITSCOPE_STARTUP_REPORT=exit; the kernel's start time of the process, so
   loading libtorch counts), and the app's forward time.
3. `vitscope export --layer all --head all` (85 PNGs): whole process, and the export stage it reports.
4. The same 85 PNGs from Python (benches/python_export.py): transformers + matplotlib, and the plain PIL
   loop; whole process, and the PIL loop's in-process time (after its imports).

    .venv/bin/python benches/start_and_export.py VITSCOPE_BINARY [RUNS]
"""
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
MODEL = os.path.join(ROOT, "models", "dinov2-small-imgfocus")
IMAGE = os.path.join(ROOT, "assets", "chelsea.png")


def timed(cmd, env=None, timeout=600):
    """(wall ms, peak RSS MiB, stdout, stderr) of one process."""
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    t = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    wall = (time.perf_counter() - t) * 1e3
    p.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    so, se = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{se[-3000:]}")
    return wall, usage.ru_maxrss / 1024, so, se


def median_of(runs, f):
    rows = [f() for _ in range(runs)]
    return [statistics.median(c) for c in zip(*rows)]


def main():
    binary = os.path.abspath(sys.argv[1])
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor())
    print(f"machine: {cpu}, {os.cpu_count()} logical CPUs; binary {binary}; median of {runs} runs")
    table = []

    for what, args in [("--help", ["--help"]), ("--version", ["--version"])]:
        timed([binary] + args)  # warm the disk cache
        wall, rss = median_of(10, lambda: timed([binary] + args)[:2])
        table.append((f"vitscope {what}", wall, rss, ""))

    xvfb = None
    env = dict(os.environ, VITSCOPE_STARTUP_REPORT="exit")
    if not env.get("DISPLAY"):
        xvfb = subprocess.Popen(["Xvfb", ":93", "-screen", "0", "1280x800x24"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        env["DISPLAY"] = ":93"
    try:
        def app_once():
            with tempfile.TemporaryDirectory() as cfg:
                e = dict(env, VITSCOPE_CONFIG_DIR=cfg)
                wall, rss, _, err = timed([binary, "--view", "attention"], env=e, timeout=120)
            m = re.search(r"first map on screen (\d+) ms .*forward (\d+) ms", err)
            if not m:
                sys.exit(f"the app did not report its first map:\n{err[-2000:]}")
            return float(m.group(1)), float(m.group(2)), wall, rss

        app_once()
        first, fwd, wall, rss = median_of(runs, app_once)
        table.append(("app: launch -> first map on screen", first, rss,
                      f"forward {fwd:.0f} ms; process until closed {wall:.0f} ms"))
    finally:
        if xvfb:
            xvfb.terminate()

    out = os.path.join(ROOT, "bench-data", "out", "export")

    def export_once():
        shutil.rmtree(out, ignore_errors=True)
        wall, rss, so, se = timed([binary, "export", "--image", IMAGE, "--layer", "all", "--head", "all",
                                   "--out", out])
        m = re.search(r"wrote (\d+) file\(s\) in (\d+) ms", se)
        return wall, rss, float(m.group(2)), float(m.group(1))

    export_once()
    ex_wall, ex_rss, ex_stage, ex_files = median_of(runs, export_once)
    table.append(("vitscope export, all layers x heads", ex_wall, ex_rss,
                  f"{ex_files:.0f} PNGs; export stage {ex_stage:.0f} ms"))

    py = {}
    for mode, n in [("pil", runs), ("matplotlib", max(1, min(runs, 3)))]:
        dest = os.path.join(ROOT, "bench-data", "out", "python-" + mode)

        def py_once():
            shutil.rmtree(dest, ignore_errors=True)
            wall, rss, so, _ = timed([PY, os.path.join(ROOT, "benches", "python_export.py"), mode, MODEL, IMAGE,
                                      dest])
            r = json.loads(so.strip().splitlines()[-1])
            return wall, rss, r["in_process_ms"], r["files"]

        py_once()
        py[mode] = median_of(n, py_once)
        wall, rss, inproc, files = py[mode]
        table.append((f"python {mode}", wall, rss, f"{files:.0f} PNGs; in-process {inproc:.0f} ms"))

    print()
    print("| what | median ms | peak RSS MiB | notes |")
    print("|---|---|---|---|")
    for what, ms, rss, note in table:
        print(f"| {what} | {ms:.0f} | {rss:.0f} | {note} |")
    print()
    print(f"whole-process export: {py['matplotlib'][0] / ex_wall:.1f}x faster than transformers + matplotlib "
          f"(process vs process), {py['pil'][0] / ex_wall:.1f}x faster than the PIL loop (process vs process), "
          f"{py['pil'][2] / ex_wall:.1f}x faster than the PIL loop's in-process time")


if __name__ == "__main__":
    main()
