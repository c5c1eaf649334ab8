//! Building a [`VitConfig`] from a checkpoint: the family's config files where present (HF `config.json`,
//! CLIPModel's `vision_config`, `preprocessor_config.json`, timm's `model_args` / `pretrained_cfg`), tensor
//! shapes otherwise. Every inferred or defaulted value is recorded in `VitConfig::inferred`, in words.

use serde_json::Value;

use super::checkpoint::Checkpoint;
use super::config::{
    Activation, Family, HALF_MEAN_STD, IMAGENET_MEAN, IMAGENET_STD, OPENAI_CLIP_MEAN,
    OPENAI_CLIP_STD, Pool, RelPos, Rope, VitConfig,
};
use super::error::{ModelError, Result};
use super::layout::PrefixToken;

impl Checkpoint {
    pub(super) fn build_config(&self, family: Family, root: &str) -> Result<VitConfig> {
        if matches!(family, Family::TimmSwin | Family::HfSwin) {
            return self.build_swin_config(family, root);
        }
        let mut inferred = Vec::new();
        let probe = |c: &str| self.probe(family, root, c);
        let mismatch = |report: String| ModelError::Mismatch {
            family: family.name().into(),
            report,
        };
        let json = self.config.as_ref();
        // CLIPModel keeps the vision tower's settings under vision_config.
        let hf = json.and_then(|c| c.get("vision_config")).or(json);
        let hf_num = |k: &str| hf.and_then(|c| c.get(k)).and_then(Value::as_f64);
        let hf_str = |k: &str| hf.and_then(|c| c.get(k)).and_then(Value::as_str);
        let model_args = json.and_then(|c| c.get("model_args"));
        let timm_arg = |k: &str| model_args.and_then(|a| a.get(k));
        let architecture = json
            .and_then(|c| c.get("architecture"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let config_path = self
            .weights_path
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("config.json");
        let bad_value = |reason: String| ModelError::Config {
            path: config_path.clone(),
            reason,
        };
        // A count the config gives (HF key, else timm model_args key): a whole number in 1..=max, never
        // truncated or wrapped; absent is None.
        let count = |hf_key: &str, timm_key: &str, max: usize| -> Result<Option<usize>> {
            let (key, v) = match (hf.and_then(|c| c.get(hf_key)), timm_arg(timm_key)) {
                (Some(v), _) if !v.is_null() => (hf_key, v),
                (_, Some(v)) if !v.is_null() => (timm_key, v),
                _ => return Ok(None),
            };
            whole(v, max).map(Some).ok_or_else(|| {
                bad_value(format!(
                    "{key} = {v} is not a whole number between 1 and {max}"
                ))
            })
        };
        // The config and the weights must tell the same story; a contradiction is an error, not a guess.
        let agree = |what: &str, key: &str, said: Option<usize>, found: usize| -> Result<()> {
            match said {
                Some(s) if s != found => Err(mismatch(format!(
                    "config.json says {what} is {s} ({key}) but the weights hold {found}"
                ))),
                _ => Ok(()),
            }
        };

        let proj = probe("patch_embed.proj.weight").unwrap_or_default();
        if proj.len() != 4 || proj[1] != 3 || proj[2] != proj[3] || proj[2] == 0 {
            return Err(mismatch(format!(
                "the patch projection has shape {proj:?}; vitscope needs [width, 3, P, P] (square patches, RGB)"
            )));
        }
        let (d, patch) = (proj[0], proj[2]);
        let layers = (0..)
            .take_while(|i| probe(&format!("blocks.{i}.norm1.weight")).is_some())
            .count();
        if layers == 0 {
            return Err(mismatch("no transformer blocks found".into()));
        }
        agree(
            "the number of layers",
            "num_hidden_layers/depth",
            count("num_hidden_layers", "depth", 10_000)?,
            layers,
        )?;
        agree(
            "the width",
            "hidden_size/embed_dim",
            count("hidden_size", "embed_dim", 1 << 20)?,
            d,
        )?;
        agree(
            "the patch size",
            "patch_size",
            count("patch_size", "patch_size", 4096)?,
            patch,
        )?;

        let mut prefix = Vec::new();
        if probe("cls_token").is_some() {
            prefix.push(PrefixToken::Cls);
        }
        if probe("dist_token").is_some() {
            prefix.push(PrefixToken::Distillation);
        }
        let registers = probe("reg_token")
            .and_then(|s| s.get(1).copied())
            .unwrap_or(0);
        prefix.extend((0..registers).map(PrefixToken::Register));
        if let Some(r) = hf
            .and_then(|c| c.get("num_register_tokens"))
            .filter(|v| !v.is_null())
        {
            let said = whole_or_zero(r).ok_or_else(|| {
                bad_value(format!("num_register_tokens = {r} is not a whole number"))
            })?;
            if said != registers {
                return Err(mismatch(format!(
                    "config.json says {said} register tokens (num_register_tokens) but the weights hold {registers}"
                )));
            }
        }

        // The official DINOv3 files carry no config, but their RoPE periods give the head width: 4 per period.
        let periods = (family == Family::Dinov3)
            .then(|| probe("rope_periods"))
            .flatten()
            .and_then(|s| s.first().copied())
            .filter(|&n| n > 0 && d % (4 * n) == 0);
        let heads = match count("num_attention_heads", "num_heads", 1 << 16)? {
            Some(h) => h,
            None if let Some(n) = periods => {
                inferred.push(format!(
                    "{} heads (width {d} / head width {}: 4 x the {n} RoPE periods)",
                    d / (4 * n),
                    4 * n
                ));
                d / (4 * n)
            }
            None => {
                inferred.push(format!(
                    "{} heads (width {d} / 64: the head count is not in the weights)",
                    (d / 64).max(1)
                ));
                (d / 64).max(1)
            }
        };
        if heads == 0 || d % heads != 0 {
            return Err(mismatch(format!(
                "{heads} heads do not divide the width {d}"
            )));
        }

        // Position embeddings and the grid they were trained for.
        let timm_like = matches!(
            family,
            Family::Timm | Family::TimmEva | Family::Dinov3 | Family::TimmBeit
        );
        let rel_table = probe("blocks.0.attn.relative_position_bias_table")
            .map(|s| (s, false))
            .or_else(|| probe("rel_pos_bias.relative_position_bias_table").map(|s| (s, true)));
        let other_scheme = matches!(family, Family::TimmEva | Family::HfDinov3 | Family::Dinov3)
            || rel_table.is_some();
        let abs_pos = probe("pos_embed").is_some() || !other_scheme;
        let pos = probe("pos_embed").unwrap_or_default();
        if abs_pos && (pos.len() != 3 || pos[0] != 1 || pos[2] != d) {
            return Err(mismatch(format!(
                "the position embedding has shape {pos:?}; vitscope needs [1, tokens, {d}]"
            )));
        }
        let n_pos = pos.get(1).copied().unwrap_or(0);
        // timm's pretrained_cfg.input_size is [3, H, W].
        let timm_input_size = json
            .and_then(|c| c.get("pretrained_cfg"))
            .and_then(|c| c.get("input_size"))
            .and_then(Value::as_array)
            .filter(|a| a.len() == 3)
            .and_then(|a| Some((whole(&a[1], MAX_SIZE)?, whole(&a[2], MAX_SIZE)?)));
        let size_hint = match (hf.and_then(|c| c.get("image_size")), timm_arg("img_size")) {
            (Some(v), _) if !v.is_null() => Some(size_pair(v).ok_or_else(|| {
                bad_value(format!(
                    "image_size = {v} is not a size in pixels (a whole number, or two, between 1 and {MAX_SIZE})"
                ))
            })?),
            (_, Some(v)) if !v.is_null() => Some(size_pair(v).ok_or_else(|| {
                bad_value(format!(
                    "img_size = {v} is not a size in pixels (a whole number, or two, between 1 and {MAX_SIZE})"
                ))
            })?),
            _ => timm_input_size,
        };
        let grid_of = |k: usize| -> Option<(usize, usize)> {
            let n = n_pos.checked_sub(k)?;
            if let Some((h, w)) = size_hint
                && (h / patch).checked_mul(w / patch) == Some(n)
                && n > 0
            {
                return Some((h / patch, w / patch));
            }
            let side = (n as f64).sqrt().round() as usize;
            (side > 0 && side * side == n).then_some((side, side))
        };
        let cls_only = usize::from(prefix.first() == Some(&PrefixToken::Cls));
        let pos_prefix = match family {
            _ if !abs_pos => 0,
            Family::Timm | Family::TimmEva | Family::Dinov3 | Family::TimmBeit => {
                match timm_arg("no_embed_class").and_then(Value::as_bool) {
                    Some(true) => 0,
                    Some(false) => prefix.len(),
                    None if grid_of(prefix.len()).is_some() => prefix.len(),
                    None => 0,
                }
            }
            Family::HfVit | Family::HfBeit => prefix.len(),
            Family::HfDinov2 | Family::HfClip | Family::HfDinov3 | Family::HfSiglip => cls_only,
            // (built by build_swin_config)
            Family::TimmSwin | Family::HfSwin => 0,
        };
        let pos_grid = if abs_pos {
            let Some(grid) = grid_of(pos_prefix) else {
                return Err(mismatch(format!(
                    "the position embedding has {n_pos} rows: expected {pos_prefix} prefix rows + a grid of patches"
                )));
            };
            grid
        } else {
            match size_hint {
                Some((h, w)) if h >= patch && w >= patch => (h / patch, w / patch),
                _ => {
                    let side = (224 / patch).max(1);
                    (side, side)
                }
            }
        };
        let head_dim = d / heads;
        let rope = match family {
            Family::HfDinov3 => {
                let base = match hf_num("rope_theta") {
                    Some(b) if b.is_finite() && b > 1.0 => b,
                    Some(b) => {
                        return Err(bad_value(format!("rope_theta = {b} is not a base above 1")));
                    }
                    None => {
                        inferred.push("RoPE base 100 (DINOv3ViTConfig default)".into());
                        100.0
                    }
                };
                Some(Rope::dinov3(base, head_dim))
            }
            Family::Dinov3 => Some(match self.tensors.get("rope_embed.periods") {
                Some(t) if t.size() == [(head_dim / 4) as i64] => Rope::Dinov3 {
                    periods: Vec::<f32>::try_from(t).map_err(ModelError::from)?,
                },
                Some(t) => {
                    return Err(mismatch(format!(
                        "rope_embed.periods has shape {:?}; heads of width {head_dim} need [{}]",
                        t.size(),
                        head_dim / 4
                    )));
                }
                None => {
                    inferred
                        .push("RoPE periods 100^(2k/(head_dim/2)) (no rope_embed.periods)".into());
                    Rope::dinov3(100.0, head_dim)
                }
            }),
            Family::TimmEva => self.timm_rope(
                model_args,
                architecture,
                head_dim,
                pos_grid,
                &mut inferred,
                &mismatch,
            )?,
            _ => None,
        };
        let rel_pos = match rel_table {
            None => None,
            Some((shape, shared)) => {
                let rows = shape.first().copied().unwrap_or(0);
                let fits = |(h, w): (usize, usize)| {
                    h > 0 && w > 0 && (2 * h - 1) * (2 * w - 1) + 3 == rows
                };
                let side = (((rows.saturating_sub(3)) as f64).sqrt().round() as usize + 1) / 2;
                let window = if fits(pos_grid) {
                    pos_grid
                } else if fits((side, side)) {
                    (side, side)
                } else {
                    return Err(mismatch(format!(
                        "the relative position bias table has {rows} rows, which fits no patch grid \
                         ((2h-1)(2w-1)+3 rows for an h x w grid)"
                    )));
                };
                if shape.get(1) != Some(&heads) {
                    return Err(mismatch(format!(
                        "the relative position bias table has shape {shape:?}; {heads} heads need [{rows}, {heads}]"
                    )));
                }
                if prefix != [PrefixToken::Cls] {
                    return Err(mismatch(format!(
                        "a relative position bias with prefix tokens {prefix:?}: its table has entries for one \
                         class token only"
                    )));
                }
                Some(RelPos { window, shared })
            }
        };
        // Without a learned grid, the training grid is the relative bias's window.
        let pos_grid = match &rel_pos {
            Some(r) if !abs_pos && size_hint.is_none() => r.window,
            _ => pos_grid,
        };
        if !abs_pos && rope.is_none() && rel_pos.is_none() {
            return Err(mismatch(
                "the model has neither a position embedding nor RoPE settings".into(),
            ));
        }
        let image_size = size_hint.unwrap_or_else(|| {
            let s = (pos_grid.0 * patch, pos_grid.1 * patch);
            inferred.push(if abs_pos {
                format!("training size {}x{} px (from the position grid)", s.0, s.1)
            } else {
                format!(
                    "training size {}x{} px (the checkpoint names none; with RoPE it only sets the default \
                     input size)",
                    s.0, s.1
                )
            });
            s
        });

        // MLP and activation.
        let (Some(fc1), Some(fc2)) = (
            probe("blocks.0.mlp.fc1.weight"),
            probe("blocks.0.mlp.fc2.weight"),
        ) else {
            return Err(mismatch("block 0 has no MLP (fc1/fc2)".into()));
        };
        if fc1.len() != 2 || fc2.len() != 2 {
            return Err(mismatch(format!(
                "MLP weights have shapes {fc1:?}, {fc2:?}"
            )));
        }
        let mlp_hidden = fc2[1];
        let activation = if fc1[0] == 2 * mlp_hidden {
            if let Some(act) = hf_str("hidden_act").filter(|a| *a != "silu" && *a != "swish")
                && family == Family::HfDinov3
            {
                return Err(mismatch(format!(
                    "a gated MLP with hidden_act = {act}: vitscope computes gated MLPs with SiLU (SwiGLU) only"
                )));
            }
            Activation::SwiGlu
        } else if timm_like {
            match timm_arg("act_layer").and_then(Value::as_str) {
                Some("quick_gelu") => Activation::QuickGelu,
                Some("gelu_tanh") => Activation::GeluTanh,
                Some("gelu") => Activation::Gelu,
                Some(other) => {
                    return Err(mismatch(format!(
                        "unsupported activation act_layer = {other}"
                    )));
                }
                None if architecture.contains("quickgelu") => Activation::QuickGelu,
                None => Activation::Gelu,
            }
        } else {
            match hf_str("hidden_act") {
                Some("gelu") => Activation::Gelu,
                Some("quick_gelu") => Activation::QuickGelu,
                Some("gelu_pytorch_tanh" | "gelu_new") => Activation::GeluTanh,
                Some(other) => {
                    return Err(mismatch(format!(
                        "unsupported activation hidden_act = {other}"
                    )));
                }
                None if family == Family::HfClip => {
                    inferred.push("QuickGELU (CLIP default; no config.json)".into());
                    Activation::QuickGelu
                }
                None if family == Family::HfSiglip => {
                    inferred
                        .push("GELU (tanh) (SiglipVisionConfig default; no config.json)".into());
                    Activation::GeluTanh
                }
                None => {
                    inferred.push("GELU (no hidden_act in a config.json)".into());
                    Activation::Gelu
                }
            }
        };

        let pre_norm = probe("norm_pre.weight").is_some();
        let layer_norm_eps = match hf_num("layer_norm_eps") {
            Some(e) if e.is_finite() && e > 0.0 && e < 1.0 => e,
            Some(e) => {
                return Err(bad_value(format!(
                    "layer_norm_eps = {e} is not a small positive number"
                )));
            }
            None => {
                let (eps, why) = match family {
                    Family::Timm if pre_norm || architecture.contains("clip") => {
                        (1e-5, "timm CLIP towers")
                    }
                    Family::Timm => (1e-6, "timm ViTs"),
                    Family::TimmEva if architecture.contains("dinov3") => (1e-5, "timm DINOv3"),
                    Family::TimmEva => (1e-6, "timm Eva"),
                    Family::Dinov3 | Family::HfDinov3 => (1e-5, "DINOv3"),
                    Family::TimmBeit => (1e-6, "timm BEiT"),
                    Family::TimmSwin | Family::HfSwin => (1e-5, "Swin"),
                    Family::HfBeit => (1e-12, "transformers BeitConfig default"),
                    Family::HfSiglip => (1e-6, "transformers SiglipVisionConfig default"),
                    Family::HfVit => (1e-12, "transformers ViTConfig default"),
                    Family::HfDinov2 => (1e-6, "transformers Dinov2Config default"),
                    Family::HfClip => (1e-5, "transformers CLIPVisionConfig default"),
                };
                inferred.push(format!("LayerNorm eps = {eps:e} ({why})"));
                eps
            }
        };

        // Pooling and heads.
        let head = probe("head.weight");
        let dist_head = probe("head_dist.weight").is_some();
        let pool = match family {
            _ if prefix.contains(&PrefixToken::Distillation) && family != Family::HfVit => {
                Pool::ClsDist
            }
            Family::HfVit if dist_head => Pool::ClsDist,
            Family::Timm | Family::TimmEva | Family::TimmBeit => {
                let gp = json
                    .and_then(|c| c.get("global_pool"))
                    .or_else(|| timm_arg("global_pool"))
                    .and_then(Value::as_str);
                match gp {
                    Some("token") => Pool::Cls,
                    Some("avg") => Pool::Avg,
                    Some("map") => Pool::Map,
                    // timm's Eva pools by the patch mean unless told otherwise (DINOv3 in timm too).
                    None if matches!(family, Family::TimmEva | Family::TimmBeit) => Pool::Avg,
                    Some("") | None if prefix.contains(&PrefixToken::Cls) => Pool::Cls,
                    Some("") | None => Pool::Avg,
                    Some(other) => {
                        return Err(mismatch(format!(
                            "unsupported pooling global_pool = {other}"
                        )));
                    }
                }
            }
            Family::HfDinov2 if head.as_ref().is_some_and(|h| h.get(1) == Some(&(2 * d))) => {
                Pool::ClsAndAvg
            }
            // BeitPooler: the mean of the patch tokens through its LayerNorm, else the CLS.
            Family::HfBeit if probe("fc_norm.weight").is_some() => Pool::Avg,
            Family::HfSiglip if probe("attn_pool.latent").is_some() => Pool::Map,
            // SiglipVisionModel without its head (vision_use_head = false) has no pooled output of its own.
            Family::HfSiglip => Pool::Avg,
            _ => Pool::Cls,
        };
        let needs_cls = matches!(pool, Pool::Cls | Pool::ClsDist | Pool::ClsAndAvg);
        if needs_cls && !prefix.contains(&PrefixToken::Cls) {
            return Err(mismatch(
                "the pooling needs a class token and there is none".into(),
            ));
        }
        if pool == Pool::ClsDist && !prefix.contains(&PrefixToken::Distillation) {
            return Err(mismatch(
                "a distillation head without a distillation token".into(),
            ));
        }
        let num_classes = head.as_ref().and_then(|h| h.first().copied());
        // The final norm is part of every HF ViT/DINOv2 and of timm models without fc_norm: when it is absent
        // from the file it is reported missing rather than silently skipped.
        let pool_norm = probe("fc_norm.weight").is_some();
        let final_norm = match family {
            Family::HfVit
            | Family::HfDinov2
            | Family::HfDinov3
            | Family::TimmSwin
            | Family::HfSwin => true,
            Family::HfClip => false,
            Family::HfSiglip => true,
            // BeitModel's layernorm is an identity when it pools by the mean.
            Family::HfBeit => probe("norm.weight").is_some() || !pool_norm,
            Family::Timm | Family::TimmEva | Family::Dinov3 | Family::TimmBeit => {
                probe("norm.weight").is_some() || !pool_norm
            }
        };
        let distilled = prefix.contains(&PrefixToken::Distillation);
        let (image_mean, image_std) = self.mean_std(family, distilled, &mut inferred);
        let mut cfg = VitConfig {
            family,
            description: String::new(),
            root: root.into(),
            hidden_size: d,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            mlp_hidden,
            activation,
            patch_size: patch,
            pos_grid,
            abs_pos,
            rope,
            rel_pos,
            swin: None,
            pool_heads: heads,
            pool_mlp_hidden: probe("attn_pool.mlp.fc2.weight")
                .and_then(|s| s.get(1).copied())
                .unwrap_or(0),
            prefix,
            pos_prefix,
            pos_antialias: match family {
                Family::Timm
                | Family::TimmEva
                | Family::Dinov3
                | Family::HfDinov3
                | Family::TimmBeit => true,
                // Dinov2WithRegistersEmbeddings resizes with antialias=True, Dinov2Embeddings without.
                Family::HfDinov2 => {
                    registers > 0 || hf_str("model_type") == Some("dinov2_with_registers")
                }
                Family::HfVit
                | Family::HfClip
                | Family::HfBeit
                | Family::HfSiglip
                | Family::TimmSwin
                | Family::HfSwin => false,
            },
            patch_bias: probe("patch_embed.proj.bias").is_some(),
            qkv_bias: probe("blocks.0.attn.qkv.bias").is_some(),
            proj_bias: probe("blocks.0.attn.proj.bias").is_some(),
            mlp_bias: probe("blocks.0.mlp.fc1.bias").is_some(),
            attn_norm: probe("blocks.0.attn.norm.weight").is_some(),
            mlp_norm: probe("blocks.0.mlp.norm.weight").is_some(),
            pre_norm,
            layer_scale: probe("blocks.0.ls1.gamma").is_some(),
            final_norm,
            pool_norm,
            pool,
            layer_norm_eps,
            num_classes,
            class_names: Vec::new(),
            dist_head,
            projection_dim: probe("image_proj.weight").and_then(|s| s.first().copied()),
            image_mean,
            image_std,
            image_size,
            inferred,
        };
        cfg.class_names = self.class_names(num_classes, &mut cfg.inferred);
        cfg.description = match (family, json) {
            (Family::Timm | Family::TimmEva | Family::TimmBeit, _) if !architecture.is_empty() => {
                format!("timm {architecture}")
            }
            (Family::Timm | Family::TimmEva | Family::Dinov3 | Family::TimmBeit, _) => {
                format!("{} (no config.json)", family.name())
            }
            (_, Some(c)) => {
                let arch = c
                    .get("architectures")
                    .and_then(|a| a.get(0))
                    .and_then(Value::as_str);
                format!("Hugging Face {}", arch.unwrap_or(family.name()))
            }
            (_, None) => format!("{} (no config.json)", family.name()),
        };
        Ok(cfg)
    }

    /// timm Eva's RoPE from `model_args`, else from the architecture's name (timm's own model definitions).
    fn timm_rope(
        &self,
        model_args: Option<&Value>,
        architecture: &str,
        head_dim: usize,
        pos_grid: (usize, usize),
        inferred: &mut Vec<String>,
        mismatch: &dyn Fn(String) -> ModelError,
    ) -> Result<Option<Rope>> {
        let arg = |k: &str| model_args.and_then(|a| a.get(k)).filter(|v| !v.is_null());
        let dinov3 = architecture.contains("dinov3");
        let use_rope = match arg("use_rot_pos_emb").and_then(Value::as_bool) {
            Some(u) => u,
            None => {
                let u = dinov3 || architecture.starts_with("eva02");
                inferred.push(format!(
                    "RoPE {} (from the architecture name {architecture:?}; no use_rot_pos_emb in model_args)",
                    if u { "on" } else { "off" }
                ));
                u
            }
        };
        if !use_rope {
            return Ok(None);
        }
        for (key, fine) in [
            ("rope_grid_offset", Value::from(0.0)),
            ("rope_grid_indexing", Value::from("ij")),
            ("use_post_norm", Value::from(false)),
            ("qk_norm", Value::from(false)),
        ] {
            if let Some(v) = arg(key)
                && v != &fine
                && !(v.as_f64().is_some() && v.as_f64() == fine.as_f64())
            {
                return Err(mismatch(format!(
                    "{key} = {v} in model_args: vitscope computes timm Eva models with {fine} only"
                )));
            }
        }
        let rope_type = arg("rope_type")
            .and_then(Value::as_str)
            .unwrap_or(if dinov3 { "dinov3" } else { "cat" });
        let temperature = arg("rope_temperature").and_then(Value::as_f64);
        let half = arg("rope_rotate_half")
            .and_then(Value::as_bool)
            .unwrap_or(rope_type == "dinov3");
        match (rope_type, half) {
            ("dinov3", true) => Ok(Some(Rope::dinov3(temperature.unwrap_or(100.0), head_dim))),
            ("cat", false) => {
                let reference = match arg("ref_feat_shape") {
                    Some(v) => size_pair(v).ok_or_else(|| {
                        mismatch(format!("ref_feat_shape = {v} is not a grid size"))
                    })?,
                    None => {
                        inferred.push(format!(
                            "RoPE reference grid {}x{} (the training grid; no ref_feat_shape in model_args)",
                            pos_grid.0, pos_grid.1
                        ));
                        pos_grid
                    }
                };
                Ok(Some(Rope::eva(
                    temperature.unwrap_or(10000.0),
                    head_dim,
                    reference,
                )))
            }
            (t, h) => Err(mismatch(format!(
                "RoPE of type {t:?} with rotate_half = {h}: vitscope computes timm's 'dinov3' (halves) and 'cat' \
                 (interleaved) RoPE only"
            ))),
        }
    }

    /// Mean/std from the config files, else the family's processor default (`distilled`: a DeiT in HF ViT
    /// naming, whose processor uses ImageNet's).
    pub(super) fn mean_std(
        &self,
        family: Family,
        distilled: bool,
        inferred: &mut Vec<String>,
    ) -> ([f32; 3], [f32; 3]) {
        let triple = |v: Option<&Value>| -> Option<[f32; 3]> {
            let a = v?.as_array()?;
            (a.len() == 3).then(|| [0, 1, 2].map(|i| a[i].as_f64().unwrap_or(f64::NAN) as f32))
        };
        let timm_cfg = self.config.as_ref().and_then(|c| c.get("pretrained_cfg"));
        for src in [
            self.preprocessor_config.as_ref(),
            timm_cfg,
            self.config.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            let pair = (triple(src.get("image_mean")), triple(src.get("image_std")));
            let pair = match pair {
                (Some(m), Some(s)) => Some((m, s)),
                _ => triple(src.get("mean")).zip(triple(src.get("std"))),
            };
            if let Some((m, s)) = pair
                && m.iter().chain(&s).all(|x| x.is_finite())
                && s.iter().all(|&x| x > 0.0)
            {
                return (m, s);
            }
        }
        let (m, s, what) = match family {
            Family::HfVit | Family::HfBeit | Family::HfSiglip if !distilled => (
                HALF_MEAN_STD,
                HALF_MEAN_STD,
                "0.5/0.5 (ViTImageProcessor default)",
            ),
            Family::HfClip => (OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, "OpenAI CLIP mean/std"),
            _ => (IMAGENET_MEAN, IMAGENET_STD, "ImageNet mean/std"),
        };
        inferred.push(format!("{what} (no mean/std in the config files)"));
        (m, s)
    }

    /// Class names for a head with `n` classes: Hugging Face `id2label`, timm `label_names` (through
    /// `label_descriptions` when given), else the ImageNet-1k names shipped with vitscope for 1000 classes.
    pub(super) fn class_names(&self, n: Option<usize>, inferred: &mut Vec<String>) -> Vec<String> {
        let Some(n) = n else { return Vec::new() };
        let json = self.config.as_ref();
        let indexed = |v: Option<&Value>| -> Option<Vec<String>> {
            let mut out = vec![String::new(); n];
            match v? {
                Value::Array(a) if a.len() == n => {
                    for (o, x) in out.iter_mut().zip(a) {
                        *o = x.as_str()?.to_string();
                    }
                }
                Value::Object(m) => {
                    for (k, x) in m {
                        let i: usize = k.parse().ok()?;
                        *out.get_mut(i)? = x.as_str()?.to_string();
                    }
                }
                _ => return None,
            }
            out.iter().all(|s| !s.is_empty()).then_some(out)
        };
        if let Some(names) = indexed(json.and_then(|c| c.get("id2label")))
            && !names
                .iter()
                .enumerate()
                .all(|(i, s)| *s == format!("LABEL_{i}"))
        {
            return names;
        }
        if let Some(mut names) = indexed(json.and_then(|c| c.get("label_names"))) {
            if let Some(desc) = json
                .and_then(|c| c.get("label_descriptions"))
                .and_then(Value::as_object)
            {
                for s in names.iter_mut() {
                    if let Some(d) = desc.get(s.as_str()).and_then(Value::as_str) {
                        *s = d.to_string();
                    }
                }
            }
            return names;
        }
        if n == 1000
            && let Some(names) = super::source::find_resource("assets/imagenet1k_classes.txt")
                .and_then(|p| std::fs::read_to_string(p).ok())
                .map(|t| t.lines().map(str::to_string).collect::<Vec<_>>())
                .filter(|v| v.len() == 1000)
        {
            inferred
                .push("class names: ImageNet-1k (1000 classes, no names in config.json)".into());
            return names;
        }
        inferred.push(format!("no names for the {n} classes: shown as numbers"));
        Vec::new()
    }
}

/// Largest training size accepted from a config file, in pixels.
const MAX_SIZE: usize = 1 << 16;

/// A whole number in `1..=max` (`12` or `12.0`; not `4.9`, not `1e20`).
fn whole(v: &Value, max: usize) -> Option<usize> {
    let n = match v.as_u64() {
        Some(n) => n,
        None => {
            let f = v.as_f64()?;
            if f.fract() != 0.0 || !(1.0..=max as f64).contains(&f) {
                return None;
            }
            f as u64
        }
    };
    (1..=max as u64).contains(&n).then_some(n as usize)
}

/// A whole number that may be 0 (a count of optional tokens).
fn whole_or_zero(v: &Value) -> Option<usize> {
    if v.as_u64() == Some(0) || v.as_f64() == Some(0.0) {
        Some(0)
    } else {
        whole(v, 1 << 16)
    }
}

/// `224` or `[224, 336]` as (height, width), each in `1..=MAX_SIZE`.
fn size_pair(v: &Value) -> Option<(usize, usize)> {
    match v {
        Value::Array(a) if a.len() == 2 => Some((whole(&a[0], MAX_SIZE)?, whole(&a[1], MAX_SIZE)?)),
        v => whole(v, MAX_SIZE).map(|s| (s, s)),
    }
}
