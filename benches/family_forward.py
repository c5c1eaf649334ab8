"""Forward time of each family's base-size random model at 224 px: vitscope (its own forward, which keeps every
layer's attention as f32) against timm's eager forward (attention computed explicitly, as a user who wants the
maps must run it). Run by `bash scripts/bench.sh families [RUNS]`.

For every architecture: a random timm model (seed 0) saved with timm's save_for_hf into bench-data/families/;
timm: median wall time of RUNS forwards after one warm-up, torch.no_grad, the process's default threads;
vitscope: `vitscope dump` RUNS times on the same 224x224 image, median of the forward time it prints (the first
forward of a fresh process, device synchronised, model already loaded); and warm, from `vitscope distance` over
6 and over 1 copies of the image in one process ((t6 - t1) / 5: one more image's forward plus its distance
statistics). Prints a Markdown table.
"""
import os
import re
import statistics
import subprocess
import sys
import time

import timm
import torch
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "bench-data", "families")
ARCHS = [
    ("ViT-B/16 (timm VisionTransformer)", "vit_base_patch16_224", {}),
    ("MAE ViT-B/16 encoder", "vit_base_patch16_224.mae", {}),
    ("DINOv3 ViT-B/16 (timm Eva)", "vit_base_patch16_dinov3", dict(global_pool="token")),
    ("EVA-02 B/14", "eva02_base_patch14_224", {}),
    ("BEiT-B/16", "beit_base_patch16_224", {}),
    ("SigLIP B/16", "vit_base_patch16_siglip_224", {}),
    ("Swin-B (window 7)", "swin_base_patch4_window7_224", {}),
]


def eager(model):
    """Explicit attention everywhere (timm's fused SDPA hides the weights)."""
    for m in model.modules():
        if hasattr(m, "fused_attn"):
            m.fused_attn = False


def main():
    binary = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    os.makedirs(DATA, exist_ok=True)
    image = os.path.join(DATA, "chelsea_224.png")
    Image.open(os.path.join(ROOT, "assets", "chelsea.png")).convert("RGB").crop((75, 0, 375, 300)).resize(
        (224, 224), Image.BICUBIC).save(image)
    rows = []
    for name, arch, kwargs in ARCHS:
        folder = os.path.join(DATA, arch.replace(".", "_"))
        torch.manual_seed(0)
        model = timm.create_model(arch, pretrained=False, **kwargs).eval()
        if not os.path.exists(os.path.join(folder, "model.safetensors")):
            from timm.models import save_for_hf
            save_for_hf(model, folder, safe_serialization=True)
        eager(model)
        size = 224
        x = torch.randn(1, 3, size, size)
        with torch.no_grad():
            model(x)
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                model(x)
                times.append((time.perf_counter() - t) * 1e3)
        timm_ms = statistics.median(times)
        out = os.path.join(DATA, "dump.safetensors")
        mine = []
        for _ in range(runs):
            r = subprocess.run([binary, "dump", "--model", folder, "--image", image, "--size", str(size), "--out",
                                out, "--force"], capture_output=True, text=True)
            m = re.search(r"forward ([0-9.]+) ms", r.stdout + r.stderr)
            if r.returncode != 0 or not m:
                sys.exit(f"{arch}: vitscope failed: {r.stderr.strip()}")
            mine.append(float(m.group(1)))
        v_ms = statistics.median(mine)
        # Warm: `vitscope distance` over 1 and over 6 copies of the image in one process; the difference / 5 is
        # what one more image costs once everything is loaded and warm (forward + the distance statistics).
        def batch(k):
            folder_k = os.path.join(DATA, f"batch{k}")
            os.makedirs(folder_k, exist_ok=True)
            for i in range(k):
                dst = os.path.join(folder_k, f"img{i}.png")
                if not os.path.exists(dst):
                    Image.open(image).save(dst)
            t = time.perf_counter()
            r = subprocess.run([binary, "distance", "--model", folder, "--images", folder_k, "--size", str(size),
                                "--out", os.path.join(DATA, "d.csv"), "--force"], capture_output=True, text=True)
            if r.returncode != 0:
                return None  # Swin: no global attention for the distance statistics
            return (time.perf_counter() - t) * 1e3
        warm_ms = None if batch(1) is None else statistics.median((batch(6) - batch(1)) / 5 for _ in range(3))
        # The same input through timm: vitscope's final tokens must be timm's (a check, not a timing).
        from safetensors.torch import load_file
        dumped = load_file(out)
        with torch.no_grad():
            ref = model.forward_features(dumped["input"]).reshape(-1, dumped["last_hidden_state"].shape[-1])
        diff = float((ref - dumped["last_hidden_state"]).abs().max() / ref.abs().max().clamp(min=1))
        params = sum(p.numel() for p in model.parameters()) / 1e6
        rows.append((name, arch, params, v_ms, warm_ms, timm_ms, diff))
        print(f"{arch}: vitscope {v_ms:.0f} ms, timm eager {timm_ms:.0f} ms", file=sys.stderr, flush=True)
    print("| model (random weights) | timm name | params | vitscope first forward in a fresh process | vitscope per "
          "image, warm | timm eager forward, warm | warm ratio | final tokens vs timm |")
    print("|---|---|---|---|---|---|---|---|")
    for name, arch, params, v, w, t, d in rows:
        warm = f"{w:.0f} ms" if w is not None else "n/a (no distance for windows)"
        ratio = f"{w / t:.2f}" if w is not None else f"{v / t:.2f} (first forward)"
        print(f"| {name} | `{arch}` | {params:.1f} M | {v:.0f} ms | {warm} | {t:.0f} ms | {ratio} | {d:.1e} |")


if __name__ == "__main__":
    main()
