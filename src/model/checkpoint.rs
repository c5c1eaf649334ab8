//! Reading checkpoints: safetensors weights plus optional config.json / preprocessor_config.json,
//! validated once, at load, against the names and shapes the architecture needs.
//!
//! Every tensor's name and shape is checked; all missing, unexpected and misshaped tensors are
//! reported together in one [`ModelError::Mismatch`]. Weights are converted to f32 on the CPU here;
//! the model moves them to its device.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use safetensors::SafeTensors;
use serde_json::Value;
use tch::Tensor;

use super::config::{Activation, Family, Pool, Rope, VitConfig};
use super::config_files::{INDEX_FILE, MAX_CONFIG_BYTES, is_shard_name, read_json};
pub use super::config_files::{parse_index, parse_json};
use super::error::{ModelError, Result};
use super::layout::PrefixToken;
use super::naming::{self, Source};
use super::weights_file::{
    Collected, WeightsFile, check_header, check_weights_fit, describe_safetensors, is_pickle,
};

/// Tensors of a checkpoint (f32, CPU) with the config files found next to it.
pub struct Checkpoint {
    pub weights_path: PathBuf,
    pub tensors: HashMap<String, Tensor>,
    /// Tensors with an integer or boolean dtype (name → dtype), kept out of `tensors`; an error only
    /// when the architecture needs one of them (see [`Checkpoint::validate`]).
    pub non_float: BTreeMap<String, (String, Vec<usize>)>,
    /// Problems that do not stop loading (NaN or Inf weights), one line each.
    pub warnings: Vec<String>,
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
    let index = path.join(INDEX_FILE);
    if crate::files::is_present(&index) {
        return Ok(index);
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
        (n, _) if found.iter().all(|p| is_shard_name(p)) => Err(ModelError::NotFound {
            path: path.into(),
            reason: format!(
                "the folder holds {n} shards of a sharded checkpoint (model-0000N-of-0000M.safetensors) but not \
                 its {INDEX_FILE}, which says which tensor is in which shard; copy that file next to them"
            ),
        }),
        (n, _) => Err(ModelError::NotFound {
            path: path.into(),
            reason: format!(
                "the folder holds {n} .safetensors files and neither model.safetensors nor {INDEX_FILE}; \
                 open the one that holds the model"
            ),
        }),
    }
}

fn available_memory() -> Option<u64> {
    super::device::available_memory()
}

impl Checkpoint {
    /// Read a safetensors file, a sharded checkpoint's index, or a folder holding either, and its config files.
    pub fn read(path: &Path) -> Result<Checkpoint> {
        let weights_path = resolve_weights_path(path)?;
        let mut ckpt = if weights_path.file_name().is_some_and(|n| n == INDEX_FILE)
            || weights_path.to_string_lossy().ends_with(".index.json")
        {
            Self::read_sharded(&weights_path)?
        } else {
            Self::read_file(&weights_path)?
        };
        let dir = weights_path.parent().unwrap_or(Path::new("."));
        ckpt.config = read_json(&dir.join("config.json"))?;
        ckpt.preprocessor_config = read_json(&dir.join("preprocessor_config.json"))?;
        Ok(ckpt)
    }

    /// One safetensors file: header checked, memory checked, then each tensor read into its own storage.
    fn read_file(weights_path: &Path) -> Result<Checkpoint> {
        check_header(weights_path)?;
        match WeightsFile::open(weights_path)? {
            Some(f) => {
                check_weights_fit(weights_path, f.f32_bytes(), available_memory())?;
                Ok(Self::from_collected(f.read()?, weights_path))
            }
            None => Self::read_whole(weights_path),
        }
    }

    /// The whole file in memory, parsed by the safetensors crate (for files whose header does not validate:
    /// its error says what is wrong).
    fn read_whole(weights_path: &Path) -> Result<Checkpoint> {
        let bytes = crate::files::read_regular(weights_path, u64::MAX).map_err(|source| {
            ModelError::Io {
                path: weights_path.into(),
                source,
            }
        })?;
        Self::from_bytes(&bytes, weights_path)
    }

    fn from_collected(mut c: Collected, path: &Path) -> Checkpoint {
        let warnings = c.warnings();
        Checkpoint {
            weights_path: path.into(),
            tensors: c.tensors,
            non_float: c.non_float,
            warnings,
            config: None,
            preprocessor_config: None,
        }
    }

    /// A sharded checkpoint: every shard its index names, each holding exactly the tensors the index puts in it.
    fn read_sharded(index: &Path) -> Result<Checkpoint> {
        let text = crate::files::read_regular_text(index, MAX_CONFIG_BYTES).map_err(|source| {
            ModelError::Io {
                path: index.into(),
                source,
            }
        })?;
        let bad = |reason: String| ModelError::Safetensors {
            path: index.into(),
            reason: format!("sharded checkpoint index: {reason}"),
        };
        let shards = parse_index(&text).map_err(bad)?;
        let dir = index.parent().unwrap_or(Path::new("."));
        let missing: Vec<&String> = shards
            .keys()
            .filter(|f| !crate::files::is_present(&dir.join(f)))
            .collect();
        if let Some(first) = missing.first() {
            return Err(bad(format!(
                "{} of its {} shards are not in {} (e.g. {first}); download the whole checkpoint",
                missing.len(),
                shards.len(),
                dir.display()
            )));
        }
        // Every shard's header first: the memory check covers the whole checkpoint before any tensor is read.
        let mut files = Vec::new();
        for file in shards.keys() {
            let shard_path = dir.join(file);
            check_header(&shard_path)?;
            match WeightsFile::open(&shard_path)? {
                Some(f) => files.push(f),
                None => {
                    // the whole-file parser names the problem (it fails wherever the header does not validate)
                    Self::read_whole(&shard_path)?;
                    return Err(bad(format!("the header of {file} could not be read")));
                }
            }
        }
        let need: u64 = files.iter().map(WeightsFile::f32_bytes).sum();
        check_weights_fit(index, need, available_memory())?;
        let mut all = Collected::default();
        for (f, (file, names)) in files.into_iter().zip(&shards) {
            let shard = f.read()?;
            let absent: Vec<&String> = names.iter().filter(|n| !shard.contains(n)).collect();
            let extra = shard
                .tensors
                .keys()
                .chain(shard.non_float.keys())
                .filter(|n| names.binary_search(n).is_err())
                .count();
            if !absent.is_empty() || extra > 0 {
                return Err(bad(format!(
                    "{file} does not hold what the index says: {} tensor(s) it should hold are absent (e.g. {}), \
                     {extra} it holds are not named for it",
                    absent.len(),
                    absent.first().map_or("none", |s| s.as_str())
                )));
            }
            all.extend(shard);
        }
        Ok(Self::from_collected(all, index))
    }

    /// Parse safetensors bytes (`path` names them in messages); no config files.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
        let st = match SafeTensors::deserialize(bytes) {
            Ok(st) => st,
            // Only a file that is not valid safetensors is sniffed for PyTorch's formats.
            Err(_) if is_pickle(bytes) => {
                return Err(ModelError::Pickle { path: path.into() });
            }
            Err(e) => {
                return Err(ModelError::Safetensors {
                    path: path.into(),
                    reason: describe_safetensors(e, bytes.len()),
                });
            }
        };
        let mut c = Collected::default();
        for (name, view) in st.tensors() {
            c.add(name, view.dtype(), view.shape(), |buf| {
                buf.copy_from_slice(view.data());
                Ok(())
            })?;
        }
        Ok(Self::from_collected(c, path))
    }

    /// The shape of a tensor of any dtype.
    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        match self.tensors.get(name) {
            Some(t) => Some(t.size().iter().map(|&d| d as usize).collect()),
            None => self.non_float.get(name).map(|(_, s)| s.clone()),
        }
    }

    /// Whether the file holds a tensor of this name (of any dtype).
    pub(super) fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name) || self.non_float.contains_key(name)
    }

    pub(super) fn source(&self, family: Family, root: &str, canonical: &str) -> Option<Source> {
        naming::source(family, root, canonical, &|n| self.contains(n))
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
        let has = |n: &str| self.contains(n);
        let timm_stem = has("patch_embed.proj.weight");
        if timm_stem && has("layers.0.blocks.0.norm1.weight") {
            return Ok((Family::TimmSwin, String::new()));
        }
        if timm_stem
            && has("blocks.0.attn.qkv.weight")
            && (has("storage_tokens") || has("rope_embed.periods"))
        {
            return Ok((Family::Dinov3, String::new()));
        }
        let architecture = self
            .config
            .as_ref()
            .and_then(|c| c.get("architecture"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let eva_marks = [
            "blocks.0.gamma_1",
            "blocks.0.attn.q_bias",
            "blocks.0.attn.q_proj.weight",
            "blocks.0.mlp.fc1_g.weight",
            "blocks.0.mlp.norm.weight",
            "blocks.0.attn.norm.weight",
        ];
        let beit = has("blocks.0.attn.relative_position_bias_table")
            || has("rel_pos_bias.relative_position_bias_table")
            || architecture.starts_with("beit");
        if timm_stem && beit {
            return Ok((Family::TimmBeit, String::new()));
        }
        let eva_name = architecture.starts_with("eva") || architecture.contains("dinov3");
        if timm_stem && (eva_name || eva_marks.iter().any(|m| has(m))) {
            return Ok((Family::TimmEva, String::new()));
        }
        if timm_stem && has("blocks.0.attn.qkv.weight") {
            return Ok((Family::Timm, String::new()));
        }
        for key in self.sorted_names() {
            if let Some(root) = key.strip_suffix("embeddings.patch_embeddings.projection.weight")
                && has(&format!(
                    "{root}encoder.layers.0.blocks.0.layernorm_before.weight"
                ))
            {
                return Ok((Family::HfSwin, root.into()));
            }
            if let Some(root) = key.strip_suffix("embeddings.patch_embeddings.projection.weight") {
                let beit_marks = [
                    "encoder.layer.0.lambda_1",
                    "encoder.layer.0.attention.attention.relative_position_bias.relative_position_bias_table",
                    "encoder.relative_position_bias.relative_position_bias_table",
                    "pooler.layernorm.weight",
                ];
                let model_type = self
                    .config
                    .as_ref()
                    .and_then(|c| c.get("model_type"))
                    .and_then(Value::as_str);
                if has(&format!("{root}encoder.layer.0.layernorm_before.weight"))
                    && (model_type == Some("beit")
                        || beit_marks.iter().any(|m| has(&format!("{root}{m}"))))
                {
                    return Ok((Family::HfBeit, root.into()));
                }
                if has(&format!("{root}encoder.layer.0.layernorm_before.weight")) {
                    return Ok((Family::HfVit, root.into()));
                }
                if has(&format!("{root}encoder.layer.0.norm1.weight")) {
                    return Ok((Family::HfDinov2, root.into()));
                }
            }
            if let Some(root) = key.strip_suffix("embeddings.patch_embeddings.weight")
                && has(&format!("{root}layer.0.attention.q_proj.weight"))
            {
                return Ok((Family::HfDinov3, root.into()));
            }
            if let Some(root) = key.strip_suffix("embeddings.patch_embedding.weight")
                && has(&format!("{root}encoder.layers.0.self_attn.q_proj.weight"))
                && !has(&format!("{root}embeddings.class_embedding"))
            {
                if self.shape(key).is_some_and(|s| s.len() == 2) {
                    return Err(ModelError::UnknownLayout {
                        found: "a SigLIP2 NaFlex vision tower (Siglip2VisionModel: a linear patch embedding over \
                                pre-patchified pixels, a padding mask and a position table resized per image), \
                                which vitscope does not open; SigLIP2's fixed-resolution checkpoints \
                                (SiglipVisionModel layout) open"
                            .into(),
                    });
                }
                return Ok((Family::HfSiglip, root.into()));
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
        let guess = if any("blocks.0.attn.qkv") && !any("patch_embed.proj.weight") {
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
        if let Some(arch) = &cfg.swin {
            return super::swin::canonical(cfg, arch);
        }
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
        if cfg.abs_pos {
            add("pos_embed", vec![1, cfg.pos_prefix + gh * gw, d]);
        }
        if let Some(Rope::Dinov3 { periods }) = &cfg.rope
            && cfg.family == Family::Dinov3
        {
            add("rope_periods", vec![periods.len()]);
        }
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
        if let Some(r) = cfg.rel_pos.as_ref().filter(|r| r.shared) {
            add(
                "rel_pos_bias.relative_position_bias_table",
                vec![r.table_rows(), cfg.num_attention_heads],
            );
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
            if cfg.attn_norm {
                norm(&mut add, &format!("{b}.attn.norm"));
            }
            if let Some(r) = cfg.rel_pos.as_ref().filter(|r| !r.shared) {
                add(
                    &format!("{b}.attn.relative_position_bias_table"),
                    vec![r.table_rows(), cfg.num_attention_heads],
                );
            }
            add(&format!("{b}.attn.proj.weight"), vec![d, d]);
            if cfg.proj_bias {
                add(&format!("{b}.attn.proj.bias"), vec![d]);
            }
            norm(&mut add, &format!("{b}.norm2"));
            add(&format!("{b}.mlp.fc1.weight"), vec![fc1_out, d]);
            add(&format!("{b}.mlp.fc2.weight"), vec![d, cfg.mlp_hidden]);
            if cfg.mlp_bias {
                add(&format!("{b}.mlp.fc1.bias"), vec![fc1_out]);
                add(&format!("{b}.mlp.fc2.bias"), vec![d]);
            }
            if cfg.mlp_norm {
                add(&format!("{b}.mlp.norm.weight"), vec![cfg.mlp_hidden]);
                add(&format!("{b}.mlp.norm.bias"), vec![cfg.mlp_hidden]);
            }
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
        if cfg.pool == Pool::Map {
            let p = "attn_pool";
            add(&format!("{p}.latent"), vec![1, 1, d]);
            for (name, rows) in [("q", d), ("kv", 2 * d), ("proj", d)] {
                add(&format!("{p}.{name}.weight"), vec![rows, d]);
                add(&format!("{p}.{name}.bias"), vec![rows]);
            }
            norm(&mut add, &format!("{p}.norm"));
            let m = cfg.pool_mlp_hidden;
            add(&format!("{p}.mlp.fc1.weight"), vec![m, d]);
            add(&format!("{p}.mlp.fc1.bias"), vec![m]);
            add(&format!("{p}.mlp.fc2.weight"), vec![d, m]);
            add(&format!("{p}.mlp.fc2.bias"), vec![d]);
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
        let mut wrong_dtype = Vec::new();
        for (name, shape) in &expected {
            if let Some((dtype, _)) = self.non_float.get(name) {
                wrong_dtype.push(format!("{name} ({dtype})"));
                continue;
            }
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
            .chain(self.non_float.keys())
            .filter(|k| {
                !expected.contains_key(*k) && naming::ignorable(cfg.family, &cfg.root, k).is_none()
            })
            .cloned()
            .collect();
        unexpected.sort();
        if missing.is_empty()
            && misshaped.is_empty()
            && unexpected.is_empty()
            && wrong_dtype.is_empty()
        {
            return Ok(());
        }
        let mut report = String::new();
        // At most LISTED names per section: a checkpoint of another model can differ in 200,000 tensors.
        const LISTED: usize = 12;
        let mut section = |title: &str, items: &[String]| {
            if !items.is_empty() {
                let more = items.len().saturating_sub(LISTED);
                report.push_str(&format!(
                    "  {} {title}: {}{}\n",
                    items.len(),
                    items[..items.len().min(LISTED)].join(", "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                ));
            }
        };
        section("missing", &missing);
        section("unexpected", &unexpected);
        section("misshaped", &misshaped);
        section(
            "in a dtype vitscope cannot compute with (not floating point F32, F16, BF16 or F64)",
            &wrong_dtype,
        );
        Err(ModelError::Mismatch {
            family: cfg.family.name().into(),
            report: report.trim_end().into(),
        })
    }

    /// The file's tensors that inference does not use, summarised by reason (`CLIP text tower: 196 tensors`).
    pub fn ignored(&self, cfg: &VitConfig) -> Vec<String> {
        let mut by_reason: BTreeMap<&str, usize> = BTreeMap::new();
        for k in self.tensors.keys().chain(self.non_float.keys()) {
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
            let t = src.combine(&parts)?;
            let shape: Vec<i64> = shape.iter().map(|&s| s as i64).collect();
            out.insert(name, t.f_reshape(&shape)?);
        }
        Ok(out)
    }
}
