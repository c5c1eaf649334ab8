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

use super::config::{Activation, Family, VitConfig};
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

    pub(super) fn source(&self, family: Family, root: &str, canonical: &str) -> Option<Source> {
        naming::source(family, root, canonical, &|n| self.tensors.contains_key(n))
    }

    /// The canonical shape of `canonical` when the file holds every tensor behind it.
    pub(super) fn probe(&self, family: Family, root: &str, canonical: &str) -> Option<Vec<usize>> {
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
        let cfg = self.unvalidated_config()?;
        self.validate(&cfg)?;
        Ok(cfg)
    }

    /// The configuration from config files and shapes; the tensors are checked against it by
    /// [`Checkpoint::validate`] (or [`Checkpoint::canonical_tensors`], which validates first).
    pub fn unvalidated_config(&self) -> Result<VitConfig> {
        let (family, root) = self.detect_family()?;
        self.build_config(family, &root)
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
