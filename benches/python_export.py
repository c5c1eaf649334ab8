"""The Python side of the whole-process export benchmark (benches/start_and_export.py): the same 85 PNGs
as `vitscope export --layer all --head all` on the built-in DINOv2 ViT-S/14 at input 224 (shorter side),
made the way people make them, as one process that starts, loads, computes and writes:

    .venv/bin/python benches/python_export.py MODE MODEL_DIR IMAGE OUT_DIR

MODE `matplotlib`: transformers Dinov2Model (eager attention, output_attentions), each layer x head CLS map
over the photo with matplotlib (imshow photo, imshow map alpha 0.6 viridis, savefig at the photo's
resolution), a subplot grid of the heads per layer, and a layers x (mean + heads) subplot mosaic.

MODE `pil`: the plain, well-written loop: transformers eager capture, min-max normalisation and a NumPy
colour table (viridis, 256 entries, read from bench-data/viridis.npy so matplotlib is not imported),
PIL bilinear resize and blend, PNG at zlib level 1; grids and the mosaic pasted from the small tiles.

Prints one JSON line: files written, and `in_process_ms` (from the first line of this script after its
imports to the last file, model load included).
"""
import json
import os
import sys
import time

import numpy as np
import torch
from PIL import Image
from transformers import Dinov2Model

T0 = time.perf_counter()  # after the imports: "in-process"

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
PATCH = 14


def input_size(w, h, shorter=224):
    """vitscope's --size 224: the shorter side to 224, the aspect kept, each side rounded to whole patches."""
    s = shorter / min(w, h)
    return (max(PATCH, round(h * s / PATCH) * PATCH), max(PATCH, round(w * s / PATCH) * PATCH))


def cls_maps(model_dir, photo):
    model = Dinov2Model.from_pretrained(model_dir, attn_implementation="eager").eval()
    ih, iw = input_size(*photo.size)
    x = np.asarray(photo.resize((iw, ih), Image.BICUBIC), dtype=np.float32) / 255.0
    x = torch.from_numpy(((x - MEAN) / STD).transpose(2, 0, 1)[None].copy())
    with torch.inference_mode():
        att = model(pixel_values=x, output_attentions=True).attentions
    gh, gw = ih // PATCH, iw // PATCH
    # [layers, heads, gh, gw]: CLS row, patch keys (DINOv2 here has no registers)
    maps = torch.stack([a[0, :, 0, 1:] for a in att]).reshape(len(att), -1, gh, gw).numpy()
    return maps, (ih, iw)


def run_pil(maps, photo, size, out):
    lut = np.load(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench-data",
                               "viridis.npy"))
    small_photo = photo.resize((size[1], size[0]), Image.BILINEAR)
    n = 0

    def over(m, base):
        lo, hi = m.min(), m.max()
        idx = ((m - lo) / (hi - lo if hi > lo else 1) * 255).astype(np.uint8)
        heat = Image.fromarray(lut[idx]).resize(base.size, Image.BILINEAR)
        return Image.blend(base, heat, 0.6)

    layers, heads = maps.shape[:2]
    mosaic_tiles = []
    for l in range(layers):
        tiles = []
        for h in range(heads):
            over(maps[l, h], photo).save(os.path.join(out, f"L{l:02}_h{h}.png"), compress_level=1)
            n += 1
            tiles.append(over(maps[l, h], small_photo))
        mosaic_tiles.append([over(maps[l].mean(0), small_photo)] + tiles)
        cols = int(np.ceil(np.sqrt(heads)))
        rows = -(-heads // cols)
        tw, th = small_photo.size
        grid = Image.new("RGB", (cols * tw + (cols + 1) * 4, rows * th + (rows + 1) * 4), "white")
        for i, t in enumerate(tiles):
            grid.paste(t, (4 + (i % cols) * (tw + 4), 4 + (i // cols) * (th + 4)))
        grid.save(os.path.join(out, f"L{l:02}_heads.png"), compress_level=1)
        n += 1
    tw, th = small_photo.size
    cols = heads + 1
    mosaic = Image.new("RGB", (cols * tw + (cols + 1) * 2, layers * th + (layers + 1) * 2), "white")
    for l, row in enumerate(mosaic_tiles):
        for c, t in enumerate(row):
            mosaic.paste(t, (2 + c * (tw + 2), 2 + l * (th + 2)))
    mosaic.save(os.path.join(out, "mosaic.png"), compress_level=1)
    return n + 1


def run_matplotlib(maps, photo, size, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w, h = photo.size
    arr = np.asarray(photo)
    small = np.asarray(photo.resize((size[1], size[0]), Image.BILINEAR))
    layers, heads = maps.shape[:2]
    n = 0

    def overlay(ax, base, m):
        ax.imshow(base)
        ax.imshow(m, cmap="viridis", alpha=0.6, extent=(0, base.shape[1], base.shape[0], 0),
                  interpolation="bilinear")
        ax.axis("off")

    for l in range(layers):
        for hd in range(heads):
            fig = plt.figure(figsize=(w / 100, h / 100), dpi=100)
            ax = fig.add_axes([0, 0, 1, 1])
            overlay(ax, arr, maps[l, hd])
            fig.savefig(os.path.join(out, f"L{l:02}_h{hd}.png"), dpi=100)
            plt.close(fig)
            n += 1
        cols = int(np.ceil(np.sqrt(heads)))
        rows = -(-heads // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(cols * size[1] / 100, rows * size[0] / 100), dpi=100)
        for i, ax in enumerate(np.ravel(axes)):
            if i < heads:
                overlay(ax, small, maps[l, i])
            else:
                ax.axis("off")
        fig.savefig(os.path.join(out, f"L{l:02}_heads.png"), dpi=100)
        plt.close(fig)
        n += 1
    fig, axes = plt.subplots(layers, heads + 1, figsize=((heads + 1) * size[1] / 100, layers * size[0] / 100),
                             dpi=100)
    for l in range(layers):
        overlay(axes[l, 0], small, maps[l].mean(0))
        for hd in range(heads):
            overlay(axes[l, hd + 1], small, maps[l, hd])
    fig.savefig(os.path.join(out, "mosaic.png"), dpi=100)
    plt.close(fig)
    return n + 1


def main():
    mode, model_dir, image, out = sys.argv[1:5]
    os.makedirs(out, exist_ok=True)
    torch.set_grad_enabled(False)
    photo = Image.open(image).convert("RGB")
    maps, size = cls_maps(model_dir, photo)
    n = (run_pil if mode == "pil" else run_matplotlib)(maps, photo, size, out)
    print(json.dumps({"mode": mode, "files": n, "in_process_ms": (time.perf_counter() - T0) * 1e3}))


if __name__ == "__main__":
    main()
