//! The ViT forward pass with explicit attention, written the way Hugging Face's `modeling_dinov2.py`
//! (transformers 4.57) computes it, so every attention matrix matches PyTorch's eager path:
//!
//! ```text
//! x  = [CLS; registers; patch_embed(pixels)] + interpolate(pos_embed)      (registers get no position)
//! per block:  h = LN1(x);  A = softmax(Q Kᵀ / √d_head) (f32);  x = x + ls1 ⊙ W_o (A V)
//!             h = LN2(x);  x = x + ls2 ⊙ fc2(GELU(fc1(h)))
//! out = LN(x)
//! ```
//! Position embeddings trained for a `gh × gw` grid are resized to the input grid with bicubic
//! interpolation (`align_corners = False`, a = −0.75), exactly PyTorch's `F.interpolate(mode="bicubic")`,
//! which Dinov2Embeddings.interpolate_pos_encoding calls; they are left untouched when the grids agree.
//! Every op uses tch's fallible `f_*` form, so an out-of-memory or shape error comes back as an error.

use std::time::Instant;

use tch::{Device, Kind, Tensor};

use super::checkpoint::Checkpoint;
use super::config::VitConfig;
use super::error::{ModelError, Result};
use super::layout::TokenLayout;

struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.f_linear(&self.weight, Some(&self.bias))?)
    }
}

struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let d = self.weight.size()[0];
        Ok(x.f_layer_norm([d], Some(&self.weight), Some(&self.bias), self.eps, false)?)
    }
}

/// One encoder block (`encoder.layer.N`).
struct Block {
    norm1: LayerNorm,
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    layer_scale1: Option<Tensor>,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    layer_scale2: Option<Tensor>,
}

/// Everything one forward pass captured. Tensors stay on the model's device.
pub struct Capture {
    /// Per layer: softmax attention `[heads, N, N]`, f32, rows are queries and sum to 1.
    pub attentions: Vec<Tensor>,
    /// Final normalised tokens `[N, D]`.
    pub last_hidden_state: Tensor,
    pub layout: TokenLayout,
    /// Input height and width in pixels.
    pub input_hw: (usize, usize),
    /// Wall time of the forward pass (device synchronised), milliseconds.
    pub forward_ms: f64,
}

/// A ViT ready to run: validated weights on one device.
pub struct Vit {
    pub config: VitConfig,
    pub device: Device,
    cls_token: Tensor,
    register_tokens: Option<Tensor>,
    position_embeddings: Tensor,
    patch_weight: Tensor,
    patch_bias: Tensor,
    blocks: Vec<Block>,
    final_norm: LayerNorm,
    pub num_parameters: usize,
}

impl Vit {
    /// Build from a checkpoint (validated by [`Checkpoint::config`]) on `device`.
    pub fn from_checkpoint(ckpt: &Checkpoint, device: Device) -> Result<Vit> {
        let config = ckpt.config()?;
        let take = |name: &str| -> Result<Tensor> {
            let t = ckpt.tensors.get(name).ok_or_else(|| ModelError::Mismatch {
                family: config.family.name().into(),
                report: format!("missing {name}"),
            })?;
            Ok(t.f_to_device(device)?)
        };
        let linear = |p: &str| -> Result<Linear> {
            Ok(Linear {
                weight: take(&format!("{p}.weight"))?,
                bias: take(&format!("{p}.bias"))?,
            })
        };
        let eps = config.layer_norm_eps;
        let norm = |p: &str| -> Result<LayerNorm> {
            Ok(LayerNorm {
                weight: take(&format!("{p}.weight"))?,
                bias: take(&format!("{p}.bias"))?,
                eps,
            })
        };
        let mut blocks = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let ls = |n: &str| -> Result<Option<Tensor>> {
                if config.layer_scale {
                    Ok(Some(take(&format!("{p}.{n}.lambda1"))?))
                } else {
                    Ok(None)
                }
            };
            blocks.push(Block {
                norm1: norm(&format!("{p}.norm1"))?,
                query: linear(&format!("{p}.attention.attention.query"))?,
                key: linear(&format!("{p}.attention.attention.key"))?,
                value: linear(&format!("{p}.attention.attention.value"))?,
                output: linear(&format!("{p}.attention.output.dense"))?,
                layer_scale1: ls("layer_scale1")?,
                norm2: norm(&format!("{p}.norm2"))?,
                fc1: linear(&format!("{p}.mlp.fc1"))?,
                fc2: linear(&format!("{p}.mlp.fc2"))?,
                layer_scale2: ls("layer_scale2")?,
            });
        }
        let num_parameters = ckpt
            .tensors
            .iter()
            .filter(|(k, _)| k.as_str() != "embeddings.mask_token")
            .map(|(_, t)| t.numel())
            .sum();
        Ok(Vit {
            cls_token: take("embeddings.cls_token")?,
            register_tokens: if config.prefix.len() > 1 {
                Some(take("embeddings.register_tokens")?)
            } else {
                None
            },
            position_embeddings: take("embeddings.position_embeddings")?,
            patch_weight: take("embeddings.patch_embeddings.projection.weight")?,
            patch_bias: take("embeddings.patch_embeddings.projection.bias")?,
            final_norm: norm("layernorm")?,
            blocks,
            num_parameters,
            config,
            device,
        })
    }

    /// Position embeddings for a `grid_h × grid_w` input grid: `[1, 1 + grid_h·grid_w, D]`.
    pub fn position_embeddings_for(&self, grid_h: usize, grid_w: usize) -> Result<Tensor> {
        let (ph, pw) = self.config.pos_grid;
        if (ph, pw) == (grid_h, grid_w) {
            return Ok(self.position_embeddings.shallow_clone());
        }
        let d = self.config.hidden_size as i64;
        let cls = self.position_embeddings.f_narrow(1, 0, 1)?;
        let patch = self
            .position_embeddings
            .f_narrow(1, 1, (ph * pw) as i64)?
            .f_reshape([1, ph as i64, pw as i64, d])?
            .f_permute([0, 3, 1, 2])?
            .f_upsample_bicubic2d([grid_h as i64, grid_w as i64], false, None, None)?
            .f_permute([0, 2, 3, 1])?
            .f_reshape([1, (grid_h * grid_w) as i64, d])?;
        Ok(Tensor::f_cat(&[cls, patch], 1)?)
    }

    /// Run the model on `pixels` `[1, 3, H, W]` (normalised, H and W multiples of the patch size) and
    /// capture every layer's attention.
    pub fn forward(&self, pixels: &Tensor) -> Result<Capture> {
        let _guard = tch::no_grad_guard();
        let size = pixels.size();
        let p = self.config.patch_size as i64;
        if size.len() != 4
            || size[0] != 1
            || size[1] != 3
            || size[2] % p != 0
            || size[3] % p != 0
            || size[2] == 0
            || size[3] == 0
        {
            return Err(ModelError::InputSize(format!(
                "{size:?} (need [1, 3, H, W] with H, W multiples of {p})"
            )));
        }
        let (h, w) = (size[2] as usize, size[3] as usize);
        let layout = self.config.layout_for(h, w);
        let start = Instant::now();
        let x = pixels.f_to_device(self.device)?.f_to_kind(Kind::Float)?;
        let patches = x
            .f_conv2d(
                &self.patch_weight,
                Some(&self.patch_bias),
                [p, p],
                [0, 0],
                [1, 1],
                1,
            )?
            .f_flatten(2, 3)?
            .f_transpose(1, 2)?; // [1, gh·gw, D]
        let pos = self.position_embeddings_for(layout.grid_h, layout.grid_w)?;
        let mut x = Tensor::f_cat(&[&self.cls_token, &patches], 1)?.f_add(&pos)?;
        if let Some(reg) = &self.register_tokens {
            // Dinov2WithRegisters: registers are inserted after CLS, after the position embedding.
            let cls = x.f_narrow(1, 0, 1)?;
            let rest = x.f_narrow(1, 1, layout.num_patches() as i64)?;
            x = Tensor::f_cat(&[&cls, reg, &rest], 1)?;
        }
        let mut attentions = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            let (y, attn) = self.block_forward(block, &x)?;
            x = y;
            attentions.push(attn);
        }
        let last = self.final_norm.forward(&x)?.f_squeeze_dim(0)?;
        if let Device::Cuda(i) = self.device {
            tch::Cuda::synchronize(i as i64);
        }
        let forward_ms = start.elapsed().as_secs_f64() * 1e3;
        Ok(Capture {
            attentions,
            last_hidden_state: last,
            layout,
            input_hw: (h, w),
            forward_ms,
        })
    }

    fn block_forward(&self, b: &Block, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let n = x.size()[1];
        let heads = self.config.num_attention_heads as i64;
        let hd = self.config.head_dim() as i64;
        let h = b.norm1.forward(x)?;
        let split = |t: Tensor| -> Result<Tensor> {
            Ok(t.f_view([1, n, heads, hd])?.f_permute([0, 2, 1, 3])?)
        };
        let q = split(b.query.forward(&h)?)?;
        let k = split(b.key.forward(&h)?)?;
        let v = split(b.value.forward(&h)?)?;
        let scores = q
            .f_matmul(&k.f_transpose(-1, -2)?)?
            .f_mul_scalar(1.0 / (hd as f64).sqrt())?;
        let attn = scores.f_softmax(-1, Kind::Float)?; // [1, heads, N, N]
        let ctx = attn
            .f_matmul(&v)?
            .f_permute([0, 2, 1, 3])?
            .f_contiguous()?
            .f_view([1, n, heads * hd])?;
        let mut a = b.output.forward(&ctx)?;
        if let Some(ls) = &b.layer_scale1 {
            a = a.f_mul(ls)?;
        }
        let x = x.f_add(&a)?;
        let mut m = b
            .fc2
            .forward(&b.fc1.forward(&b.norm2.forward(&x)?)?.f_gelu("none")?)?;
        if let Some(ls) = &b.layer_scale2 {
            m = m.f_mul(ls)?;
        }
        Ok((x.f_add(&m)?, attn.f_squeeze_dim(0)?))
    }
}
