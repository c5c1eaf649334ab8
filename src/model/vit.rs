//! The ViT forward pass with explicit attention, one implementation for every family (timm's
//! `VisionTransformer`, Hugging Face ViT/DeiT/DINOv2/CLIP), on the canonical tensors of [`super::naming`]:
//!
//! ```text
//! tokens = [CLS; DIST; registers; patch_embed(pixels)]; the first `pos_prefix` prefix tokens and the patches
//!          get the (interpolated) position embedding          (timm VisionTransformer._pos_embed, HF *Embeddings)
//! x = norm_pre(tokens)                                                      (CLIP only)
//! per block:  A = softmax(Q Kᵀ / √d_head) (f32);  x = x + ls1 ⊙ proj(A V)   with Q, K, V from norm1(x)
//!             x = x + ls2 ⊙ fc2(act(fc1(norm2(x))))                          (SwiGLU: fc2(silu(a) ⊙ b))
//! out = norm(x);  pooled = fc_norm(pool(out));  logits = head(pooled);  embeds = image_proj · pooled
//! ```
//! Position embeddings trained for a `gh × gw` grid are resized to the input grid with PyTorch's own bicubic
//! kernel (`align_corners = False`, a = −0.75), with antialiasing where the family's code asks for it (timm,
//! Dinov2WithRegisters) and without where it does not (HF ViT, DeiT, DINOv2, CLIP); they are left untouched
//! when the grids agree. Every op uses tch's fallible `f_*` form, so an out-of-memory or shape error comes back
//! as an error.

use std::time::Instant;

use tch::{Device, Kind, Tensor};

use super::checkpoint::Checkpoint;
use super::config::{Activation, Pool, VitConfig};
use super::device::Precision;
use super::error::{ModelError, Result};
use super::intervention::{Ablation, Intervention};
use super::layout::TokenLayout;
use super::store::{AttentionStore, Kept, QueryKeys, TableBias, attend};
use super::swin::SwinWeights;

mod capture;
mod heads;
mod position;

pub use capture::{Capture, GradTarget};

/// What an intervention changes inside one block.
struct BlockEdits<'a> {
    /// Heads whose output is replaced.
    ablate: Vec<i64>,
    ablation: Ablation,
    /// `−∞` on the dropped tokens' keys `[1, 1, 1, N]`.
    key_mask: Option<&'a Tensor>,
}

struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.f_linear(&self.weight, self.bias.as_ref())?)
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

/// One transformer block (canonical `blocks.N`).
struct Block {
    norm1: LayerNorm,
    qkv: Linear,
    /// EVA's LayerNorm on the attention output before the projection.
    attn_norm: Option<LayerNorm>,
    /// BEiT's relative position bias table `[R, heads]` of this block.
    rel_table: Option<Tensor>,
    proj: Linear,
    ls1: Option<Tensor>,
    norm2: LayerNorm,
    fc1: Linear,
    /// EVA-02's LayerNorm inside the MLP, before fc2.
    mlp_norm: Option<LayerNorm>,
    fc2: Linear,
    ls2: Option<Tensor>,
}

/// The attention-pooling head (canonical `attn_pool.*`, timm's `AttentionPoolLatent` names).
struct MapHead {
    latent: Tensor,
    q: Linear,
    kv: Linear,
    proj: Linear,
    norm: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

/// Validated canonical tensors (f32, CPU), handed out on the model's device in its precision.
struct Weights {
    tensors: std::collections::HashMap<String, Tensor>,
    device: Device,
    kind: Kind,
    eps: f64,
    family: &'static str,
}

impl Weights {
    fn take(&self, name: &str) -> Result<Option<Tensor>> {
        match self.tensors.get(name) {
            Some(t) => Ok(Some(t.f_to_device(self.device)?.f_to_kind(self.kind)?)),
            None => Ok(None),
        }
    }
    fn need(&self, name: &str) -> Result<Tensor> {
        self.take(name)?.ok_or_else(|| ModelError::Mismatch {
            family: self.family.into(),
            report: format!("missing {name}"),
        })
    }
    fn linear(&self, p: &str) -> Result<Linear> {
        Ok(Linear {
            weight: self.need(&format!("{p}.weight"))?,
            bias: self.take(&format!("{p}.bias"))?,
        })
    }
    fn norm(&self, p: &str) -> Result<LayerNorm> {
        Ok(LayerNorm {
            weight: self.need(&format!("{p}.weight"))?,
            bias: self.need(&format!("{p}.bias"))?,
            eps: self.eps,
        })
    }
}

/// A ViT ready to run: validated weights on one device, in one precision.
pub struct Vit {
    pub config: VitConfig,
    pub device: Device,
    pub precision: Precision,
    cls_token: Option<Tensor>,
    dist_token: Option<Tensor>,
    reg_token: Option<Tensor>,
    pos_embed: Option<Tensor>,
    /// The attention-pooling head (`Pool::Map`).
    map_head: Option<MapHead>,
    /// A Swin's weights (stages, windows); `None` for a plain ViT.
    swin: Option<SwinWeights>,
    /// BEiT's relative position bias table shared by every block.
    shared_rel_table: Option<Tensor>,
    patch_weight: Tensor,
    patch_bias: Option<Tensor>,
    norm_pre: Option<LayerNorm>,
    blocks: Vec<Block>,
    norm: Option<LayerNorm>,
    fc_norm: Option<LayerNorm>,
    head: Option<Linear>,
    head_dist: Option<Linear>,
    image_proj: Option<Tensor>,
    /// Parameters used for inference (tensors the file holds but inference ignores are not counted).
    pub num_parameters: usize,
    /// What the file holds that inference does not use, summarised.
    pub ignored: Vec<String>,
}

impl Vit {
    /// Build from a checkpoint on `device`, in f32.
    pub fn from_checkpoint(ckpt: &Checkpoint, device: Device) -> Result<Vit> {
        Self::load(ckpt, device, Precision::F32)
    }

    /// Build from a checkpoint on `device` in `precision`; every tensor is validated once, by
    /// [`Checkpoint::canonical_tensors`].
    pub fn load(ckpt: &Checkpoint, device: Device, precision: Precision) -> Result<Vit> {
        let config = ckpt.unvalidated_config()?;
        let w = Weights {
            tensors: ckpt.canonical_tensors(&config)?,
            device,
            kind: precision.kind(),
            eps: config.layer_norm_eps,
            family: config.family.name(),
        };
        let num_parameters = w.tensors.values().map(|t| t.numel()).sum();
        let optional_linear = |p: &str| -> Result<Option<Linear>> {
            if w.tensors.contains_key(&format!("{p}.weight")) {
                w.linear(p).map(Some)
            } else {
                Ok(None)
            }
        };
        let optional_norm = |p: &str, present: bool| -> Result<Option<LayerNorm>> {
            if present {
                w.norm(p).map(Some)
            } else {
                Ok(None)
            }
        };
        // A Swin keeps its own weights; the blocks below are the plain ViT's.
        let swin = match &config.swin {
            Some(_) => Some(SwinWeights::new(
                w.tensors
                    .keys()
                    .map(|k| Ok((k.clone(), w.need(k)?)))
                    .collect::<Result<_>>()?,
            )),
            None => None,
        };
        let plain_layers = if swin.is_some() {
            0
        } else {
            config.num_hidden_layers
        };
        let blocks = (0..plain_layers)
            .map(|i| {
                let p = format!("blocks.{i}");
                Ok(Block {
                    norm1: w.norm(&format!("{p}.norm1"))?,
                    qkv: w.linear(&format!("{p}.attn.qkv"))?,
                    attn_norm: optional_norm(&format!("{p}.attn.norm"), config.attn_norm)?,
                    rel_table: w.take(&format!("{p}.attn.relative_position_bias_table"))?,
                    proj: w.linear(&format!("{p}.attn.proj"))?,
                    ls1: w.take(&format!("{p}.ls1.gamma"))?,
                    norm2: w.norm(&format!("{p}.norm2"))?,
                    fc1: w.linear(&format!("{p}.mlp.fc1"))?,
                    mlp_norm: optional_norm(&format!("{p}.mlp.norm"), config.mlp_norm)?,
                    fc2: w.linear(&format!("{p}.mlp.fc2"))?,
                    ls2: w.take(&format!("{p}.ls2.gamma"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Vit {
            cls_token: w.take("cls_token")?,
            dist_token: w.take("dist_token")?,
            reg_token: w.take("reg_token")?,
            shared_rel_table: w.take("rel_pos_bias.relative_position_bias_table")?,
            map_head: if config.pool == Pool::Map {
                let p = "attn_pool";
                Some(MapHead {
                    latent: w.need(&format!("{p}.latent"))?,
                    q: w.linear(&format!("{p}.q"))?,
                    kv: w.linear(&format!("{p}.kv"))?,
                    proj: w.linear(&format!("{p}.proj"))?,
                    norm: w.norm(&format!("{p}.norm"))?,
                    fc1: w.linear(&format!("{p}.mlp.fc1"))?,
                    fc2: w.linear(&format!("{p}.mlp.fc2"))?,
                })
            } else {
                None
            },
            pos_embed: if config.abs_pos {
                Some(w.need("pos_embed")?)
            } else {
                None
            },
            patch_weight: w.need("patch_embed.proj.weight")?,
            patch_bias: w.take("patch_embed.proj.bias")?,
            image_proj: w.take("image_proj.weight")?,
            norm_pre: optional_norm("norm_pre", config.pre_norm)?,
            // Swin applies its final norm itself.
            norm: optional_norm("norm", config.final_norm && swin.is_none())?,
            swin,
            fc_norm: optional_norm("fc_norm", config.pool_norm)?,
            head: optional_linear("head")?,
            head_dist: optional_linear("head_dist")?,
            blocks,
            num_parameters,
            ignored: ckpt.ignored(&config),
            config,
            device,
            precision,
        })
    }

    /// The patch projection's filters `[D, 3, P, P]` (in the model's precision).
    pub fn patch_embedding_weight(&self) -> &Tensor {
        &self.patch_weight
    }

    /// Run the model on `pixels` `[1, 3, H, W]` (normalised, H and W multiples of the patch size) and
    /// capture every layer's attention.
    pub fn forward(&self, pixels: &Tensor) -> Result<Capture> {
        self.forward_stored(pixels, AttentionStore::F32)
    }

    /// [`Vit::forward`], keeping the attention as `store` says (see [`AttentionStore`]).
    pub fn forward_stored(&self, pixels: &Tensor, store: AttentionStore) -> Result<Capture> {
        self.forward_intervened(pixels, store, &Intervention::default())
    }

    /// [`Vit::forward_stored`] under an intervention (occluded patches, ablated heads, dropped tokens: see
    /// [`Intervention`]).
    pub fn forward_intervened(
        &self,
        pixels: &Tensor,
        store: AttentionStore,
        iv: &Intervention,
    ) -> Result<Capture> {
        let _guard = tch::no_grad_guard();
        Ok(self.run(pixels, Some(store), std::slice::from_ref(iv))?.0)
    }

    /// Run the model with autograd on, evaluate `target` on the outputs and return the capture with
    /// `∂target/∂A_l` for every layer (`[heads, N, N]`, f32), and the target's value. The gradients are
    /// total derivatives: every path from `A_l` to the target counts, through later layers' attention too.
    pub fn forward_with_gradients(
        &self,
        pixels: &Tensor,
        target: &GradTarget,
        iv: &Intervention,
    ) -> Result<(Capture, Vec<Tensor>, f64)> {
        tch::with_grad(|| self.gradients_inner(pixels, target, iv))
    }

    fn gradients_inner(
        &self,
        pixels: &Tensor,
        target: &GradTarget,
        iv: &Intervention,
    ) -> Result<(Capture, Vec<Tensor>, f64)> {
        // Something upstream must require grad for autograd to record the graph; the pixels are cheapest.
        let x = pixels
            .f_to_device(self.device)?
            .f_detach()?
            .f_to_kind(Kind::Float)?
            .set_requires_grad(true);
        let (capture, raw) = self.run(&x, None, std::slice::from_ref(iv))?;
        let y = target.evaluate(&capture)?;
        let value = y.f_double_value(&[])?;
        let grads = Tensor::f_run_backward(&[&y], &raw, false, false)?
            .into_iter()
            .map(|g| g.f_squeeze_dim(0))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let detach = |t: &Tensor| t.f_detach();
        let capture = Capture {
            attentions: capture
                .attentions
                .iter()
                .map(detach)
                .collect::<std::result::Result<_, _>>()?,
            query_keys: None,
            last_hidden_state: capture.last_hidden_state.f_detach()?,
            hidden_states: capture
                .hidden_states
                .iter()
                .map(detach)
                .collect::<std::result::Result<_, _>>()?,
            pooled: capture.pooled.f_detach()?,
            logits: capture.logits.as_ref().map(detach).transpose()?,
            image_embeds: capture.image_embeds.as_ref().map(detach).transpose()?,
            pool_attention: capture.pool_attention.as_ref().map(detach).transpose()?,
            window_attentions: Vec::new(),
            windows: Vec::new(),
            stage_hidden: Vec::new(),
            windowed: None,
            ..capture
        };
        Ok((capture, grads, value))
    }

    /// The scores of one image under several interventions that differ only in their occluded patches, in
    /// batches of `batch` forward passes: per intervention, the pooled feature `[D]` and the logits `[C]`
    /// (f32). The fused attention keeps no matrices. Each result equals [`Vit::forward_intervened`]'s for the
    /// same intervention up to the order of floating-point sums.
    pub fn scores(
        &self,
        pixels: &Tensor,
        ivs: &[Intervention],
        batch: usize,
    ) -> Result<Vec<(Tensor, Option<Tensor>)>> {
        let _guard = tch::no_grad_guard();
        let mut out = Vec::with_capacity(ivs.len());
        if self.swin.is_some() {
            for iv in ivs {
                let c = self
                    .run(
                        pixels,
                        Some(AttentionStore::QueryKeys),
                        std::slice::from_ref(iv),
                    )?
                    .0;
                out.push((c.pooled, c.logits));
            }
            return Ok(out);
        }
        for chunk in ivs.chunks(batch.max(1)) {
            let c = self.run(pixels, Some(AttentionStore::QueryKeys), chunk)?.0;
            if chunk.len() == 1 {
                out.push((c.pooled, c.logits));
                continue;
            }
            for i in 0..chunk.len() as i64 {
                out.push((
                    c.pooled.f_get(i)?,
                    c.logits.as_ref().map(|l| l.f_get(i)).transpose()?,
                ));
            }
        }
        Ok(out)
    }

    /// The forward pass; also returns each layer's attention `[1, heads, N, N]` as the graph uses it.
    /// `store` is `None` under autograd; otherwise no graph is recorded and the attention is kept as it says.
    ///
    /// `ivs` holds one intervention per image of the batch (the same `pixels` `[1, 3, H, W]` for all); they
    /// must agree on everything but the occluded patches. With one, the capture is the image's; with more,
    /// only `pooled` `[B, D]` and `logits` `[B, C]` are per image (the rest is the batch's, not to be read).
    fn run(
        &self,
        pixels: &Tensor,
        store: Option<AttentionStore>,
        ivs: &[Intervention],
    ) -> Result<(Capture, Vec<Tensor>)> {
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
        let Some(iv) = ivs.first() else {
            return Err(ModelError::Invalid("no intervention to run".into()));
        };
        let same = |a: &Intervention| {
            a.ablated == iv.ablated
                && a.ablation == iv.ablation
                && a.dropped == iv.dropped
                && a.fill == iv.fill
        };
        if !ivs.iter().all(same) {
            return Err(ModelError::Invalid(
                "a batch's interventions may differ only in their occluded patches".into(),
            ));
        }
        let (h, w) = (size[2] as usize, size[3] as usize);
        let layout = self.config.layout_for(h, w);
        let start = Instant::now();
        let x = pixels
            .f_to_device(self.device)?
            .f_to_kind(self.precision.kind())?;
        let c = &self.config;
        // occlusion works on the input's patch grid (for a Swin, its stem's)
        let grid_patches = (h / c.patch_size) * (w / c.patch_size);
        for iv in ivs {
            iv.check(
                c.num_hidden_layers,
                c.num_attention_heads,
                layout.num_tokens(),
                grid_patches,
            )?;
        }
        let x = if ivs.len() == 1 {
            iv.occlude(&x, self.config.patch_size, c.image_mean, c.image_std)?
        } else {
            let each = ivs
                .iter()
                .map(|iv| iv.occlude(&x, self.config.patch_size, c.image_mean, c.image_std))
                .collect::<Result<Vec<_>>>()?;
            Tensor::f_cat(&each, 0)?
        };
        if let (Some(sw), Some(arch)) = (&self.swin, &self.config.swin) {
            if !iv.ablated.is_empty() || !iv.dropped.is_empty() || iv.removes() || ivs.len() > 1 {
                return Err(ModelError::Invalid(
                    "ablating heads, dropping tokens and removing patches from the sequence are defined on one \
                     attention over all tokens; a Swin attends inside windows (occluding patches with a pixel \
                     fill works)"
                        .into(),
                ));
            }
            if store.is_none() {
                return Err(ModelError::Invalid(
                    "gradient methods need one attention matrix over all tokens per layer; a Swin attends inside \
                     windows, so they are not defined for it"
                        .into(),
                ));
            }
            let run = super::swin::forward(sw, arch, self.config.layer_norm_eps, &x, p)?;
            let (pooled, logits, image_embeds, pool_attention) =
                self.heads(&run.tokens, &layout)?;
            if let Device::Cuda(i) = self.device {
                tch::Cuda::synchronize(i as i64);
            }
            let forward_ms = start.elapsed().as_secs_f64() * 1e3;
            let f32 = |t: Tensor| t.f_to_kind(Kind::Float);
            let capture = Capture {
                attentions: Vec::new(),
                query_keys: None,
                last_hidden_state: f32(run.tokens)?,
                hidden_states: Vec::new(),
                pooled: f32(pooled)?,
                logits: logits.map(f32).transpose()?,
                image_embeds: image_embeds.map(f32).transpose()?,
                pool_attention,
                key_mask: None,
                pool_weights: None,
                windowed: Some(crate::analysis::source::Windowed {
                    layers: run.attentions.len(),
                    tokens: layout.num_tokens(),
                }),
                window_attentions: run.attentions,
                windows: run.windows,
                stage_hidden: run.hidden,
                layout,
                input_hw: (h, w),
                forward_ms,
            };
            return Ok((capture, Vec::new()));
        }
        let patches = x
            .f_conv2d(
                &self.patch_weight,
                self.patch_bias.as_ref(),
                [p, p],
                [0, 0],
                [1, 1],
                1,
            )?
            .f_flatten(2, 3)?
            .f_transpose(1, 2)?; // [1, gh·gw, D]
        let mut x = self.embed(patches, &layout)?;
        let (key_mask, pool_weights) = self.batch_masks(ivs, &layout)?;
        if let Some(n) = &self.norm_pre {
            x = n.forward(&x)?;
        }
        let rope = self.rope_tables(layout.grid_h, layout.grid_w)?;
        let n_prefix = layout.num_prefix() as i64;
        let rel_index = self.rel_pos_index(layout.grid_h, layout.grid_w)?;
        let bias_of = |table: Option<&Tensor>| -> Result<Option<TableBias>> {
            match (table, &rel_index) {
                (Some(t), Some(index)) => Ok(Some(self.rel_pos_bias(
                    t,
                    index,
                    layout.grid_h,
                    layout.grid_w,
                )?)),
                _ => Ok(None),
            }
        };
        let shared_bias = bias_of(self.shared_rel_table.as_ref())?;
        let mut biases = Vec::new();
        let mut raw = Vec::with_capacity(self.blocks.len());
        let mut hidden_states = Vec::with_capacity(self.blocks.len());
        let (mut queries, mut keys) = (Vec::new(), Vec::new());
        for (l, block) in self.blocks.iter().enumerate() {
            let bias = match &shared_bias {
                Some(b) => Some(b.shallow_clone()),
                None => bias_of(block.rel_table.as_ref())?,
            };
            let edits = BlockEdits {
                ablate: iv.heads_of(l),
                ablation: iv.ablation,
                key_mask: key_mask.as_ref(),
            };
            let (y, kept) = self.block_forward(
                block,
                &x,
                store,
                rope.as_ref(),
                bias.as_ref(),
                n_prefix,
                &edits,
            )?;
            biases.push(bias);
            x = y;
            hidden_states.push(x.f_squeeze_dim(0)?);
            match kept {
                Kept::Matrix(attn) => raw.push(attn),
                Kept::QueryKeys(q, k) => {
                    queries.push(q);
                    keys.push(k);
                }
            }
        }
        let query_keys = (store == Some(AttentionStore::QueryKeys)).then_some(QueryKeys {
            queries,
            keys,
            biases,
            key_mask: key_mask.as_ref().map(Tensor::shallow_clone),
        });
        let attentions = raw
            .iter()
            .map(|a| a.f_squeeze_dim(0))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        if let Some(n) = &self.norm {
            x = n.forward(&x)?;
        }
        let tokens = x.f_squeeze_dim(0)?;
        let (pooled, logits, image_embeds, pool_attention) = if ivs.len() == 1 {
            self.heads_masked(&tokens, &layout, key_mask.as_ref(), pool_weights.as_ref())?
        } else {
            // the heads are cheap: one image at a time, then stacked
            let mut parts = (Vec::new(), Vec::new());
            for i in 0..ivs.len() as i64 {
                let (pooled, logits, _, _) = self.heads_masked(
                    &tokens.f_get(i)?,
                    &layout,
                    key_mask
                        .as_ref()
                        .map(|m| m.f_narrow(0, i, 1))
                        .transpose()?
                        .as_ref(),
                    pool_weights
                        .as_ref()
                        .map(|m| m.f_get(i))
                        .transpose()?
                        .as_ref(),
                )?;
                parts.0.push(pooled);
                parts.1.extend(logits);
            }
            let logits = if parts.1.is_empty() {
                None
            } else {
                Some(Tensor::f_stack(&parts.1, 0)?)
            };
            (Tensor::f_stack(&parts.0, 0)?, logits, None, None)
        };
        let key_mask = key_mask.filter(|_| ivs.len() == 1);
        let pool_weights = pool_weights.filter(|_| ivs.len() == 1);
        if let Device::Cuda(i) = self.device {
            tch::Cuda::synchronize(i as i64);
        }
        let forward_ms = start.elapsed().as_secs_f64() * 1e3;
        let f32 = |t: Tensor| t.f_to_kind(Kind::Float);
        let capture = Capture {
            attentions,
            query_keys,
            last_hidden_state: f32(tokens)?,
            hidden_states,
            pooled: f32(pooled)?,
            logits: logits.map(f32).transpose()?,
            image_embeds: image_embeds.map(f32).transpose()?,
            pool_attention,
            window_attentions: Vec::new(),
            windows: Vec::new(),
            stage_hidden: Vec::new(),
            windowed: None,
            key_mask,
            pool_weights,
            layout,
            input_hw: (h, w),
            forward_ms,
        };
        Ok((capture, raw))
    }

    /// Prefix tokens, patch tokens and position embeddings, in the order and combination of the family
    /// (see the module docs): `[B, N, D]` for patches `[B, P, D]`.
    fn embed(&self, patches: Tensor, layout: &TokenLayout) -> Result<Tensor> {
        let prefix: Vec<&Tensor> = [&self.cls_token, &self.dist_token, &self.reg_token]
            .into_iter()
            .flatten()
            .collect();
        let batch = patches.size()[0];
        let prefix = if prefix.is_empty() {
            None
        } else {
            let d = patches.size()[2];
            let k = prefix.iter().map(|t| t.size()[1]).sum::<i64>();
            Some(Tensor::f_cat(&prefix, 1)?.f_expand([batch, k, d], false)?)
        };
        if !self.config.abs_pos {
            return Ok(match prefix {
                Some(prefix) => Tensor::f_cat(&[prefix, patches], 1)?,
                None => patches,
            });
        }
        let pos = self.position_embeddings_for(layout.grid_h, layout.grid_w)?;
        let k = self.config.pos_prefix as i64;
        let n_prefix = layout.num_prefix() as i64;
        let patches = patches.f_add(&pos.f_narrow(1, k, layout.num_patches() as i64)?)?;
        let Some(prefix) = prefix else {
            return Ok(patches);
        };
        let with_pos = prefix.f_narrow(1, 0, k)?.f_add(&pos.f_narrow(1, 0, k)?)?;
        let without = prefix.f_narrow(1, k, n_prefix - k)?;
        Ok(Tensor::f_cat(&[with_pos, without, patches], 1)?)
    }

    fn block_forward(
        &self,
        b: &Block,
        x: &Tensor,
        store: Option<AttentionStore>,
        rope: Option<&(Tensor, Tensor)>,
        bias: Option<&TableBias>,
        n_prefix: i64,
        edits: &BlockEdits,
    ) -> Result<(Tensor, Kept)> {
        let (batch, n) = (x.size()[0], x.size()[1]);
        let heads = self.config.num_attention_heads as i64;
        let hd = self.config.head_dim() as i64;
        let qkv = b
            .qkv
            .forward(&b.norm1.forward(x)?)?
            .f_view([batch, n, 3, heads, hd])?
            .f_permute([2, 0, 3, 1, 4])?; // [3, 1, heads, N, hd]
        let (mut q, mut k, v) = (qkv.f_get(0)?, qkv.f_get(1)?, qkv.f_get(2)?);
        if let Some((cos, sin)) = rope {
            q = self.apply_rope(&q, n_prefix, cos, sin)?;
            k = self.apply_rope(&k, n_prefix, cos, sin)?;
        }
        // Q is scaled before the product (as timm does): N·d multiplications instead of N².
        let q = q.f_mul_scalar(1.0 / (hd as f64).sqrt())?;
        let (ctx, kept) = attend(&q, &k, &v, bias, edits.key_mask, store)?;
        let ctx = super::intervention::ablate(&ctx, &edits.ablate, edits.ablation)?;
        let mut ctx =
            ctx.f_permute([0, 2, 1, 3])?
                .f_contiguous()?
                .f_view([batch, n, heads * hd])?;
        if let Some(norm) = &b.attn_norm {
            ctx = norm.forward(&ctx)?;
        }
        let mut a = b.proj.forward(&ctx)?;
        if let Some(ls) = &b.ls1 {
            a = a.f_mul(ls)?;
        }
        let x = x.f_add(&a)?;
        let hidden = b.fc1.forward(&b.norm2.forward(&x)?)?;
        let hidden = self.activate(&hidden)?;
        let hidden = match &b.mlp_norm {
            Some(norm) => norm.forward(&hidden)?,
            None => hidden,
        };
        let mut m = b.fc2.forward(&hidden)?;
        if let Some(ls) = &b.ls2 {
            m = m.f_mul(ls)?;
        }
        Ok((x.f_add(&m)?, kept))
    }

    /// The logit lens: every layer's output tokens (`capture.hidden_states`) through the final norm, the
    /// pooling and the head, as if the network ended there. Per layer, the pooled feature `[D]` and, for a
    /// model with a classifier, the logits `[C]` (f32). The last layer's are the model's own outputs.
    pub fn logit_lens(&self, capture: &Capture) -> Result<Vec<(Tensor, Option<Tensor>)>> {
        let _guard = tch::no_grad_guard();
        if capture.windowed.is_some() {
            return Err(ModelError::Invalid(
                "the logit lens reads every block's tokens through the final norm and head; a Swin's earlier \
                 stages have other widths and grids, so it is not defined for it"
                    .into(),
            ));
        }
        capture
            .hidden_states
            .iter()
            .map(|h| {
                let mut x = h.f_to_kind(self.precision.kind())?;
                if let Some(n) = &self.norm {
                    x = n.forward(&x)?;
                }
                let (pooled, logits, _, _) = self.heads_masked(
                    &x,
                    &capture.layout,
                    capture.key_mask.as_ref(),
                    capture.pool_weights.as_ref(),
                )?;
                let f32 = |t: Tensor| t.f_to_kind(Kind::Float);
                Ok((f32(pooled)?, logits.map(f32).transpose()?))
            })
            .collect()
    }

    /// The MLP's non-linearity on `hidden` (the last axis: SwiGLU halves it).
    fn activate(&self, hidden: &Tensor) -> Result<Tensor> {
        Ok(match self.config.activation {
            Activation::Gelu => hidden.f_gelu("none")?,
            Activation::GeluTanh => hidden.f_gelu("tanh")?,
            Activation::QuickGelu => hidden.f_mul(&hidden.f_mul_scalar(1.702)?.f_sigmoid()?)?,
            Activation::SwiGlu => {
                let half = hidden.size().last().copied().unwrap_or(0) / 2;
                hidden
                    .f_narrow(-1, 0, half)?
                    .f_silu()?
                    .f_mul(&hidden.f_narrow(-1, half, half)?)?
            }
        })
    }
}
