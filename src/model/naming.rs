//! Tensor naming: every family's names mapped onto one canonical set (timm's names), so that detection,
//! validation and the forward pass are written once.
//!
//! Canonical names and shapes (D width, P patch, M MLP width, C classes):
//! ```text
//! cls_token [1,1,D]   dist_token [1,1,D]   reg_token [1,R,D]   pos_embed [1,T,D]
//! patch_embed.proj.weight [D,3,P,P]  .bias [D]          norm_pre.{weight,bias} [D]
//! blocks.N.norm1.*  blocks.N.attn.qkv.weight [3D,D] .bias [3D]  blocks.N.attn.proj.*  blocks.N.ls1.gamma [D]
//! blocks.N.norm2.*  blocks.N.mlp.fc1.weight [M or 2M,D]  blocks.N.mlp.fc2.weight [D,M]  blocks.N.ls2.gamma [D]
//! norm.* (all tokens)   fc_norm.* (pooled feature)   head.* [C,·]   head_dist.* [C,D]   image_proj.weight [E,D]
//! ```
//! Hugging Face checkpoints keep Q, K and V apart: the canonical `qkv` is their concatenation along the output
//! axis (the order timm's fused layer uses). CLIP stores its class embedding as `[D]` and its position table as
//! `[T, D]`: those are reshaped. Which file names feed which canonical tensor is [`Source`].

use super::config::Family;

/// How file tensors become one canonical tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// The same tensor.
    Same,
    /// Equal-shaped tensors concatenated along the first axis (Q, K, V → qkv; gate, up → a packed SwiGLU fc1).
    Cat,
    /// Two tensors (the Q and V biases) with a zero K bias between them: `[q; 0; v]` (EVA, DINOv3, where the key
    /// has no bias).
    QkvNoKeyBias,
    /// The first tensor multiplied by the second (the official DINOv3 `qkv.bias × qkv.bias_mask`).
    Masked,
    /// A slice of the first axis of one file tensor, in thirds: `first` third on, `count` thirds (the Q or the
    /// K,V rows of PyTorch's `MultiheadAttention.in_proj_weight`).
    Thirds { first: usize, count: usize },
    /// The same values with this many leading unit axes dropped in the file (`[D]` for `[1,1,D]`: 2, `[T,D]` for
    /// `[1,T,D]`: 1).
    Squeezed(usize),
}

/// The file tensors behind one canonical tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub files: Vec<String>,
    pub fit: Fit,
}

impl Source {
    fn one(name: String) -> Source {
        Source {
            files: vec![name],
            fit: Fit::Same,
        }
    }
    fn squeezed(name: String, axes: usize) -> Source {
        Source {
            files: vec![name],
            fit: Fit::Squeezed(axes),
        }
    }
    fn thirds(name: String, first: usize, count: usize) -> Source {
        Source {
            files: vec![name],
            fit: Fit::Thirds { first, count },
        }
    }
    fn of(fit: Fit, files: Vec<String>) -> Source {
        Source { files, fit }
    }
    fn qkv(prefix: &str, names: [&str; 3], param: &str) -> Source {
        Source::of(
            Fit::Cat,
            names
                .iter()
                .map(|n| format!("{prefix}{n}.{param}"))
                .collect(),
        )
    }
    /// Separate Q, K, V projections whose K has no bias: the weights concatenated, the biases `[q; 0; v]`.
    fn qkv_no_key_bias(prefix: &str, names: [&str; 3], param: &str) -> Source {
        match param {
            "bias" => Source::of(
                Fit::QkvNoKeyBias,
                vec![
                    format!("{prefix}{}.bias", names[0]),
                    format!("{prefix}{}.bias", names[2]),
                ],
            ),
            _ => Source::qkv(prefix, names, param),
        }
    }

    /// How many equal parts the canonical tensor's first axis is made of.
    fn parts(&self) -> usize {
        match self.fit {
            Fit::Cat => self.files.len(),
            Fit::QkvNoKeyBias => 3,
            _ => 1,
        }
    }

    /// The canonical shape from the files' shapes (`None` when they do not fit together).
    pub fn canonical_shape(&self, file_shapes: &[Vec<usize>]) -> Option<Vec<usize>> {
        let first = file_shapes.first()?;
        match self.fit {
            Fit::Same => Some(first.clone()),
            Fit::Cat | Fit::QkvNoKeyBias | Fit::Masked => {
                if file_shapes.len() != self.files.len()
                    || file_shapes.iter().any(|s| s != first)
                    || first.is_empty()
                {
                    return None;
                }
                let mut s = first.clone();
                s[0] *= self.parts();
                Some(s)
            }
            Fit::Squeezed(axes) => {
                let mut out = vec![1; axes];
                out.extend(first);
                Some(out)
            }
            Fit::Thirds { count, .. } => {
                let mut s = first.clone();
                if s.is_empty() || s[0] % 3 != 0 {
                    return None;
                }
                s[0] = s[0] / 3 * count;
                Some(s)
            }
        }
    }

    /// The shape each file tensor must have for a canonical shape.
    pub fn file_shape(&self, canonical: &[usize]) -> Vec<usize> {
        match self.fit {
            Fit::Same | Fit::Masked => canonical.to_vec(),
            Fit::Cat | Fit::QkvNoKeyBias => {
                let mut s = canonical.to_vec();
                if let Some(first) = s.first_mut() {
                    *first /= self.parts();
                }
                s
            }
            Fit::Squeezed(axes) => canonical[axes.min(canonical.len())..].to_vec(),
            Fit::Thirds { count, .. } => {
                let mut s = canonical.to_vec();
                if let Some(first) = s.first_mut() {
                    *first = *first / count.max(1) * 3;
                }
                s
            }
        }
    }

    /// The canonical tensor from the file tensors (in `files` order), before reshaping.
    pub fn combine(&self, parts: &[&tch::Tensor]) -> Result<tch::Tensor, tch::TchError> {
        match self.fit {
            Fit::Same | Fit::Squeezed(_) => Ok(parts[0].shallow_clone()),
            Fit::Cat => tch::Tensor::f_cat(parts, 0),
            Fit::QkvNoKeyBias => {
                let zeros = parts[0].f_zeros_like()?;
                tch::Tensor::f_cat(&[parts[0], &zeros, parts[1]], 0)
            }
            Fit::Masked => parts[0].f_mul(parts[1]),
            Fit::Thirds { first, count } => {
                let third = parts[0].size()[0] / 3;
                parts[0].f_narrow(0, first as i64 * third, count as i64 * third)
            }
        }
    }
}

/// Map a canonical name to the file tensors of `family` (vision model under `root`). `has` tells whether the
/// file holds a name (used where a family has alternatives, e.g. `classifier` vs `cls_classifier`).
pub fn source(
    family: Family,
    root: &str,
    canonical: &str,
    has: &dyn Fn(&str) -> bool,
) -> Option<Source> {
    match family {
        Family::Timm => Some(Source::one(canonical.to_string())),
        Family::HfVit | Family::HfDinov2 => hf_vit_source(family, root, canonical, has),
        Family::HfClip => hf_clip_source(root, canonical),
        Family::HfSiglip => hf_siglip_source(root, canonical),
        Family::TimmSwin | Family::HfSwin => super::swin::source(family, root, canonical, has),
        Family::TimmEva | Family::TimmBeit => Some(timm_eva_source(canonical, has)),
        Family::HfBeit => hf_vit_source(family, root, canonical, has),
        Family::Dinov3 => Some(dinov3_source(canonical, has)),
        Family::HfDinov3 => hf_dinov3_source(root, canonical, has),
    }
}

/// timm `Eva`: timm's names, with EVA's own for LayerScale, the Q/V biases, separate projections and SwiGLU.
fn timm_eva_source(canonical: &str, has: &dyn Fn(&str) -> bool) -> Source {
    let same = || Source::one(canonical.to_string());
    let Some((n, part)) = block_part(canonical) else {
        return same();
    };
    let b = format!("blocks.{n}.");
    let separate = has(&format!("{b}attn.q_proj.weight"));
    let qkv = ["q_proj", "k_proj", "v_proj"];
    match part {
        "attn.qkv.weight" if separate => Source::qkv(&format!("{b}attn."), qkv, "weight"),
        "attn.qkv.bias" if separate => Source::qkv_no_key_bias(&format!("{b}attn."), qkv, "bias"),
        "attn.qkv.bias" => Source::of(
            Fit::QkvNoKeyBias,
            vec![format!("{b}attn.q_bias"), format!("{b}attn.v_bias")],
        ),
        "ls1.gamma" => Source::one(format!("{b}gamma_1")),
        "ls2.gamma" => Source::one(format!("{b}gamma_2")),
        "mlp.fc1.weight" | "mlp.fc1.bias" if has(&format!("{b}mlp.fc1_g.weight")) => {
            let param = part.rsplit('.').next().unwrap_or("weight");
            Source::of(
                Fit::Cat,
                vec![
                    format!("{b}mlp.fc1_g.{param}"),
                    format!("{b}mlp.fc1_x.{param}"),
                ],
            )
        }
        _ => same(),
    }
}

/// The official DINOv3 checkpoints: timm-like names, `storage_tokens`, a masked QKV bias, SwiGLU as w1/w2/w3.
fn dinov3_source(canonical: &str, has: &dyn Fn(&str) -> bool) -> Source {
    match canonical {
        "reg_token" => return Source::one("storage_tokens".into()),
        "rope_periods" => return Source::one("rope_embed.periods".into()),
        _ => {}
    }
    let same = || Source::one(canonical.to_string());
    let Some((n, part)) = block_part(canonical) else {
        return same();
    };
    let b = format!("blocks.{n}.");
    let param = part.rsplit('.').next().unwrap_or("weight");
    match part {
        "attn.qkv.bias" if has(&format!("{b}attn.qkv.bias_mask")) => Source::of(
            Fit::Masked,
            vec![
                format!("{b}attn.qkv.bias"),
                format!("{b}attn.qkv.bias_mask"),
            ],
        ),
        "mlp.fc1.weight" | "mlp.fc1.bias" if has(&format!("{b}mlp.w1.weight")) => Source::of(
            Fit::Cat,
            vec![format!("{b}mlp.w1.{param}"), format!("{b}mlp.w2.{param}")],
        ),
        "mlp.fc1.weight" | "mlp.fc1.bias" if has(&format!("{b}mlp.w12.weight")) => {
            Source::one(format!("{b}mlp.w12.{param}"))
        }
        "mlp.fc2.weight" | "mlp.fc2.bias" if has(&format!("{b}mlp.w3.weight")) => {
            Source::one(format!("{b}mlp.w3.{param}"))
        }
        _ => same(),
    }
}

/// Hugging Face `DINOv3ViTModel`.
fn hf_dinov3_source(r: &str, canonical: &str, has: &dyn Fn(&str) -> bool) -> Option<Source> {
    if let Some((n, part)) = block_part(canonical) {
        let b = format!("{r}layer.{n}.");
        let (module, param) = part.rsplit_once('.')?;
        let attn = format!("{b}attention.");
        let qkv = ["q_proj", "k_proj", "v_proj"];
        let name = match module {
            "norm1" | "norm2" => module,
            "attn.qkv" if has(&format!("{attn}k_proj.bias")) => {
                return Some(Source::qkv(&attn, qkv, param));
            }
            "attn.qkv" => return Some(Source::qkv_no_key_bias(&attn, qkv, param)),
            "attn.proj" => "attention.o_proj",
            "ls1" => return Some(Source::one(format!("{b}layer_scale1.lambda1"))),
            "ls2" => return Some(Source::one(format!("{b}layer_scale2.lambda1"))),
            "mlp.fc1" if has(&format!("{b}mlp.gate_proj.weight")) => {
                return Some(Source::of(
                    Fit::Cat,
                    vec![
                        format!("{b}mlp.gate_proj.{param}"),
                        format!("{b}mlp.up_proj.{param}"),
                    ],
                ));
            }
            "mlp.fc1" => "mlp.up_proj",
            "mlp.fc2" => "mlp.down_proj",
            _ => return None,
        };
        return Some(Source::one(format!("{b}{name}.{param}")));
    }
    let e = format!("{r}embeddings.");
    Some(Source::one(match canonical {
        "cls_token" => format!("{e}cls_token"),
        "reg_token" => format!("{e}register_tokens"),
        "patch_embed.proj.weight" => format!("{e}patch_embeddings.weight"),
        "patch_embed.proj.bias" => format!("{e}patch_embeddings.bias"),
        "norm.weight" => format!("{r}norm.weight"),
        "norm.bias" => format!("{r}norm.bias"),
        _ => return None,
    }))
}

/// Split `blocks.N.rest` into `(N, rest)`.
fn block_part(canonical: &str) -> Option<(usize, &str)> {
    let rest = canonical.strip_prefix("blocks.")?;
    let (n, part) = rest.split_once('.')?;
    Some((n.parse().ok()?, part))
}

fn hf_vit_source(
    family: Family,
    r: &str,
    canonical: &str,
    has: &dyn Fn(&str) -> bool,
) -> Option<Source> {
    let dinov2 = family == Family::HfDinov2;
    let beit = family == Family::HfBeit;
    if let Some((n, part)) = block_part(canonical) {
        let b = format!("{r}encoder.layer.{n}.");
        let (module, param) = part.rsplit_once('.')?;
        let attn = format!("{b}attention.attention.");
        let qkv = ["query", "key", "value"];
        let name = match module {
            "attn.qkv" if beit => return Some(Source::qkv_no_key_bias(&attn, qkv, param)),
            "attn" if beit && param == "relative_position_bias_table" => {
                return Some(Source::one(format!(
                    "{attn}relative_position_bias.relative_position_bias_table"
                )));
            }
            "ls1" if beit => return Some(Source::one(format!("{b}lambda_1"))),
            "ls2" if beit => return Some(Source::one(format!("{b}lambda_2"))),
            "norm1" if dinov2 => "norm1",
            "norm2" if dinov2 => "norm2",
            "norm1" => "layernorm_before",
            "norm2" => "layernorm_after",
            "attn.qkv" => return Some(Source::qkv(&attn, ["query", "key", "value"], param)),
            "attn.proj" => "attention.output.dense",
            "ls1" if dinov2 => return Some(Source::one(format!("{b}layer_scale1.lambda1"))),
            "ls2" if dinov2 => return Some(Source::one(format!("{b}layer_scale2.lambda1"))),
            "mlp.fc1" if dinov2 && has(&format!("{b}mlp.weights_in.weight")) => "mlp.weights_in",
            "mlp.fc2" if dinov2 && has(&format!("{b}mlp.weights_out.weight")) => "mlp.weights_out",
            "mlp.fc1" if dinov2 => "mlp.fc1",
            "mlp.fc2" if dinov2 => "mlp.fc2",
            "mlp.fc1" => "intermediate.dense",
            "mlp.fc2" => "output.dense",
            _ => return None,
        };
        return Some(Source::one(format!("{b}{name}.{param}")));
    }
    let e = format!("{r}embeddings.");
    Some(Source::one(match canonical {
        "cls_token" => format!("{e}cls_token"),
        "dist_token" if !dinov2 => format!("{e}distillation_token"),
        "reg_token" if dinov2 => format!("{e}register_tokens"),
        "pos_embed" => format!("{e}position_embeddings"),
        "patch_embed.proj.weight" => format!("{e}patch_embeddings.projection.weight"),
        "patch_embed.proj.bias" => format!("{e}patch_embeddings.projection.bias"),
        "norm.weight" => format!("{r}layernorm.weight"),
        "norm.bias" => format!("{r}layernorm.bias"),
        "fc_norm.weight" if beit => format!("{r}pooler.layernorm.weight"),
        "fc_norm.bias" if beit => format!("{r}pooler.layernorm.bias"),
        "rel_pos_bias.relative_position_bias_table" if beit => {
            format!("{r}encoder.relative_position_bias.relative_position_bias_table")
        }
        // Classifiers sit outside the base model's prefix.
        "head.weight" | "head.bias" => {
            let param = canonical.rsplit('.').next()?;
            if has("cls_classifier.weight") {
                format!("cls_classifier.{param}")
            } else {
                format!("classifier.{param}")
            }
        }
        "head_dist.weight" => "distillation_classifier.weight".into(),
        "head_dist.bias" => "distillation_classifier.bias".into(),
        _ => return None,
    }))
}

/// Hugging Face SigLIP: CLIP's encoder names, no class embedding, `post_layernorm` over every token, and the
/// attention-pooling head (`head.probe`, `head.attention.in_proj_*` split into Q and K,V, `out_proj`, `layernorm`,
/// `mlp`).
fn hf_siglip_source(r: &str, canonical: &str) -> Option<Source> {
    if let Some(part) = canonical.strip_prefix("attn_pool.") {
        let h = format!("{r}head.");
        let (module, param) = part.rsplit_once('.').unwrap_or((part, ""));
        let in_proj = |first, count| {
            Some(Source::thirds(
                format!("{h}attention.in_proj_{param}"),
                first,
                count,
            ))
        };
        return match module {
            "latent" => Some(Source::one(format!("{h}probe"))),
            "q" => in_proj(0, 1),
            "kv" => in_proj(1, 2),
            "proj" => Some(Source::one(format!("{h}attention.out_proj.{param}"))),
            "norm" => Some(Source::one(format!("{h}layernorm.{param}"))),
            "mlp.fc1" | "mlp.fc2" => Some(Source::one(format!("{h}{module}.{param}"))),
            _ => None,
        };
    }
    match canonical {
        "cls_token" | "norm_pre.weight" | "norm_pre.bias" | "image_proj.weight" => None,
        "fc_norm.weight" | "fc_norm.bias" => None,
        "norm.weight" => Some(Source::one(format!("{r}post_layernorm.weight"))),
        "norm.bias" => Some(Source::one(format!("{r}post_layernorm.bias"))),
        _ => hf_clip_source(r, canonical),
    }
}

fn hf_clip_source(r: &str, canonical: &str) -> Option<Source> {
    if let Some((n, part)) = block_part(canonical) {
        let b = format!("{r}encoder.layers.{n}.");
        let (module, param) = part.rsplit_once('.')?;
        let name = match module {
            "norm1" => "layer_norm1",
            "norm2" => "layer_norm2",
            "attn.qkv" => {
                return Some(Source::qkv(
                    &format!("{b}self_attn."),
                    ["q_proj", "k_proj", "v_proj"],
                    param,
                ));
            }
            "attn.proj" => "self_attn.out_proj",
            "mlp.fc1" => "mlp.fc1",
            "mlp.fc2" => "mlp.fc2",
            _ => return None,
        };
        return Some(Source::one(format!("{b}{name}.{param}")));
    }
    let e = format!("{r}embeddings.");
    Some(match canonical {
        "cls_token" => Source::squeezed(format!("{e}class_embedding"), 2),
        "pos_embed" => Source::squeezed(format!("{e}position_embedding.weight"), 1),
        "patch_embed.proj.weight" => Source::one(format!("{e}patch_embedding.weight")),
        "patch_embed.proj.bias" => Source::one(format!("{e}patch_embedding.bias")),
        "norm_pre.weight" => Source::one(format!("{r}pre_layrnorm.weight")),
        "norm_pre.bias" => Source::one(format!("{r}pre_layrnorm.bias")),
        "fc_norm.weight" => Source::one(format!("{r}post_layernorm.weight")),
        "fc_norm.bias" => Source::one(format!("{r}post_layernorm.bias")),
        "image_proj.weight" => Source::one("visual_projection.weight".into()),
        _ => return None,
    })
}

/// Tensors a checkpoint of `family` may carry that inference does not use, with a reason.
pub fn ignorable(family: Family, root: &str, name: &str) -> Option<&'static str> {
    let rel = name.strip_prefix(root).unwrap_or(name);
    match family {
        Family::TimmSwin | Family::HfSwin => super::swin::ignorable(rel),
        Family::HfVit | Family::HfDinov2 | Family::HfBeit if rel == "embeddings.mask_token" => {
            Some("mask token (pre-training only)")
        }
        Family::HfVit if rel.starts_with("pooler.") => {
            Some("pooler (tanh dense layer, not used for maps)")
        }
        Family::HfClip | Family::HfSiglip if rel == "embeddings.position_ids" => {
            Some("position ids buffer")
        }
        Family::HfSiglip
            if name.starts_with("text_model.") || name == "logit_scale" || name == "logit_bias" =>
        {
            Some("SigLIP text tower")
        }
        Family::HfDinov3 if rel == "embeddings.mask_token" => {
            Some("mask token (pre-training only)")
        }
        Family::Dinov3 if rel == "mask_token" => Some("mask token (pre-training only)"),
        Family::Dinov3 if rel.starts_with("local_cls_norm.") => {
            Some("local-crop CLS norm (pre-training only)")
        }
        Family::HfBeit | Family::TimmBeit if rel.ends_with("relative_position_index") => {
            Some("relative position index buffer (recomputed)")
        }
        Family::TimmEva if rel.starts_with("rope.") => {
            Some("RoPE buffer (recomputed from the configuration)")
        }
        Family::HfClip
            if name.starts_with("text_model.")
                || name == "text_projection.weight"
                || name == "logit_scale" =>
        {
            Some("CLIP text tower")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hf_qkv_is_three_tensors_and_shapes_round_trip() {
        let none = |_: &str| false;
        let s = source(Family::HfVit, "vit.", "blocks.3.attn.qkv.weight", &none).unwrap();
        assert_eq!(
            s.files,
            [
                "vit.encoder.layer.3.attention.attention.query.weight",
                "vit.encoder.layer.3.attention.attention.key.weight",
                "vit.encoder.layer.3.attention.attention.value.weight"
            ]
        );
        assert_eq!(s.file_shape(&[48, 16]), vec![16, 16]);
        assert_eq!(
            s.canonical_shape(&vec![vec![16, 16]; 3]),
            Some(vec![48, 16])
        );
        assert_eq!(
            s.canonical_shape(&[vec![16, 16], vec![16, 16], vec![8, 16]]),
            None
        );
    }

    #[test]
    fn clip_tokens_are_squeezed() {
        let s = source(Family::HfClip, "vision_model.", "cls_token", &|_| false).unwrap();
        assert_eq!(s.files, ["vision_model.embeddings.class_embedding"]);
        assert_eq!(s.file_shape(&[1, 1, 48]), vec![48]);
        assert_eq!(s.canonical_shape(&[vec![48]]), Some(vec![1, 1, 48]));
        let p = source(Family::HfClip, "vision_model.", "pos_embed", &|_| false).unwrap();
        assert_eq!(p.file_shape(&[1, 37, 48]), vec![37, 48]);
        assert_eq!(p.canonical_shape(&[vec![37, 48]]), Some(vec![1, 37, 48]));
    }

    #[test]
    fn dinov2_swiglu_and_deit_teacher_names() {
        let has =
            |n: &str| n == "encoder.layer.0.mlp.weights_in.weight" || n == "cls_classifier.weight";
        let fc1 = source(Family::HfDinov2, "", "blocks.0.mlp.fc1.bias", &has).unwrap();
        assert_eq!(fc1.files, ["encoder.layer.0.mlp.weights_in.bias"]);
        let head = source(Family::HfVit, "deit.", "head.weight", &has).unwrap();
        assert_eq!(head.files, ["cls_classifier.weight"]);
        assert!(source(Family::HfDinov2, "", "dist_token", &has).is_none());
        assert!(source(Family::HfClip, "vision_model.", "blocks.0.ls1.gamma", &has).is_none());
    }
}
