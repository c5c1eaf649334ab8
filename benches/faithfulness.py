"""Deletion/insertion curves, vitscope against the same loop in PyTorch (issue "What if").

    .venv/bin/python benches/faithfulness.py VITSCOPE_BIN [RUNS]     (bash scripts/bench.sh faithfulness [RUNS])

The built-in DINOv2 ViT-S/14 at --size 224 on assets/chelsea.png (224x336 px: 16x24 = 384 patches), 20 steps,
mean fill, score = cosine similarity of the pooled feature (CLS after the final norm) to the unchanged image's.
Both sides run one ranking's deletion and insertion curves: 2 x 21 forward passes.

- vitscope: `vitscope faithfulness --methods random --steps 20` (the random baseline only), timed as a whole
  process and by its own report of the curves' time; once with one forward per step (`--batch 1`, the CPU
  default) and once batched like PyTorch below (`--batch 21`);
- PyTorch: transformers Dinov2Model (its default SDPA attention) on the very input vitscope runs (read from a
  `vitscope dump`), one forward per step (as vitscope does), and batched (the 21 images of a curve in one batch).

Prints a table of medians over RUNS (default 3).
"""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import torch
from safetensors.torch import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models", "dinov2-small-imgfocus")
IMAGE = os.path.join(ROOT, "assets", "chelsea.png")
STEPS = 20
P = 14


def vitscope(binary, out, batch):
    t0 = time.perf_counter()
    r = subprocess.run([binary, "faithfulness", "--images", IMAGE, "--methods", "random", "--steps", str(STEPS),
                        "--batch", str(batch), "--out", os.path.join(out, "f.csv"), "--force"],
                       capture_output=True, text=True, check=True)
    total = time.perf_counter() - t0
    inner = float(re.search(r"in ([0-9.]+) s", r.stderr).group(1))
    return total, inner


def main():
    binary = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    torch.set_grad_enabled(False)
    from transformers import Dinov2Model

    model = Dinov2Model.from_pretrained(MODEL).eval()
    with tempfile.TemporaryDirectory() as out:
        dump = os.path.join(out, "x.safetensors")
        subprocess.run([binary, "dump", "--image", IMAGE, "--out", dump], check=True, capture_output=True)
        x = load_file(dump)["input"]
        _, _, h, w = x.shape
        gh, gw = h // P, w // P
        patches = gh * gw
        order = torch.randperm(patches, generator=torch.Generator().manual_seed(0)).tolist()
        counts = [(2 * k * patches + STEPS) // (2 * STEPS) for k in range(STEPS + 1)]

        def occluded(idx):
            y = x.clone()
            for k in idx:
                r, c = divmod(k, gw)
                y[:, :, r * P:(r + 1) * P, c * P:(c + 1) * P] = 0
            return y

        clean = model(pixel_values=x).pooler_output[0]

        def score(pooled):
            return torch.nn.functional.cosine_similarity(pooled, clean[None], dim=-1)

        def loop():
            return [[float(score(model(pixel_values=occluded(order[:n] if d else order[n:])).pooler_output)[0])
                     for n in counts] for d in (True, False)]

        def batched():
            out = []
            for d in (True, False):
                xs = torch.cat([occluded(order[:n] if d else order[n:]) for n in counts])
                out.append(score(model(pixel_values=xs).pooler_output).tolist())
            return out

        rows = {"pytorch one forward per step": [], "pytorch batched (21 per curve)": [],
                "vitscope whole process": [], "vitscope curves (its report)": [],
                "vitscope --batch 21 whole process": [], "vitscope --batch 21 curves": []}
        for _ in range(runs):
            t0 = time.perf_counter()
            loop()
            rows["pytorch one forward per step"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            batched()
            rows["pytorch batched (21 per curve)"].append(time.perf_counter() - t0)
            total, inner = vitscope(binary, out, 1)
            rows["vitscope whole process"].append(total)
            rows["vitscope curves (its report)"].append(inner)
            total, inner = vitscope(binary, out, STEPS + 1)
            rows["vitscope --batch 21 whole process"].append(total)
            rows["vitscope --batch 21 curves"].append(inner)
    print(f"deletion + insertion curves, {STEPS} steps, {patches} patches ({h}x{w} px), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; median of {runs} runs")
    for k, v in rows.items():
        print(f"  {k:34s} {statistics.median(v):7.2f} s  (one curve: {statistics.median(v) / 2:6.2f} s)")
    print(json.dumps({k: statistics.median(v) for k, v in rows.items()}))


if __name__ == "__main__":
    main()
