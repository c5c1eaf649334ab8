//! `vitscope dump`: the exact model input and every layer's attention as safetensors.
//!
//! Contents (all f32): `input` `[1, 3, H, W]` (what the model saw), `attention.L` `[heads, N, N]` for every
//! layer L (0-based), `last_hidden_state` `[N, D]` (the family's final tokens), `pooled` `[D]` (the feature the
//! head sees), and where the model has them `logits` `[classes]` and `image_embeds` `[E]` (CLIP projection).
//! `__metadata__` values are JSON: `num_layers`, `num_heads`, `num_prefix_tokens`, `prefix_tokens`, `grid_h`,
//! `grid_w`, `patch_size`, `family`, `description`, `precision`, `num_classes`, `input_h`, `input_w`, `model`,
//! `image`, `device`, `vitscope_version`.
use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};
use tch::{Device, Kind, Tensor};

use super::{ExportError, write_atomic};
use crate::model::{Capture, ModelError, Vit};

fn f32_bytes(t: &Tensor) -> Result<(Vec<usize>, Vec<u8>), ModelError> {
    let t = t
        .f_to_device(Device::Cpu)?
        .f_to_kind(Kind::Float)?
        .f_contiguous()?;
    let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
    let v = Vec::<f32>::try_from(t.f_flatten(0, -1)?)?;
    Ok((shape, v.iter().flat_map(|x| x.to_le_bytes()).collect()))
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
    overwrite: bool,
) -> Result<(), ExportError> {
    let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let (s, b) = f32_bytes(input)?;
    owned.push(("input".into(), s, b));
    for (l, a) in capture.matrices()?.iter().enumerate() {
        let (s, b) = f32_bytes(a)?;
        owned.push((format!("attention.{l}"), s, b));
    }
    let outputs = [
        ("last_hidden_state", Some(&capture.last_hidden_state)),
        ("pooled", Some(&capture.pooled)),
        ("logits", capture.logits.as_ref()),
        ("image_embeds", capture.image_embeds.as_ref()),
    ];
    for (name, t) in outputs {
        if let Some(t) = t {
            let (s, b) = f32_bytes(t)?;
            owned.push((name.into(), s, b));
        }
    }
    let layout = &capture.layout;
    let j = |v: serde_json::Value| v.to_string();
    let meta: HashMap<String, String> = [
        ("num_layers", j(capture.attentions.len().into())),
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
        ("image", j(image_name.into())),
        ("device", j(crate::model::device_name(vit.device).into())),
        ("vitscope_version", j(env!("CARGO_PKG_VERSION").into())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let views: Vec<(String, TensorView)> = owned
        .iter()
        .map(|(n, s, b)| TensorView::new(Dtype::F32, s.clone(), b).map(|v| (n.clone(), v)))
        .collect::<Result<_, _>>()
        .map_err(|e| ExportError::Encode {
            path: path.into(),
            reason: format!("{e:?}"),
        })?;
    let bytes = safetensors::serialize(views, &Some(meta)).map_err(|e| ExportError::Encode {
        path: path.into(),
        reason: format!("{e:?}"),
    })?;
    write_atomic(path, overwrite, |w| {
        use std::io::Write;
        w.write_all(&bytes).map_err(|source| ExportError::Write {
            path: path.into(),
            source,
        })
    })
}
