"""The Python pipeline vitscope's end-to-end benchmark runs against: the same work done the way people
do it today, with timm / transformers, NumPy and matplotlib.

One case per process (so peak RSS is the case's own):

    .venv/bin/python benches/python_reference.py CASE MODEL_DIR IMAGE OUT_DIR RUNS

CASE is `dinov2-S` (transformers Dinov2Model, eager attention with output_attentions) or `vitb16-S`
(timm vit_base_patch16_224 with fused attention off and a forward hook on each block's attn_drop, the
usual way to get timm's attention probabilities); S is the square input side.

Each run, timed from the image file to the last PNG:
1. decode and preprocess (PIL bilinear resize to S x S, ImageNet mean/std);
2. forward with every layer's attention captured;
3. every layer x head CLS map (attention of CLS to the patches);
4. attention rollout from CLS (head mean, residual 0.5, rows renormalised), NumPy;
5. mean attention distance and entropy per layer and head (patch queries, patch keys renormalised), NumPy;
6. every layer x head map as a PNG over the photo (matplotlib: imshow photo, imshow map with alpha 0.6
   and viridis, savefig at the photo's resolution).

Prints one JSON line: median total, median of each stage, the forward pass alone without capture
(the library's default attention, SDPA; and its eager attention, the same math vitscope runs), and
peak RSS.
"""
import json
import os
import resource
import sys
import time

import numpy as np
import torch
from PIL import Image

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def load_model(case, model_dir):
    kind = case.split("-")[0]
    if kind == "dinov2":
        from transformers import Dinov2Model

        capture = Dinov2Model.from_pretrained(model_dir, attn_implementation="eager").eval()
        plain = Dinov2Model.from_pretrained(model_dir).eval()  # default attention (SDPA)

        def forward_capture(x):
            out = capture(pixel_values=x, output_attentions=True)
            return [a[0] for a in out.attentions]

        def forward_plain(x):
            return plain(pixel_values=x).last_hidden_state

        def forward_eager(x):
            return capture(pixel_values=x).last_hidden_state

        return forward_capture, forward_plain, forward_eager, 14
    if kind == "vitb16":
        import timm
        from safetensors.torch import load_file

        state = load_file(os.path.join(model_dir, "model.safetensors"))
        plain = timm.create_model("vit_base_patch16_224", pretrained=False, dynamic_img_size=True)
        plain.load_state_dict(state)
        plain.eval()
        capture = timm.create_model("vit_base_patch16_224", pretrained=False, dynamic_img_size=True)
        capture.load_state_dict(state)
        capture.eval()
        maps = []
        for block in capture.blocks:
            block.attn.fused_attn = False
            block.attn.attn_drop.register_forward_hook(lambda m, i, o: maps.append(o[0]))

        def forward_capture(x):
            maps.clear()
            capture(x)
            return list(maps)

        def forward_plain(x):
            return plain(x)

        def forward_eager(x):
            out = capture(x)
            maps.clear()
            return out

        return forward_capture, forward_plain, forward_eager, 16
    raise SystemExit(f"unknown case {case}")


def preprocess(path, side):
    photo = Image.open(path).convert("RGB")
    x = np.asarray(photo.resize((side, side), Image.BILINEAR), dtype=np.float32) / 255.0
    x = (x - MEAN) / STD
    return photo, torch.from_numpy(x.transpose(2, 0, 1).copy())[None]


def rollout(attn, residual=0.5):
    n = attn[0].shape[-1]
    result = np.eye(n)
    for a in attn:
        a = a.mean(0).astype(np.float64)
        a = (1 - residual) * a + residual * np.eye(n)
        a = a / a.sum(-1, keepdims=True)
        result = a @ result
    return result[0, 1:]


def distances(attn, grid, patch):
    gh, gw = grid
    ys, xs = np.divmod(np.arange(gh * gw), gw)
    pos = np.stack([ys, xs], 1).astype(np.float64) * patch
    dist = np.sqrt(((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1))
    p = attn[0].shape[-1] - gh * gw
    out = []
    for a in attn:
        a = a.astype(np.float64)
        rows = a[:, p:, p:]
        rows = rows / rows.sum(-1, keepdims=True)
        mean_dist = (rows * dist[None]).sum(-1).mean(-1)
        full = a[:, p:, :]
        entropy = -(full * np.log(np.clip(full, 1e-30, None))).sum(-1).mean(-1)
        out.append((mean_dist, entropy))
    return out


def write_pngs(photo, maps, grid, out_dir):
    w, h = photo.size
    for layer, heads in enumerate(maps):
        for head, m in enumerate(heads):
            fig = plt.figure(figsize=(w / 100, h / 100), dpi=100)
            ax = fig.add_axes([0, 0, 1, 1])
            ax.axis("off")
            ax.imshow(photo)
            ax.imshow(
                m.reshape(grid),
                cmap="viridis",
                alpha=0.6,
                extent=(0, w, h, 0),
                interpolation="bilinear",
            )
            fig.savefig(os.path.join(out_dir, f"L{layer:02d}_h{head}.png"), dpi=100)
            plt.close(fig)


def main():
    case, model_dir, image, out_dir, runs = sys.argv[1:6]
    side = int(case.split("-")[1])
    runs = int(runs)
    os.makedirs(out_dir, exist_ok=True)
    torch.set_grad_enabled(False)
    forward_capture, forward_plain, forward_eager, patch = load_model(case, model_dir)
    grid = (side // patch, side // patch)
    stages = {k: [] for k in ["total", "decode", "forward", "maps", "rollout", "distance", "png"]}
    plain, eager = [], []
    for i in range(runs + 1):  # the first run warms up
        t0 = time.perf_counter()
        photo, x = preprocess(image, side)
        t1 = time.perf_counter()
        attn = [a.float().numpy() for a in forward_capture(x)]
        t2 = time.perf_counter()
        p = attn[0].shape[-1] - grid[0] * grid[1]
        maps = [[a[h, 0, p:] for h in range(a.shape[0])] for a in attn]
        t3 = time.perf_counter()
        roll = rollout(attn)
        t4 = time.perf_counter()
        stats = distances(attn, grid, patch)
        t5 = time.perf_counter()
        write_pngs(photo, maps, grid, out_dir)
        t6 = time.perf_counter()
        assert roll.shape == (grid[0] * grid[1],) and len(stats) == len(attn)
        del attn, maps
        s = time.perf_counter()
        forward_plain(x)
        e = time.perf_counter()
        forward_eager(x)
        f = time.perf_counter()
        if i == 0:
            continue
        for k, v in zip(stages, [t6 - t0, t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5]):
            stages[k].append(v * 1e3)
        plain.append((e - s) * 1e3)
        eager.append((f - e) * 1e3)
    result = {k: float(np.median(v)) for k, v in stages.items()}
    result["forward_plain"] = float(np.median(plain))
    result["forward_eager"] = float(np.median(eager))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["threads"] = torch.get_num_threads()
    result["pngs"] = len([f for f in os.listdir(out_dir) if f.endswith(".png")])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
