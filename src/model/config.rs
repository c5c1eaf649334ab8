//! Model configuration: one description of a plain ViT that covers every family vitscope opens (timm
//! VisionTransformer / DeiT / CLIP towers, Hugging Face ViT, DeiT, DINOv2 (+registers), CLIP). It is filled from
//! the checkpoint's own config files when present and inferred from tensor shapes otherwise; every inferred
//! value is recorded in `inferred`, in words.

use serde::Serialize;

use super::layout::{PrefixToken, TokenLayout};

/// How a checkpoint names its tensors. Which models each covers is in [`super::naming`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Family {
    /// timm `VisionTransformer` (also DeiT, `VisionTransformerDistilled`, CLIP image towers, DINO/DINOv2 in timm
    /// naming): `cls_token`, `pos_embed`, `patch_embed.proj`, `blocks.N.attn.qkv`, `norm`, `fc_norm`, `head`.
    Timm,
    /// Hugging Face `ViTModel`/`ViTForImageClassification`, `DeiTModel`/`DeiTForImageClassification(WithTeacher)`:
    /// `embeddings.*`, `encoder.layer.N.attention.attention.query`, `layernorm_before/after`, `classifier`.
    HfVit,
    /// Hugging Face `Dinov2Model`, `Dinov2WithRegistersModel` and their classifiers: `encoder.layer.N.norm1`,
    /// `layer_scale1.lambda1`, `mlp.fc1` or `mlp.weights_in` (SwiGLU).
    HfDinov2,
    /// Hugging Face `CLIPVisionModel`(`WithProjection`) and the vision tower of `CLIPModel`: `vision_model.*`,
    /// `pre_layrnorm`, `encoder.layers.N.self_attn.q_proj`, `post_layernorm`, `visual_projection`.
    HfClip,
    /// timm `Eva` (EVA-02 `eva02_*`, DINOv3 `vit_*_patch16_dinov3`): like timm's ViT plus `attn.q_bias/v_bias` or
    /// separate `attn.q/k/v_proj`, `gamma_1/2`, `mlp.fc1_g/fc1_x` (SwiGLU), `mlp.norm`, `attn.norm`, RoPE.
    TimmEva,
    /// Hugging Face `DINOv3ViTModel`: `embeddings.*`, `layer.N.attention.{q,k,v,o}_proj`, `layer_scale1.lambda1`,
    /// `mlp.{gate,up,down}_proj`, RoPE.
    HfDinov3,
    /// The official DINOv3 checkpoints (facebookresearch/dinov3): timm-like names plus `storage_tokens`,
    /// `attn.qkv.bias_mask`, `ls1.gamma`, `mlp.w1/w2/w3`, `rope_embed.periods`.
    Dinov3,
    /// timm `Beit` (BEiT, BEiT v2): EVA's names (`gamma_1/2`, `attn.q_bias/v_bias`) plus
    /// `attn.relative_position_bias_table` per block or one shared `rel_pos_bias.relative_position_bias_table`.
    TimmBeit,
    /// Hugging Face `BeitModel`/`BeitForImageClassification`: ViT's names, a key without bias, `lambda_1/2`,
    /// `relative_position_bias.relative_position_bias_table`, `pooler.layernorm` (mean pooling).
    HfBeit,
    /// Hugging Face `SiglipVisionModel` and the vision tower of `SiglipModel` (SigLIP, SigLIP2 fixed-resolution):
    /// CLIP's encoder names without a class embedding, `post_layernorm`, the attention-pooling `head`.
    HfSiglip,
    /// timm `SwinTransformer`: `patch_embed`, `layers.S.downsample` (patch merging at a stage's start),
    /// `layers.S.blocks.B.attn.{qkv,relative_position_bias_table,proj}`, `norm`, `head.fc`.
    TimmSwin,
    /// Hugging Face `SwinModel`/`SwinForImageClassification`: `embeddings.patch_embeddings`, `encoder.layers.S.
    /// blocks.B.attention.self.{query,key,value}`, patch merging at a stage's end, `layernorm`, `classifier`.
    HfSwin,
}

impl Family {
    pub fn name(&self) -> &'static str {
        match self {
            Family::Timm => "timm VisionTransformer",
            Family::HfVit => "Hugging Face ViT/DeiT",
            Family::HfDinov2 => "Hugging Face DINOv2",
            Family::HfClip => "Hugging Face CLIP vision",
            Family::TimmEva => "timm Eva (EVA-02, DINOv3)",
            Family::HfDinov3 => "Hugging Face DINOv3",
            Family::Dinov3 => "DINOv3 (official naming)",
            Family::TimmBeit => "timm BEiT",
            Family::HfBeit => "Hugging Face BEiT",
            Family::HfSiglip => "Hugging Face SigLIP vision",
            Family::TimmSwin => "timm Swin Transformer",
            Family::HfSwin => "Hugging Face Swin",
        }
    }
    /// Short identifier written into dumps and PNG metadata.
    pub fn id(&self) -> &'static str {
        match self {
            Family::Timm => "timm",
            Family::HfVit => "hf-vit",
            Family::HfDinov2 => "hf-dinov2",
            Family::HfClip => "hf-clip",
            Family::TimmEva => "timm-eva",
            Family::HfDinov3 => "hf-dinov3",
            Family::Dinov3 => "dinov3",
            Family::TimmBeit => "timm-beit",
            Family::HfBeit => "hf-beit",
            Family::HfSiglip => "hf-siglip",
            Family::TimmSwin => "timm-swin",
            Family::HfSwin => "hf-swin",
        }
    }
}

/// The MLP's non-linearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Activation {
    /// Exact (erf) GELU.
    Gelu,
    /// GELU with the tanh approximation (`gelu_pytorch_tanh`, `gelu_new`, timm `gelu_tanh`).
    GeluTanh,
    /// `x · sigmoid(1.702 x)` (OpenAI CLIP).
    QuickGelu,
    /// SwiGLU with a packed first layer (timm `SwiGLUPacked`, HF `Dinov2SwiGLUFFN`):
    /// `fc2(silu(a) ⊙ b)` where `[a, b] = fc1(x)` split in halves.
    SwiGlu,
}

impl Activation {
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Gelu => "GELU",
            Activation::GeluTanh => "GELU (tanh)",
            Activation::QuickGelu => "QuickGELU",
            Activation::SwiGlu => "SwiGLU",
        }
    }
}

/// Rotary position embedding on the patch tokens' queries and keys (prefix tokens are not rotated). Each head's
/// `head_dim` channels hold `head_dim / 4` frequencies for the row coordinate and as many for the column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Rope {
    /// DINOv3: coordinates `2(i + 0.5)/n − 1` per axis (any grid, no interpolation), angle `2π·c / period`,
    /// `[rows…, cols…]` tiled twice and rotated by halves (`rotate_half`).
    Dinov3 { periods: Vec<f32> },
    /// EVA-02 (timm `RotaryEmbeddingCat`): coordinates `i · reference / n` (the patch index rescaled to the
    /// pre-training grid), angle `c · band`, each value repeated for an interleaved pair (`[-x1, x0, …]`).
    Eva {
        bands: Vec<f32>,
        reference: (usize, usize),
    },
}

impl Rope {
    /// DINOv3's periods `base^(2k / (head_dim / 2))`, k < head_dim / 4, computed in f32 as upstream does.
    pub fn dinov3(base: f64, head_dim: usize) -> Rope {
        let n = head_dim / 4;
        let periods = (0..n)
            .map(|k| (base as f32).powf(2.0 * k as f32 / (head_dim / 2) as f32))
            .collect();
        Rope::Dinov3 { periods }
    }
    /// EVA-02's bands `1 / temperature^(k / (head_dim / 4))`.
    pub fn eva(temperature: f64, head_dim: usize, reference: (usize, usize)) -> Rope {
        let n = head_dim / 4;
        let bands = (0..n)
            .map(|k| 1.0 / (temperature as f32).powf(k as f32 / n as f32))
            .collect();
        Rope::Eva { bands, reference }
    }
    pub fn describe(&self) -> String {
        match self {
            Rope::Dinov3 { periods } => format!(
                "2-D RoPE on patch tokens (DINOv3: coordinates normalised to [-1, 1] per axis, so any grid works \
                 without interpolation; {} periods {:.4}..{:.4})",
                periods.len(),
                periods.first().unwrap_or(&0.0),
                periods.last().unwrap_or(&0.0)
            ),
            Rope::Eva { bands, reference } => format!(
                "2-D RoPE on patch tokens (EVA-02: patch indices rescaled to the {}x{} pre-training grid, \
                 interleaved pairs, {} bands)",
                reference.0,
                reference.1,
                bands.len()
            ),
        }
    }
}

/// BEiT's learned relative position bias, added to the attention scores: a table of `(2h−1)(2w−1) + 3` rows
/// (one per 2-D offset between patches, then CLS→patch, patch→CLS, CLS→CLS) by heads, per block or shared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelPos {
    /// The patch grid the table was trained for (h, w).
    pub window: (usize, usize),
    /// One table for every block (`use_shared_rel_pos_bias`).
    pub shared: bool,
}

impl RelPos {
    pub fn table_rows(&self) -> usize {
        (2 * self.window.0 - 1) * (2 * self.window.1 - 1) + 3
    }
    pub fn describe(&self) -> String {
        format!(
            "learned relative position bias ({}, trained on a {}x{} grid; at other grids its offset table is \
             resized bilinearly, as transformers does)",
            if self.shared {
                "one table shared by all blocks"
            } else {
                "one table per block"
            },
            self.window.0,
            self.window.1
        )
    }
}

/// A hierarchical, windowed model (Swin Transformer): stages of blocks that attend inside `window × window`
/// windows of that stage's grid, every second block on a grid rolled by `window / 2` (with a mask between the
/// regions the roll brings together), and 2×2 patch merging between stages (width doubles).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SwinArch {
    /// Token width of each stage.
    pub dims: Vec<usize>,
    pub depths: Vec<usize>,
    pub heads: Vec<usize>,
    /// MLP width of each stage.
    pub mlp_hidden: Vec<usize>,
    /// The window side M the relative position bias tables were trained for.
    pub window: usize,
    /// Hugging Face's order: pad to whole windows, then roll (timm rolls, then pads).
    pub pad_then_roll: bool,
    /// Hugging Face Swin V1: one square window for both axes when a stage is no larger than it (timm and Swin V2
    /// decide per axis).
    pub square_rule: bool,
    /// Swin V2: cosine attention scaled by `exp(min(logit_scale, ln 100))`, a bias `16·sigmoid(cpb_mlp(log-spaced
    /// offsets))`, post-norm blocks, merging that reduces before it normalises. Holds each stage's pre-training
    /// window (0: the window itself) by which the offsets are scaled.
    pub v2: Option<Vec<usize>>,
}

impl SwinArch {
    /// (stage, block within the stage) of a layer counted over all stages.
    pub fn stage_of(&self, layer: usize) -> (usize, usize) {
        let mut l = layer;
        for (s, &d) in self.depths.iter().enumerate() {
            if l < d {
                return (s, l);
            }
            l -= d;
        }
        (self.depths.len(), l)
    }
    /// Stage `s`'s grid for a stem grid of `h × w` patches (merging pads odd sides).
    pub fn stage_grid(&self, s: usize, h: usize, w: usize) -> (usize, usize) {
        (0..s).fold((h, w), |(h, w), _| (h.div_ceil(2), w.div_ceil(2)))
    }
    /// The window (rows, cols) and shift (rows, cols) of block `b` on a stage grid of `h × w`, the way the
    /// family's code decides them.
    pub fn window_and_shift(
        &self,
        b: usize,
        h: usize,
        w: usize,
    ) -> ((usize, usize), (usize, usize)) {
        let m = self.window;
        let half = if b % 2 == 1 { m / 2 } else { 0 };
        if self.square_rule {
            if h.min(w) <= m {
                let s = h.min(w);
                ((s, s), (0, 0))
            } else {
                ((m, m), (half, half))
            }
        } else {
            let axis = |r: usize| if r <= m { (r, 0) } else { (m, half) };
            let ((wh, sh), (ww, sw)) = (axis(h), axis(w));
            ((wh, ww), (sh, sw))
        }
    }
    pub fn describe(&self) -> String {
        format!(
            "{}{} stages of depths {:?}, widths {:?}, heads {:?}, {}x{} windows shifted by {} every second block",
            if self.v2.is_some() {
                "Swin V2 (cosine attention, continuous position bias, post-norm): "
            } else {
                ""
            },
            self.depths.len(),
            self.depths,
            self.dims,
            self.heads,
            self.window,
            self.window,
            self.window / 2
        )
    }
}

/// How the tokens become the one feature vector a classifier (or a projection) sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Pool {
    /// The CLS token.
    Cls,
    /// The mean of the patch tokens (prefix tokens left out), timm `global_pool='avg'`.
    Avg,
    /// DeiT distilled: `(CLS + distillation token) / 2`; logits average `head(CLS)` and `head_dist(dist)`.
    ClsDist,
    /// `[CLS; mean of patch tokens]` (Hugging Face `Dinov2ForImageClassification`).
    ClsAndAvg,
    /// Multihead attention pooling (SigLIP, timm `global_pool='map'`): a learned probe attends over the final
    /// tokens, `h = proj(MHA(probe, X, X))`, then `h + mlp(norm(h))`.
    Map,
}

/// Architecture and preprocessing of a ViT, as read from its checkpoint.
#[derive(Debug, Clone, Serialize)]
pub struct VitConfig {
    pub family: Family,
    /// What the checkpoint is, in words (e.g. `timm deit_tiny_distilled_patch16_224`, `Hugging Face CLIPModel`).
    pub description: String,
    /// Prefix of the vision model's tensor names inside the file (`vit.`, `vision_model.`, …), or empty.
    pub root: String,
    /// Token width D.
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    /// Hidden width of the MLP (for SwiGLU: the width after gating).
    pub mlp_hidden: usize,
    pub activation: Activation,
    /// Patch side in pixels.
    pub patch_size: usize,
    /// Grid (rows, cols) the position embeddings were trained for (for models without a learned absolute
    /// position embedding: the training resolution's grid).
    pub pos_grid: (usize, usize),
    /// A learned absolute position embedding (`pos_embed`); RoPE-only models (DINOv3) have none.
    pub abs_pos: bool,
    /// Rotary position embedding of the patch tokens' queries and keys.
    pub rope: Option<Rope>,
    /// Relative position bias on the attention scores (BEiT).
    pub rel_pos: Option<RelPos>,
    /// Swin's stages and windows; `None` for every plain ViT.
    pub swin: Option<SwinArch>,
    /// Tokens before the patches, in order: `[CLS, (distillation), registers…]`.
    pub prefix: Vec<PrefixToken>,
    /// How many of the leading prefix tokens have a position embedding (timm `no_embed_class` → 0, HF DINOv2
    /// with registers → 1: the CLS only).
    pub pos_prefix: usize,
    /// Position embeddings are resized with antialiasing (timm, HF DINOv2 with registers) or without.
    pub pos_antialias: bool,
    pub patch_bias: bool,
    pub qkv_bias: bool,
    /// The attention output projection has a bias.
    pub proj_bias: bool,
    /// The MLP's linear layers have biases.
    pub mlp_bias: bool,
    /// A LayerNorm on the attention output before its projection (EVA CLIP `attn.norm`).
    pub attn_norm: bool,
    /// A LayerNorm inside the MLP before its last layer (EVA-02's SwiGLU `mlp.norm`).
    pub mlp_norm: bool,
    /// Heads and MLP width of the attention-pooling head (`Pool::Map`).
    pub pool_heads: usize,
    pub pool_mlp_hidden: usize,
    /// A LayerNorm before the blocks (CLIP's `norm_pre` / `pre_layrnorm`).
    pub pre_norm: bool,
    /// LayerScale in the blocks (`ls1/ls2.gamma`, `layer_scale1/2.lambda1`).
    pub layer_scale: bool,
    /// A LayerNorm over all tokens after the blocks (timm `norm`, HF `layernorm`).
    pub final_norm: bool,
    /// A LayerNorm on the pooled feature (timm `fc_norm`, HF CLIP `post_layernorm`).
    pub pool_norm: bool,
    pub pool: Pool,
    pub layer_norm_eps: f64,
    /// Classes of the classifier head, with names when known.
    pub num_classes: Option<usize>,
    pub class_names: Vec<String>,
    /// A distillation head (`head_dist`, `distillation_classifier`).
    pub dist_head: bool,
    /// Output width of a bias-free projection of the pooled feature (CLIP `visual_projection`).
    pub projection_dim: Option<usize>,
    /// Per-channel mean and std the pixels are normalised with (after scaling to 0..1).
    pub image_mean: [f32; 3],
    pub image_std: [f32; 3],
    /// The training resolution, in pixels (height, width).
    pub image_size: (usize, usize),
    /// What was not read from a config file but inferred or defaulted, in words.
    pub inferred: Vec<String>,
}

impl VitConfig {
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
    /// The token layout for an input of `input_h × input_w` pixels (multiples of the patch size).
    pub fn layout_for(&self, input_h: usize, input_w: usize) -> TokenLayout {
        if let Some(s) = &self.swin {
            // A Swin model's output tokens are its last stage's grid.
            let last = s.depths.len().saturating_sub(1);
            let (h, w) = s.stage_grid(last, input_h / self.patch_size, input_w / self.patch_size);
            return TokenLayout {
                prefix: Vec::new(),
                grid_h: h,
                grid_w: w,
                patch_size: self.patch_size << last,
            };
        }
        TokenLayout {
            prefix: self.prefix.clone(),
            grid_h: input_h / self.patch_size,
            grid_w: input_w / self.patch_size,
            patch_size: self.patch_size,
        }
    }
    pub fn has(&self, token: PrefixToken) -> bool {
        self.prefix.contains(&token)
    }
    pub fn num_registers(&self) -> usize {
        self.prefix
            .iter()
            .filter(|p| matches!(p, PrefixToken::Register(_)))
            .count()
    }
    /// How the model knows where a patch is, in words (Model info, `vitscope info`).
    pub fn position_scheme(&self) -> String {
        let learned = format!(
            "learned absolute embedding for a {}x{} grid ({} prefix token{} included), resized bicubic{}",
            self.pos_grid.0,
            self.pos_grid.1,
            self.pos_prefix,
            if self.pos_prefix == 1 { "" } else { "s" },
            if self.pos_antialias {
                " with antialiasing"
            } else {
                ""
            }
        );
        let mut parts = Vec::new();
        if self.abs_pos {
            parts.push(learned);
        }
        if let Some(r) = &self.rope {
            parts.push(r.describe());
        }
        if let Some(r) = &self.rel_pos {
            parts.push(r.describe());
        }
        if let Some(s) = &self.swin {
            parts.push(format!(
                "windowed attention with a learned relative position bias per block ({}x{} windows; no absolute \
                 position embedding)",
                s.window, s.window
            ));
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join("; plus ")
        }
    }
    /// Width of the vector the classifier head sees.
    pub fn pooled_dim(&self) -> usize {
        match self.pool {
            Pool::ClsAndAvg => 2 * self.hidden_size,
            _ => self.hidden_size,
        }
    }
}

pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];
/// `IMAGENET_STANDARD_MEAN/STD` in transformers, the `ViTImageProcessor` default.
pub const HALF_MEAN_STD: [f32; 3] = [0.5, 0.5, 0.5];
pub const OPENAI_CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
pub const OPENAI_CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];
