//! A Swin configuration read from the weights' shapes (stages, depths, heads, window; V1 or V2) and checked
//! against the config files.
use serde_json::Value;

use super::block;
use crate::model::checkpoint::Checkpoint;
use crate::model::config::{
    Activation, Family, IMAGENET_MEAN, IMAGENET_STD, Pool, SwinArch, VitConfig,
};
use crate::model::error::{ModelError, Result};

impl Checkpoint {
    /// A Swin configuration from the weights' shapes, checked against the config files.
    pub(in crate::model) fn build_swin_config(
        &self,
        family: Family,
        root: &str,
    ) -> Result<VitConfig> {
        let mismatch = |report: String| ModelError::Mismatch {
            family: family.name().into(),
            report,
        };
        let probe = |c: &str| self.probe(family, root, c);
        let mut inferred = Vec::new();
        let json = self.config.as_ref();
        let model_args = json.and_then(|c| c.get("model_args"));
        let said = |hf: &str, timm: &str| -> Option<&Value> {
            json.and_then(|c| c.get(hf))
                .filter(|v| !v.is_null())
                .or_else(|| {
                    model_args
                        .and_then(|a| a.get(timm))
                        .filter(|v| !v.is_null())
                })
        };
        if self.contains(&format!("{root}embeddings.position_embeddings"))
            || self.contains("absolute_pos_embed")
        {
            return Err(mismatch(
                "this Swin adds an absolute position embedding (use_absolute_embeddings / ape), which vitscope \
                 does not compute"
                    .into(),
            ));
        }
        let v2 = probe("layers.0.blocks.0.attn.logit_scale").is_some();
        let architecture = json
            .and_then(|c| c.get("architecture"))
            .and_then(Value::as_str)
            .unwrap_or("");
        // Swin V2 stores no table: the window comes from the config (or timm's architecture name).
        let said_window = said("window_size", "window_size")
            .and_then(Value::as_u64)
            .map(|w| w as usize)
            .or_else(|| {
                let rest = architecture.split("window").nth(1)?;
                rest.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .ok()
            });
        let proj = probe("patch_embed.proj.weight").unwrap_or_default();
        if proj.len() != 4 || proj[1] != 3 || proj[2] != proj[3] || proj[2] == 0 {
            return Err(mismatch(format!(
                "the patch projection has shape {proj:?}; vitscope needs [width, 3, P, P]"
            )));
        }
        let patch = proj[2];
        let stages = (0..)
            .take_while(|s| probe(&format!("{}.norm1.weight", block(*s, 0))).is_some())
            .count();
        if stages == 0 {
            return Err(mismatch("no Swin stages found".into()));
        }
        let (mut dims, mut depths, mut heads, mut mlp_hidden) = (vec![], vec![], vec![], vec![]);
        let mut window = None;
        for s in 0..stages {
            let depth = (0..)
                .take_while(|b| probe(&format!("{}.norm1.weight", block(s, *b))).is_some())
                .count();
            let first = block(s, 0);
            let dim = probe(&format!("{first}.norm1.weight"))
                .and_then(|v| v.first().copied())
                .unwrap_or(0);
            let (m, stage_heads) = if v2 {
                let scale = probe(&format!("{first}.attn.logit_scale")).unwrap_or_default();
                let m = said_window.ok_or_else(|| {
                    mismatch(
                        "a Swin V2 without its window size in config.json (window_size) or in timm's \
                         architecture name"
                            .into(),
                    )
                })?;
                (m, scale.first().copied().unwrap_or(0))
            } else {
                let table = probe(&format!("{first}.attn.relative_position_bias_table"))
                    .ok_or_else(|| {
                        mismatch(format!("stage {s} has no relative position bias table"))
                    })?;
                let side = (table.first().copied().unwrap_or(0) as f64).sqrt().round() as usize;
                if table.len() != 2 || side * side != table[0] || side % 2 == 0 {
                    return Err(mismatch(format!(
                        "stage {s}'s relative position bias table has shape {table:?}; a window of side M \
                         needs [(2M-1)^2, heads]"
                    )));
                }
                (side.div_ceil(2), table[1])
            };
            if *window.get_or_insert(m) != m {
                return Err(mismatch(format!(
                    "stage {s} has {m}x{m} windows, stage 0 {w}x{w}: vitscope computes one window size for \
                     every stage",
                    w = window.unwrap_or(m)
                )));
            }
            let fc1 = probe(&format!("{first}.mlp.fc1.weight")).unwrap_or_default();
            dims.push(dim);
            depths.push(depth);
            heads.push(stage_heads);
            mlp_hidden.push(fc1.first().copied().unwrap_or(0));
            if heads[s] == 0 || dim % heads[s] != 0 {
                return Err(mismatch(format!(
                    "stage {s}: {} heads do not divide the width {dim}",
                    heads[s]
                )));
            }
        }
        let window = window.unwrap_or(7);
        let as_list = |v: &Value| -> Option<Vec<usize>> {
            v.as_array()?
                .iter()
                .map(|x| x.as_u64().map(|n| n as usize))
                .collect()
        };
        for (what, hf, timm, found) in [
            ("the stage depths", "depths", "depths", &depths),
            ("the heads per stage", "num_heads", "num_heads", &heads),
        ] {
            if let Some(v) = said(hf, timm).and_then(as_list)
                && &v != found
            {
                return Err(mismatch(format!(
                    "config.json says {what} are {v:?} ({hf}) but the weights hold {found:?}"
                )));
            }
        }
        if let Some(w) = said("window_size", "window_size").and_then(Value::as_u64)
            && w as usize != window
        {
            return Err(mismatch(format!(
                "config.json says window_size {w} but the relative position tables are for {window}x{window}"
            )));
        }
        let d = *dims.last().unwrap_or(&0);
        let num_classes = probe("head.weight").and_then(|s| s.first().copied());
        let hf = family == Family::HfSwin;
        let pretrained = said("pretrained_window_sizes", "pretrained_window_sizes")
            .and_then(as_list)
            .unwrap_or_else(|| vec![0; stages]);
        if pretrained.len() != stages {
            return Err(mismatch(format!(
                "pretrained_window_sizes {pretrained:?} does not name one window per stage ({stages})"
            )));
        }
        let eps = match json
            .and_then(|c| c.get("layer_norm_eps"))
            .and_then(Value::as_f64)
        {
            Some(e) if e.is_finite() && e > 0.0 && e < 1.0 => e,
            _ => {
                inferred.push("LayerNorm eps = 1e-5 (PyTorch's default, as Swin uses)".into());
                1e-5
            }
        };
        let activation = match json
            .and_then(|c| c.get("hidden_act"))
            .and_then(Value::as_str)
        {
            None | Some("gelu") => Activation::Gelu,
            Some(other) => {
                return Err(mismatch(format!(
                    "unsupported activation hidden_act = {other}"
                )));
            }
        };
        let size = json
            .and_then(|c| {
                c.get("image_size")
                    .or_else(|| model_args.and_then(|a| a.get("img_size")))
            })
            .and_then(|v| match v {
                Value::Array(a) if a.len() == 2 => {
                    Some((a[0].as_u64()? as usize, a[1].as_u64()? as usize))
                }
                v => v.as_u64().map(|s| (s as usize, s as usize)),
            })
            .or_else(|| {
                let a = json?.get("pretrained_cfg")?.get("input_size")?.as_array()?;
                Some((a.get(1)?.as_u64()? as usize, a.get(2)?.as_u64()? as usize))
            })
            .unwrap_or_else(|| {
                inferred
                    .push("training size 224x224 px (no image size in the config files)".into());
                (224, 224)
            });
        let arch = SwinArch {
            dims,
            depths,
            heads,
            mlp_hidden,
            window,
            pad_then_roll: hf,
            square_rule: hf && !v2,
            v2: v2.then_some(pretrained),
        };
        let mut cfg = VitConfig {
            family,
            description: String::new(),
            root: root.into(),
            hidden_size: d,
            num_hidden_layers: arch.depths.iter().sum(),
            num_attention_heads: *arch.heads.last().unwrap_or(&1),
            mlp_hidden: *arch.mlp_hidden.last().unwrap_or(&0),
            activation,
            patch_size: patch,
            pos_grid: (size.0 / patch, size.1 / patch),
            abs_pos: false,
            rope: None,
            rel_pos: None,
            swin: Some(arch),
            prefix: Vec::new(),
            pos_prefix: 0,
            pos_antialias: false,
            patch_bias: true,
            qkv_bias: true,
            proj_bias: true,
            mlp_bias: true,
            attn_norm: false,
            mlp_norm: false,
            pool_heads: 0,
            pool_mlp_hidden: 0,
            pre_norm: false,
            layer_scale: false,
            final_norm: true,
            pool_norm: false,
            pool: Pool::Avg,
            layer_norm_eps: eps,
            num_classes,
            class_names: Vec::new(),
            dist_head: false,
            projection_dim: None,
            image_mean: IMAGENET_MEAN,
            image_std: IMAGENET_STD,
            image_size: size,
            inferred,
        };
        let (mean, std) = self.mean_std(family, false, &mut cfg.inferred);
        cfg.image_mean = mean;
        cfg.image_std = std;
        cfg.class_names = self.class_names(num_classes, &mut cfg.inferred);
        cfg.description = match json {
            Some(c) if !hf => format!(
                "timm {}",
                c.get("architecture")
                    .and_then(Value::as_str)
                    .unwrap_or("SwinTransformer")
            ),
            Some(c) => format!(
                "Hugging Face {}",
                c.get("architectures")
                    .and_then(|a| a.get(0))
                    .and_then(Value::as_str)
                    .unwrap_or("Swin")
            ),
            None => format!("{} (no config.json)", family.name()),
        };
        Ok(cfg)
    }
}
