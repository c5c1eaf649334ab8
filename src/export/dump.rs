//! `vitscope dump`: the exact model input and every layer's attention as safetensors.
//!
//! Contents (all f32): `input` `[1, 3, H, W]` (what the model saw), `attention.L` `[heads, N, N]` for every
//! layer L (0-based), `last_hidden_state` `[N, D]` (the family's final tokens), `pooled` `[D]` (the feature the
//! head sees), and where the model has them `logits` `[classes]`, `image_embeds` `[E]` (CLIP projection) and
//! `pool_attention` `[heads, N]` (the attention-pooling probe's attention over the final tokens: SigLIP, timm
//! `map`). `__metadata__` values are JSON: `num_layers`, `num_heads`, `num_prefix_tokens`, `prefix_tokens`
//! (`CLS`, `DIST`, `REGn`; `MAP` is listed in `query_tokens` when the model pools by attention, since the probe
//! is not in the sequence), `query_tokens`, `grid_h`, `grid_w`, `patch_size`, `family`, `description`,
//! `position`, `pool`, `precision`, `num_classes`, `input_h`, `input_w`, `model`, `image`, `device`,
//! `vitscope_version`.
//!
//! A Swin (windowed attention) writes `attention.L` as `[windows, heads, M², M²]` in the model's own window
//! order and `windows`: per block `stage`, `grid` (rows, cols of that stage), `padded`, `window`, `shift`,
//! `cell_px` and `pad_then_roll` (see `model::swin::WindowMeta` for how a row maps to an image cell).
//!
//! The file is streamed: the header is written from the tensors' shapes, then each tensor's bytes straight
//! from its storage (one layer rebuilt at a time when the capture keeps half maps or queries and keys), so a
//! dump needs no second copy of the attention. Metadata keys are sorted: the same run gives the same bytes.
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use tch::{Device, Kind, Tensor};

use super::{ExportError, write_atomic};
use crate::model::{Capture, ModelError, Vit};

/// A tensor of the dump: its name and how to get it as a contiguous f32 CPU tensor when its turn comes.
struct Entry<'a> {
    name: String,
    shape: Vec<usize>,
    get: Box<dyn Fn() -> Result<Tensor, ModelError> + 'a>,
}

fn f32_cpu(t: &Tensor) -> Result<Tensor, ModelError> {
    Ok(t.f_to_device(Device::Cpu)?
        .f_to_kind(Kind::Float)?
        .f_contiguous()?)
}

fn shape_of(t: &Tensor) -> Vec<usize> {
    t.size().iter().map(|&d| d as usize).collect()
}

/// The safetensors header for `entries` (f32, in this order, back to back), padded to 8 bytes as the
/// format's reference writer does.
fn header(entries: &[Entry], meta: &BTreeMap<String, String>) -> Vec<u8> {
    let mut h = serde_json::Map::new();
    h.insert(
        "__metadata__".into(),
        serde_json::to_value(meta).unwrap_or_default(),
    );
    let mut offset = 0usize;
    for e in entries {
        let bytes = e.shape.iter().product::<usize>() * 4;
        h.insert(
            e.name.clone(),
            serde_json::json!({"dtype": "F32", "shape": e.shape, "data_offsets": [offset, offset + bytes]}),
        );
        offset += bytes;
    }
    let mut text = serde_json::Value::Object(h).to_string().into_bytes();
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    text
}

/// Write a contiguous f32 CPU tensor's bytes (little-endian, as the machine holds them) without a copy.
fn write_f32(w: &mut impl Write, t: &Tensor) -> std::io::Result<()> {
    debug_assert!(t.kind() == Kind::Float && t.is_contiguous() && t.device() == Device::Cpu);
    let n = t.numel();
    if n == 0 {
        return Ok(());
    }
    #[cfg(target_endian = "little")]
    {
        // SAFETY: `t` is a contiguous f32 tensor on the CPU holding `n` elements, alive for this call.
        let bytes = unsafe { std::slice::from_raw_parts(t.data_ptr() as *const u8, n * 4) };
        w.write_all(bytes)
    }
    #[cfg(not(target_endian = "little"))]
    {
        let v = Vec::<f32>::try_from(t.flatten(0, -1)).map_err(std::io::Error::other)?;
        let b: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        w.write_all(&b)
    }
}

/// Write the dump of `capture` (computed from `input`) to `path`.
#[allow(clippy::too_many_arguments)]
pub fn write_dump(
    path: &Path,
    vit: &Vit,
    input: &Tensor,
    capture: &Capture,
    model_name: &str,
    image_name: &str,
    intervention: Option<&str>,
    overwrite: bool,
) -> Result<(), ExportError> {
    let src = capture.source();
    let n = src.tokens();
    let heads = src.heads();
    // Half maps and queries/keys are widened one layer at a time: that layer (and its softmax) must fit.
    let stored_f32 = (capture.attentions.iter().all(|a| a.kind() == Kind::Float)
        && capture.query_keys.is_none())
        || capture.windowed.is_some();
    if !stored_f32
        && src.device() == Device::Cpu
        && let Some(avail) = crate::model::device::available_memory()
    {
        let need = 2 * (heads * n * n * 4) as u64;
        if need as f64 > 0.8 * avail as f64 {
            const GIB: f64 = (1u64 << 30) as f64;
            return Err(ModelError::Invalid(format!(
                "the dump writes every layer's attention as f32: one layer of {n} tokens takes {:.1} GiB to \
                 rebuild, and about {:.1} GiB of memory is available; use a smaller input size",
                need as f64 / GIB / 2.0,
                avail as f64 / GIB
            ))
            .into());
        }
    }
    let mut entries: Vec<Entry> = vec![Entry {
        name: "input".into(),
        shape: shape_of(input),
        get: Box::new(|| f32_cpu(input)),
    }];
    // Swin: each block's window attention as the model computed it, placed by the `windows` metadata.
    for (l, a) in capture.window_attentions.iter().enumerate() {
        entries.push(Entry {
            name: format!("attention.{l}"),
            shape: shape_of(a),
            get: Box::new(move || f32_cpu(a)),
        });
    }
    let global_layers = if capture.windowed.is_some() {
        0
    } else {
        src.layers()
    };
    for l in 0..global_layers {
        let src = &src;
        entries.push(Entry {
            name: format!("attention.{l}"),
            shape: vec![heads, n, n],
            get: Box::new(move || match capture.attentions.get(l) {
                Some(a) if a.kind() == Kind::Float => f32_cpu(a),
                _ => f32_cpu(&src.rows(l, 0, n as i64)?),
            }),
        });
    }
    let outputs = [
        ("last_hidden_state", Some(&capture.last_hidden_state)),
        ("pooled", Some(&capture.pooled)),
        ("logits", capture.logits.as_ref()),
        ("image_embeds", capture.image_embeds.as_ref()),
        ("pool_attention", capture.pool_attention.as_ref()),
    ];
    for (name, t) in outputs {
        if let Some(t) = t {
            entries.push(Entry {
                name: name.into(),
                shape: shape_of(t),
                get: Box::new(move || f32_cpu(t)),
            });
        }
    }
    let layout = &capture.layout;
    let j = |v: serde_json::Value| v.to_string();
    let meta: BTreeMap<String, String> = [
        ("num_layers", j(src.layers().into())),
        ("num_heads", j(vit.config.num_attention_heads.into())),
        ("num_prefix_tokens", j(layout.num_prefix().into())),
        (
            "prefix_tokens",
            j(layout
                .prefix
                .iter()
                .map(|p| p.label())
                .collect::<Vec<_>>()
                .into()),
        ),
        (
            "query_tokens",
            j(layout
                .prefix
                .iter()
                .map(|p| p.label())
                .chain(capture.pool_attention.is_some().then(|| "MAP".to_string()))
                .collect::<Vec<_>>()
                .into()),
        ),
        ("position", j(vit.config.position_scheme().into())),
        (
            "windows",
            j(serde_json::to_value(&capture.windows).unwrap_or_default()),
        ),
        ("pool", j(format!("{:?}", vit.config.pool).into())),
        ("grid_h", j(layout.grid_h.into())),
        ("grid_w", j(layout.grid_w.into())),
        ("patch_size", j(layout.patch_size.into())),
        ("input_h", j(capture.input_hw.0.into())),
        ("input_w", j(capture.input_hw.1.into())),
        ("family", j(vit.config.family.id().into())),
        ("description", j(vit.config.description.clone().into())),
        ("precision", j(vit.precision.label().into())),
        ("num_classes", j(vit.config.num_classes.into())),
        ("model", j(model_name.into())),
        ("intervention", j(intervention.unwrap_or("none").into())),
        ("image", j(image_name.into())),
        ("device", j(crate::model::device_name(vit.device).into())),
        ("vitscope_version", j(env!("CARGO_PKG_VERSION").into())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let head = header(&entries, &meta);
    let werr = |source| ExportError::Write {
        path: path.into(),
        source,
    };
    write_atomic(path, overwrite, |w| {
        w.write_all(&(head.len() as u64).to_le_bytes())
            .map_err(werr)?;
        w.write_all(&head).map_err(werr)?;
        for e in &entries {
            let t = (e.get)()?;
            if shape_of(&t) != e.shape {
                return Err(ExportError::Encode {
                    path: path.into(),
                    reason: format!(
                        "{} has shape {:?}, expected {:?}",
                        e.name,
                        t.size(),
                        e.shape
                    ),
                });
            }
            write_f32(w, &t).map_err(werr)?;
        }
        Ok(())
    })
}
