//! Model configuration: mirrors the fields of a Hugging Face `Dinov2Config` (config.json), plus what
//! preprocessing needs. Filled from config.json / preprocessor_config.json when present, inferred from
//! tensor shapes otherwise; every inferred value is recorded in `inferred`.

use serde::Serialize;

use super::layout::{PrefixToken, TokenLayout};

/// Checkpoint family and naming. More come with the model zoo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Family {
    /// Hugging Face `Dinov2Model` naming (`embeddings.*`, `encoder.layer.N.*`, `layernorm.*`).
    HfDinov2,
}

impl Family {
    pub fn name(&self) -> &'static str {
        match self {
            Family::HfDinov2 => "dinov2 (Hugging Face Dinov2Model)",
        }
    }
    /// Short identifier written into dumps and PNG metadata.
    pub fn id(&self) -> &'static str {
        match self {
            Family::HfDinov2 => "hf-dinov2",
        }
    }
}

/// Architecture and preprocessing of a ViT, as read from its checkpoint.
#[derive(Debug, Clone, Serialize)]
pub struct VitConfig {
    pub family: Family,
    /// `hidden_size`: token width D.
    pub hidden_size: usize,
    /// `num_hidden_layers`.
    pub num_hidden_layers: usize,
    /// `num_attention_heads`.
    pub num_attention_heads: usize,
    /// Hidden width of the MLP (`mlp_ratio × hidden_size`).
    pub mlp_hidden: usize,
    /// `patch_size` in pixels.
    pub patch_size: usize,
    /// Grid (rows, cols) the position embeddings were trained for.
    pub pos_grid: (usize, usize),
    /// Tokens before the patches, in order.
    pub prefix: Vec<PrefixToken>,
    /// `layer_norm_eps`.
    pub layer_norm_eps: f64,
    /// Whether blocks have LayerScale (`layer_scale1/2.lambda1`).
    pub layer_scale: bool,
    /// Per-channel mean and std the pixels are normalised with (after scaling to 0..1).
    pub image_mean: [f32; 3],
    pub image_std: [f32; 3],
    /// The training resolution (`image_size`), in pixels.
    pub image_size: usize,
    /// What was not read from a config file but inferred or defaulted, in words.
    pub inferred: Vec<String>,
}

impl VitConfig {
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
    /// The token layout for an input of `input_h × input_w` pixels (multiples of the patch size).
    pub fn layout_for(&self, input_h: usize, input_w: usize) -> TokenLayout {
        TokenLayout {
            prefix: self.prefix.clone(),
            grid_h: input_h / self.patch_size,
            grid_w: input_w / self.patch_size,
            patch_size: self.patch_size,
        }
    }
}

pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];
