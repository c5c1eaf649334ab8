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

use super::config::{Family, IMAGENET_MEAN, IMAGENET_STD, VitConfig};
use super::error::{ModelError, Result};
use super::layout::PrefixToken;

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

    /// Detect the family from tensor names.
    pub fn detect_family(&self) -> Result<Family> {
        let has = |n: &str| self.tensors.contains_key(n);
        if has("embeddings.cls_token") && has("embeddings.patch_embeddings.projection.weight") {
            return Ok(Family::HfDinov2);
        }
        let mut names: Vec<&String> = self.tensors.keys().collect();
        names.sort();
        let sample: Vec<String> = names.iter().take(6).map(|s| s.to_string()).collect();
        Err(ModelError::UnknownLayout {
            found: format!("{} tensors, e.g. {}", self.tensors.len(), sample.join(", ")),
        })
    }

    /// Build the configuration from config files and shapes, then validate every tensor.
    pub fn config(&self) -> Result<VitConfig> {
        let family = self.detect_family()?;
        let cfg = self.dinov2_config(family)?;
        self.validate(&cfg)?;
        Ok(cfg)
    }

    fn dinov2_config(&self, family: Family) -> Result<VitConfig> {
        let mut inferred = Vec::new();
        let c = self.config.as_ref();
        let get = |k: &str| c.and_then(|c| c.get(k)).and_then(Value::as_f64);
        let mismatch = |report: String| ModelError::Mismatch {
            family: family.name().into(),
            report,
        };
        if c.and_then(|c| c.get("use_swiglu_ffn"))
            .and_then(Value::as_bool)
            == Some(true)
        {
            return Err(mismatch(
                "config.json has use_swiglu_ffn = true; SwiGLU MLPs are not supported yet".into(),
            ));
        }
        let cls = self.shape("embeddings.cls_token").unwrap_or_default();
        let proj = self
            .shape("embeddings.patch_embeddings.projection.weight")
            .unwrap_or_default();
        let pos = self.shape("embeddings.position_embeddings");
        let (Some(&hidden_size), true) = (cls.last(), proj.len() == 4) else {
            return Err(mismatch(format!(
                "embeddings.cls_token {cls:?} / patch projection {proj:?} have unexpected shapes"
            )));
        };
        let num_hidden_layers = match get("num_hidden_layers") {
            Some(n) => n as usize,
            None => {
                inferred.push("number of layers (from tensor names)".into());
                (0..)
                    .take_while(|i| {
                        self.tensors
                            .contains_key(&format!("encoder.layer.{i}.norm1.weight"))
                    })
                    .count()
            }
        };
        let num_attention_heads = match get("num_attention_heads") {
            Some(n) => n as usize,
            None => {
                inferred.push(format!(
                    "{} heads (width / 64: head count is not in the weights)",
                    hidden_size / 64
                ));
                (hidden_size / 64).max(1)
            }
        };
        if num_attention_heads == 0 || hidden_size % num_attention_heads != 0 {
            return Err(mismatch(format!(
                "{num_attention_heads} heads do not divide the width {hidden_size}"
            )));
        }
        let mlp_hidden = match self.shape("encoder.layer.0.mlp.fc1.weight") {
            Some(s) if s.len() == 2 => s[0],
            _ => get("mlp_ratio")
                .map(|r| (r * hidden_size as f64) as usize)
                .unwrap_or(4 * hidden_size),
        };
        let patch_size = proj[2];
        if proj[2] != proj[3] {
            return Err(mismatch(format!(
                "non-square patches {}x{} are not supported",
                proj[2], proj[3]
            )));
        }
        let pos_tokens = pos.as_ref().and_then(|s| s.get(1).copied()).unwrap_or(0);
        let num_pos_patches = pos_tokens.saturating_sub(1);
        let side = (num_pos_patches as f64).sqrt().round() as usize;
        if side * side != num_pos_patches || side == 0 {
            return Err(mismatch(format!(
                "embeddings.position_embeddings has {pos_tokens} rows: expected 1 + a square number of patches"
            )));
        }
        let image_size = match get("image_size") {
            Some(s) => s as usize,
            None => {
                inferred.push(format!(
                    "training size {} px (from the position grid)",
                    side * patch_size
                ));
                side * patch_size
            }
        };
        let layer_norm_eps = get("layer_norm_eps").unwrap_or_else(|| {
            inferred.push("layer_norm_eps = 1e-6 (DINOv2 default)".into());
            1e-6
        });
        let (image_mean, image_std) = self.mean_std(&mut inferred);
        let mut prefix = vec![PrefixToken::Cls];
        let registers = get("num_register_tokens").unwrap_or(0.0) as usize;
        prefix.extend((0..registers).map(PrefixToken::Register));
        Ok(VitConfig {
            family,
            hidden_size,
            num_hidden_layers,
            num_attention_heads,
            mlp_hidden,
            patch_size,
            pos_grid: (side, side),
            prefix,
            layer_norm_eps,
            layer_scale: self
                .tensors
                .contains_key("encoder.layer.0.layer_scale1.lambda1"),
            image_mean,
            image_std,
            image_size,
            inferred,
        })
    }

    fn mean_std(&self, inferred: &mut Vec<String>) -> ([f32; 3], [f32; 3]) {
        let triple = |v: Option<&Value>| -> Option<[f32; 3]> {
            let a = v?.as_array()?;
            (a.len() == 3).then(|| [0, 1, 2].map(|i| a[i].as_f64().unwrap_or(f64::NAN) as f32))
        };
        for src in [self.preprocessor_config.as_ref(), self.config.as_ref()]
            .into_iter()
            .flatten()
        {
            if let (Some(m), Some(s)) =
                (triple(src.get("image_mean")), triple(src.get("image_std")))
            {
                if m.iter().chain(&s).all(|x| x.is_finite()) && s.iter().all(|&x| x > 0.0) {
                    return (m, s);
                }
            }
        }
        inferred.push("ImageNet mean/std (no preprocessor_config.json)".into());
        (IMAGENET_MEAN, IMAGENET_STD)
    }

    /// The names and shapes a Hugging Face `Dinov2Model` with this config has.
    fn expected(cfg: &VitConfig) -> BTreeMap<String, Vec<usize>> {
        let d = cfg.hidden_size;
        let (gh, gw) = cfg.pos_grid;
        let mut e = BTreeMap::new();
        e.insert("embeddings.cls_token".into(), vec![1, 1, d]);
        e.insert(
            "embeddings.position_embeddings".into(),
            vec![1, 1 + gh * gw, d],
        );
        e.insert(
            "embeddings.patch_embeddings.projection.weight".into(),
            vec![d, 3, cfg.patch_size, cfg.patch_size],
        );
        e.insert(
            "embeddings.patch_embeddings.projection.bias".into(),
            vec![d],
        );
        e.insert("layernorm.weight".into(), vec![d]);
        e.insert("layernorm.bias".into(), vec![d]);
        if cfg.prefix.len() > 1 {
            e.insert(
                "embeddings.register_tokens".into(),
                vec![1, cfg.prefix.len() - 1, d],
            );
        }
        for i in 0..cfg.num_hidden_layers {
            let p = format!("encoder.layer.{i}.");
            for n in [
                "attention.attention.query",
                "attention.attention.key",
                "attention.attention.value",
                "attention.output.dense",
            ] {
                e.insert(format!("{p}{n}.weight"), vec![d, d]);
                e.insert(format!("{p}{n}.bias"), vec![d]);
            }
            for n in ["norm1", "norm2"] {
                e.insert(format!("{p}{n}.weight"), vec![d]);
                e.insert(format!("{p}{n}.bias"), vec![d]);
            }
            if cfg.layer_scale {
                e.insert(format!("{p}layer_scale1.lambda1"), vec![d]);
                e.insert(format!("{p}layer_scale2.lambda1"), vec![d]);
            }
            e.insert(format!("{p}mlp.fc1.weight"), vec![cfg.mlp_hidden, d]);
            e.insert(format!("{p}mlp.fc1.bias"), vec![cfg.mlp_hidden]);
            e.insert(format!("{p}mlp.fc2.weight"), vec![d, cfg.mlp_hidden]);
            e.insert(format!("{p}mlp.fc2.bias"), vec![d]);
        }
        e
    }

    /// Tensors a checkpoint may carry that inference does not use.
    fn ignorable(name: &str) -> bool {
        name == "embeddings.mask_token"
    }

    /// Compare every tensor against the architecture; one error lists every problem.
    pub fn validate(&self, cfg: &VitConfig) -> Result<()> {
        let expected = Self::expected(cfg);
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
            .filter(|k| !expected.contains_key(*k) && !Self::ignorable(k))
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
}
