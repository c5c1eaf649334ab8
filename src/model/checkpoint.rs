//! Reading checkpoints: safetensors weights plus optional config.json / preprocessor_config.json,
//! validated once, at load, against the names and shapes the architecture needs.
//!
//! Every tensor's name and shape is checked; all missing, unexpected and misshaped tensors are
//! reported together in one [`ModelError::Mismatch`]. Weights are converted to f32 on the CPU here;
//! the model moves them to its device.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};
use serde_json::Value;
use tch::{Kind, Tensor};

use super::config::{
    Activation, Family, HALF_MEAN_STD, IMAGENET_MEAN, IMAGENET_STD, OPENAI_CLIP_MEAN,
    OPENAI_CLIP_STD, Pool, VitConfig,
};
use super::error::{ModelError, Result};
use super::layout::PrefixToken;
use super::naming::{self, Source};

/// Tensors of a checkpoint (f32, CPU) with the config files found next to it.
pub struct Checkpoint {
    pub weights_path: PathBuf,
    pub tensors: HashMap<String, Tensor>,
    pub config: Option<Value>,
    pub preprocessor_config: Option<Value>,
}

const PICKLE_EXTENSIONS: [&str; 4] = ["bin", "pth", "pt", "ckpt"];

/// Find the weights file for `path`: the file itself, or `model.safetensors` (or the only
/// `*.safetensors`) in a folder.
pub fn resolve_weights_path(path: &Path) -> Result<PathBuf> {
    let meta = std::fs::metadata(path).map_err(|source| ModelError::Io {
        path: path.into(),
        source,
    })?;
    if meta.is_file() {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        if PICKLE_EXTENSIONS.contains(&ext.as_str()) {
            return Err(ModelError::Pickle { path: path.into() });
        }
        return Ok(path.into());
    }
    let preferred = path.join("model.safetensors");
    if preferred.is_file() {
        return Ok(preferred);
    }
    let entries = std::fs::read_dir(path).map_err(|source| ModelError::Io {
        path: path.into(),
        source,
    })?;
    let mut found: Vec<PathBuf> = Vec::new();
    let mut pickles: Vec<PathBuf> = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        match p.extension().and_then(|e| e.to_str()) {
            Some("safetensors") => found.push(p),
            Some(ext) if PICKLE_EXTENSIONS.contains(&ext) => pickles.push(p),
            _ => {}
        }
    }
    found.sort();
    match (found.len(), pickles.first()) {
        (1, _) => Ok(found.remove(0)),
        (0, Some(p)) => Err(ModelError::Pickle { path: p.clone() }),
        (0, None) => Err(ModelError::NotFound {
            path: path.into(),
            reason: "the folder holds no .safetensors file".into(),
        }),
        (n, _) => Err(ModelError::NotFound {
            path: path.into(),
            reason: format!(
                "the folder holds {n} .safetensors files and no model.safetensors; open one of them"
            ),
        }),
    }
}

fn read_json(path: &Path) -> Result<Option<Value>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
        path: path.into(),
        source,
    })?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| ModelError::Config {
            path: path.into(),
            reason: e.to_string(),
        })
}

fn kind_of(dtype: Dtype) -> Option<Kind> {
    match dtype {
        Dtype::F32 => Some(Kind::Float),
        Dtype::F16 => Some(Kind::Half),
        Dtype::BF16 => Some(Kind::BFloat16),
        Dtype::F64 => Some(Kind::Double),
        _ => None,
    }
}

impl Checkpoint {
    /// Read a safetensors file (or a folder holding one) and its config files.
    pub fn read(path: &Path) -> Result<Checkpoint> {
        let weights_path = resolve_weights_path(path)?;
        let bytes = std::fs::read(&weights_path).map_err(|source| ModelError::Io {
            path: weights_path.clone(),
            source,
        })?;
        let st = match SafeTensors::deserialize(&bytes) {
            Ok(st) => st,
            // Only a file that is not valid safetensors is sniffed for PyTorch's formats: a zip archive
            // (torch.save since 1.6) or a raw pickle (protocol 2-5: 0x80, then the protocol number).
            Err(_)
                if bytes.starts_with(b"PK\x03\x04")
                    || (bytes.len() > 1 && bytes[0] == 0x80 && (2..=5).contains(&bytes[1])) =>
            {
                return Err(ModelError::Pickle { path: weights_path });
            }
            Err(e) => {
                return Err(ModelError::Safetensors {
                    path: weights_path.clone(),
                    reason: format!("{e:?}"),
                });
            }
        };
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            let kind = kind_of(view.dtype()).ok_or_else(|| ModelError::Dtype {
                name: name.clone(),
                dtype: format!("{:?}", view.dtype()),
            })?;
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            let t = Tensor::f_from_data_size(view.data(), &shape, kind)?.f_to_kind(Kind::Float)?;
            tensors.insert(name, t);
        }
        let dir = weights_path.parent().unwrap_or(Path::new("."));
        Ok(Checkpoint {
            config: read_json(&dir.join("config.json"))?,
            preprocessor_config: read_json(&dir.join("preprocessor_config.json"))?,
            weights_path,
            tensors,
        })
    }

    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.tensors
            .get(name)
            .map(|t| t.size().iter().map(|&d| d as usize).collect())
    }

    fn source(&self, family: Family, root: &str, canonical: &str) -> Option<Source> {
        naming::source(family, root, canonical, &|n| self.tensors.contains_key(n))
    }

    /// The canonical shape of `canonical` when the file holds every tensor behind it.
    fn probe(&self, family: Family, root: &str, canonical: &str) -> Option<Vec<usize>> {
        let src = self.source(family, root, canonical)?;
        let shapes: Option<Vec<Vec<usize>>> = src.files.iter().map(|f| self.shape(f)).collect();
        src.canonical_shape(&shapes?)
    }

    fn sorted_names(&self) -> Vec<&String> {
        let mut names: Vec<&String> = self.tensors.keys().collect();
        names.sort();
        names
    }

    /// Detect the family (naming) and the prefix under which the vision model's tensors sit.
    pub fn detect_family(&self) -> Result<(Family, String)> {
        let has = |n: &str| self.tensors.contains_key(n);
        if has("patch_embed.proj.weight") && has("blocks.0.attn.qkv.weight") {
            return Ok((Family::Timm, String::new()));
        }
        for key in self.sorted_names() {
            if let Some(root) = key.strip_suffix("embeddings.patch_embeddings.projection.weight") {
                if has(&format!("{root}encoder.layer.0.layernorm_before.weight")) {
                    return Ok((Family::HfVit, root.into()));
                }
                if has(&format!("{root}encoder.layer.0.norm1.weight")) {
                    return Ok((Family::HfDinov2, root.into()));
                }
            }
            if let Some(root) = key.strip_suffix("embeddings.class_embedding")
                && has(&format!("{root}encoder.layers.0.self_attn.q_proj.weight"))
            {
                return Ok((Family::HfClip, root.into()));
            }
        }
        Err(ModelError::UnknownLayout {
            found: self.describe_unknown(),
        })
    }

    /// What an unrecognised checkpoint holds, in one line, with a guess where one is possible.
    fn describe_unknown(&self) -> String {
        let names = self.sorted_names();
        let any = |pat: &str| names.iter().any(|n| n.contains(pat));
        let guess = if any("relative_position_bias_table") && any("layers.0.blocks.") {
            "it looks like a Swin Transformer (windowed attention), which vitscope does not open; "
        } else if any("vision_model.embeddings.patch_embedding") {
            "it looks like a SigLIP vision tower (no class token), which vitscope does not open yet; "
        } else if any("blocks.0.attn.qkv") && !any("patch_embed.proj.weight") {
            "blocks look like timm's but there is no patch_embed.proj (a hybrid CNN stem?); "
        } else {
            ""
        };
        let mut tops: BTreeMap<&str, usize> = BTreeMap::new();
        for n in &names {
            *tops.entry(n.split('.').next().unwrap_or("")).or_default() += 1;
        }
        let tops: Vec<String> = tops
            .iter()
            .take(8)
            .map(|(k, v)| format!("{k}.* ({v})"))
            .collect();
        let sample: Vec<&str> = names.iter().take(4).map(|s| s.as_str()).collect();
        format!(
            "{guess}{} tensors under {}; e.g. {}",
            names.len(),
            tops.join(", "),
            sample.join(", ")
        )
    }

    /// Build the configuration from config files and shapes, then validate every tensor.
    pub fn config(&self) -> Result<VitConfig> {
        let (family, root) = self.detect_family()?;
        let cfg = self.build_config(family, &root)?;
        self.validate(&cfg)?;
        Ok(cfg)
    }

    fn build_config(&self, family: Family, root: &str) -> Result<VitConfig> {
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

        let heads = match hf_num("num_attention_heads")
            .or_else(|| timm_arg("num_heads").and_then(Value::as_f64))
        {
            Some(h) => h as usize,
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
        let pos = probe("pos_embed").unwrap_or_default();
        if pos.len() != 3 || pos[0] != 1 || pos[2] != d {
            return Err(mismatch(format!(
                "the position embedding has shape {pos:?}; vitscope needs [1, tokens, {d}]"
            )));
        }
        let n_pos = pos[1];
        let size_hint = hf_num("image_size")
            .map(|s| (s as usize, s as usize))
            .or_else(|| timm_arg("img_size").and_then(size_pair));
        let grid_of = |k: usize| -> Option<(usize, usize)> {
            let n = n_pos.checked_sub(k)?;
            if let Some((h, w)) = size_hint
                && (h / patch) * (w / patch) == n
                && n > 0
            {
                return Some((h / patch, w / patch));
            }
            let side = (n as f64).sqrt().round() as usize;
            (side > 0 && side * side == n).then_some((side, side))
        };
        let cls_only = usize::from(prefix.first() == Some(&PrefixToken::Cls));
        let pos_prefix = match family {
            Family::Timm => match timm_arg("no_embed_class").and_then(Value::as_bool) {
                Some(true) => 0,
                Some(false) => prefix.len(),
                None if grid_of(prefix.len()).is_some() => prefix.len(),
                None => 0,
            },
            Family::HfVit => prefix.len(),
            Family::HfDinov2 | Family::HfClip => cls_only,
        };
        let Some(pos_grid) = grid_of(pos_prefix) else {
            return Err(mismatch(format!(
                "the position embedding has {n_pos} rows: expected {pos_prefix} prefix rows + a grid of patches"
            )));
        };
        let image_size = size_hint.unwrap_or_else(|| {
            let s = (pos_grid.0 * patch, pos_grid.1 * patch);
            inferred.push(format!(
                "training size {}x{} px (from the position grid)",
                s.0, s.1
            ));
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
            Activation::SwiGlu
        } else if family == Family::Timm {
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
                None => {
                    inferred.push("GELU (no hidden_act in a config.json)".into());
                    Activation::Gelu
                }
            }
        };

        let pre_norm = probe("norm_pre.weight").is_some();
        let layer_norm_eps = match hf_num("layer_norm_eps") {
            Some(e) => e,
            None => {
                let (eps, why) = match family {
                    Family::Timm if pre_norm || architecture.contains("clip") => {
                        (1e-5, "timm CLIP towers")
                    }
                    Family::Timm => (1e-6, "timm ViTs"),
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
            Family::Timm => {
                let gp = json
                    .and_then(|c| c.get("global_pool"))
                    .or_else(|| timm_arg("global_pool"))
                    .and_then(Value::as_str);
                match gp {
                    Some("token") => Pool::Cls,
                    Some("avg") => Pool::Avg,
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
            Family::HfVit | Family::HfDinov2 => true,
            Family::HfClip => false,
            Family::Timm => probe("norm.weight").is_some() || !pool_norm,
        };
        let (image_mean, image_std) = self.mean_std(family, &mut inferred);
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
            prefix,
            pos_prefix,
            pos_antialias: match family {
                Family::Timm => true,
                // Dinov2WithRegistersEmbeddings resizes with antialias=True, Dinov2Embeddings without.
                Family::HfDinov2 => {
                    registers > 0 || hf_str("model_type") == Some("dinov2_with_registers")
                }
                Family::HfVit | Family::HfClip => false,
            },
            patch_bias: probe("patch_embed.proj.bias").is_some(),
            qkv_bias: probe("blocks.0.attn.qkv.bias").is_some(),
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
            (Family::Timm, _) if !architecture.is_empty() => format!("timm {architecture}"),
            (Family::Timm, _) => "timm VisionTransformer (no config.json)".into(),
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

    fn mean_std(&self, family: Family, inferred: &mut Vec<String>) -> ([f32; 3], [f32; 3]) {
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
            Family::HfVit
                if !self
                    .tensors
                    .keys()
                    .any(|k| k.contains("distillation_token")) =>
            {
                (
                    HALF_MEAN_STD,
                    HALF_MEAN_STD,
                    "0.5/0.5 (ViTImageProcessor default)",
                )
            }
            Family::HfClip => (OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, "OpenAI CLIP mean/std"),
            _ => (IMAGENET_MEAN, IMAGENET_STD, "ImageNet mean/std"),
        };
        inferred.push(format!("{what} (no mean/std in the config files)"));
        (m, s)
    }

    /// Class names for a head with `n` classes: Hugging Face `id2label`, timm `label_names` (through
    /// `label_descriptions` when given), else the ImageNet-1k names shipped with vitscope for 1000 classes.
    fn class_names(&self, n: Option<usize>, inferred: &mut Vec<String>) -> Vec<String> {
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

    /// Every canonical tensor the architecture `cfg` needs, with its canonical shape.
    fn canonical(cfg: &VitConfig) -> Vec<(String, Vec<usize>)> {
        let d = cfg.hidden_size;
        let (gh, gw) = cfg.pos_grid;
        let mut e: Vec<(String, Vec<usize>)> = Vec::new();
        let mut add = |n: &str, s: Vec<usize>| e.push((n.to_string(), s));
        let regs = cfg.num_registers();
        if cfg.has(PrefixToken::Cls) {
            add("cls_token", vec![1, 1, d]);
        }
        if cfg.has(PrefixToken::Distillation) {
            add("dist_token", vec![1, 1, d]);
        }
        if regs > 0 {
            add("reg_token", vec![1, regs, d]);
        }
        add("pos_embed", vec![1, cfg.pos_prefix + gh * gw, d]);
        add(
            "patch_embed.proj.weight",
            vec![d, 3, cfg.patch_size, cfg.patch_size],
        );
        if cfg.patch_bias {
            add("patch_embed.proj.bias", vec![d]);
        }
        let norm = |add: &mut dyn FnMut(&str, Vec<usize>), p: &str| {
            add(&format!("{p}.weight"), vec![d]);
            add(&format!("{p}.bias"), vec![d]);
        };
        if cfg.pre_norm {
            norm(&mut add, "norm_pre");
        }
        let fc1_out = match cfg.activation {
            Activation::SwiGlu => 2 * cfg.mlp_hidden,
            _ => cfg.mlp_hidden,
        };
        for i in 0..cfg.num_hidden_layers {
            let b = format!("blocks.{i}");
            norm(&mut add, &format!("{b}.norm1"));
            add(&format!("{b}.attn.qkv.weight"), vec![3 * d, d]);
            if cfg.qkv_bias {
                add(&format!("{b}.attn.qkv.bias"), vec![3 * d]);
            }
            add(&format!("{b}.attn.proj.weight"), vec![d, d]);
            add(&format!("{b}.attn.proj.bias"), vec![d]);
            norm(&mut add, &format!("{b}.norm2"));
            add(&format!("{b}.mlp.fc1.weight"), vec![fc1_out, d]);
            add(&format!("{b}.mlp.fc1.bias"), vec![fc1_out]);
            add(&format!("{b}.mlp.fc2.weight"), vec![d, cfg.mlp_hidden]);
            add(&format!("{b}.mlp.fc2.bias"), vec![d]);
            if cfg.layer_scale {
                add(&format!("{b}.ls1.gamma"), vec![d]);
                add(&format!("{b}.ls2.gamma"), vec![d]);
            }
        }
        if cfg.final_norm {
            norm(&mut add, "norm");
        }
        if cfg.pool_norm {
            norm(&mut add, "fc_norm");
        }
        if let Some(c) = cfg.num_classes {
            add("head.weight", vec![c, cfg.pooled_dim()]);
            add("head.bias", vec![c]);
            if cfg.dist_head {
                add("head_dist.weight", vec![c, d]);
                add("head_dist.bias", vec![c]);
            }
        }
        if let Some(p) = cfg.projection_dim {
            add("image_proj.weight", vec![p, d]);
        }
        e
    }

    /// The canonical tensors with the file tensors behind each.
    fn sources(&self, cfg: &VitConfig) -> Result<Vec<(String, Vec<usize>, Source)>> {
        Self::canonical(cfg)
            .into_iter()
            .map(|(name, shape)| {
                let src = self.source(cfg.family, &cfg.root, &name).ok_or_else(|| {
                    ModelError::Mismatch {
                        family: cfg.family.name().into(),
                        report: format!("this naming has no tensor for {name}"),
                    }
                })?;
                Ok((name, shape, src))
            })
            .collect()
    }

    /// Compare every tensor against the architecture; one error lists every problem.
    pub fn validate(&self, cfg: &VitConfig) -> Result<()> {
        let mut expected: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (_, shape, src) in self.sources(cfg)? {
            for f in &src.files {
                expected.insert(f.clone(), src.file_shape(&shape));
            }
        }
        let mut missing = Vec::new();
        let mut misshaped = Vec::new();
        for (name, shape) in &expected {
            match self.shape(name) {
                None => missing.push(name.clone()),
                Some(s) if &s != shape => {
                    misshaped.push(format!("{name}: file has {s:?}, model needs {shape:?}"))
                }
                _ => {}
            }
        }
        let mut unexpected: Vec<String> = self
            .tensors
            .keys()
            .filter(|k| {
                !expected.contains_key(*k) && naming::ignorable(cfg.family, &cfg.root, k).is_none()
            })
            .cloned()
            .collect();
        unexpected.sort();
        if missing.is_empty() && misshaped.is_empty() && unexpected.is_empty() {
            return Ok(());
        }
        let mut report = String::new();
        let mut section = |title: &str, items: &[String]| {
            if !items.is_empty() {
                report.push_str(&format!(
                    "  {} {title}: {}\n",
                    items.len(),
                    items.join(", ")
                ));
            }
        };
        section("missing", &missing);
        section("unexpected", &unexpected);
        section("misshaped", &misshaped);
        Err(ModelError::Mismatch {
            family: cfg.family.name().into(),
            report: report.trim_end().into(),
        })
    }

    /// The file's tensors that inference does not use, summarised by reason (`CLIP text tower: 196 tensors`).
    pub fn ignored(&self, cfg: &VitConfig) -> Vec<String> {
        let mut by_reason: BTreeMap<&str, usize> = BTreeMap::new();
        for k in self.tensors.keys() {
            if let Some(r) = naming::ignorable(cfg.family, &cfg.root, k) {
                *by_reason.entry(r).or_default() += 1;
            }
        }
        by_reason
            .into_iter()
            .map(|(r, n)| format!("{r}: {n} tensor{}", if n == 1 { "" } else { "s" }))
            .collect()
    }

    /// The validated tensors under their canonical names and shapes (see [`super::naming`]), f32 on the CPU.
    pub fn canonical_tensors(&self, cfg: &VitConfig) -> Result<HashMap<String, Tensor>> {
        self.validate(cfg)?;
        let mut out = HashMap::new();
        for (name, shape, src) in self.sources(cfg)? {
            let parts: Vec<&Tensor> = src
                .files
                .iter()
                .filter_map(|f| self.tensors.get(f))
                .collect();
            let t = if parts.len() == 1 {
                parts[0].shallow_clone()
            } else {
                Tensor::f_cat(&parts, 0)?
            };
            let shape: Vec<i64> = shape.iter().map(|&s| s as i64).collect();
            out.insert(name, t.f_reshape(&shape)?);
        }
        Ok(out)
    }
}

/// `224` or `[224, 336]` as (height, width).
fn size_pair(v: &Value) -> Option<(usize, usize)> {
    match v {
        Value::Number(n) => n.as_u64().map(|s| (s as usize, s as usize)),
        Value::Array(a) if a.len() == 2 => Some((a[0].as_u64()? as usize, a[1].as_u64()? as usize)),
        _ => None,
    }
}
