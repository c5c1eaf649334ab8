//! Attention rollout (Abnar & Zuidema 2020) and the per-layer transition matrices it shares with attention
//! flow and gradient rollout.
//!
//! For layer `l` with attention `A_l` `[H, N, N]` (rows are queries):
//! ```text
//! F_l = fuse_h(A_l)                 mean, max or min over heads
//! F_l ← discard(F_l, r)             in each row, the ⌊r·N⌋ smallest entries are set to 0 (r < 1, so the
//!                                   largest entry of every row is always kept; nothing else is spared)
//! Â_l = rownorm((1 − α)·F_l + α·I)  residual weight α (0.5 by default), rows renormalised to sum 1
//! R   = Â_end ··· Â_start           the map for query q is row q of R, over the patch tokens
//! ```
//! Row `q` of `R` is `e_qᵀ Â_end ··· Â_start`, computed as vector × matrix products from the end layer down:
//! `O(L·N²)` instead of `O(L·N³)`.
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::grid::Grid;
use crate::model::{ModelError, TokenLayout};

type Result<T> = std::result::Result<T, ModelError>;

/// How heads are fused into one matrix per layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
pub enum HeadFusion {
    #[default]
    Mean,
    Max,
    Min,
}

impl HeadFusion {
    pub fn label(&self) -> &'static str {
        match self {
            HeadFusion::Mean => "mean",
            HeadFusion::Max => "max",
            HeadFusion::Min => "min",
        }
    }
}

/// Options shared by rollout, flow and gradient rollout.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RolloutOptions {
    pub fusion: HeadFusion,
    /// α: weight of the identity (the residual connection), in [0, 1].
    pub residual: f64,
    /// r: fraction of each row's smallest entries set to 0 before the residual, in [0, 1).
    pub discard_ratio: f64,
    /// First layer (0-based) of the product.
    pub start_layer: usize,
    /// Last layer (0-based, inclusive); `None` is the model's last layer.
    pub end_layer: Option<usize>,
}

impl Default for RolloutOptions {
    fn default() -> Self {
        RolloutOptions {
            fusion: HeadFusion::Mean,
            residual: 0.5,
            discard_ratio: 0.0,
            start_layer: 0,
            end_layer: None,
        }
    }
}

impl RolloutOptions {
    /// The inclusive layer range for a model with `layers` layers, checked.
    pub fn range(&self, layers: usize) -> Result<std::ops::RangeInclusive<usize>> {
        let end = self.end_layer.unwrap_or(layers.saturating_sub(1));
        if layers == 0 || end >= layers || self.start_layer > end {
            return Err(ModelError::Invalid(format!(
                "layer range {}..={end} is not within the model's {layers} layers (0-based, start ≤ end)",
                self.start_layer
            )));
        }
        if !(0.0..=1.0).contains(&self.residual) {
            return Err(ModelError::Invalid(format!(
                "residual weight {} must be in [0, 1]",
                self.residual
            )));
        }
        if !(0.0..1.0).contains(&self.discard_ratio) {
            return Err(ModelError::Invalid(format!(
                "discard ratio {} must be in [0, 1)",
                self.discard_ratio
            )));
        }
        Ok(self.start_layer..=end)
    }

    /// A one-line statement of what was computed, for file metadata and the UI.
    pub fn describe(&self, layers: usize) -> String {
        let end = self.end_layer.unwrap_or(layers.saturating_sub(1));
        format!(
            "heads fused by {}, discard {} of each row's smallest entries, residual alpha = {}, rows renormalised, layers {}..={end}",
            self.fusion.label(),
            self.discard_ratio,
            self.residual,
            self.start_layer
        )
    }
}

/// One value per token of a layout (a rollout/flow/relevance row, a norm per token): patches as a grid,
/// prefix tokens apart.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenMap {
    pub layout: TokenLayout,
    pub values: Vec<f32>,
}

impl TokenMap {
    pub fn from_tensor(t: &Tensor, layout: &TokenLayout) -> Result<TokenMap> {
        let values = to_vec_f32(t)?;
        if values.len() != layout.num_tokens() {
            return Err(ModelError::Invalid(format!(
                "{} values for {} tokens",
                values.len(),
                layout.num_tokens()
            )));
        }
        Ok(TokenMap {
            layout: layout.clone(),
            values,
        })
    }
    /// The patch tokens as a `grid_h × grid_w` grid.
    pub fn patch_grid(&self) -> Grid {
        let p = self.layout.num_prefix();
        Grid {
            h: self.layout.grid_h,
            w: self.layout.grid_w,
            data: self.values[p..].to_vec(),
        }
    }
    /// The values of the prefix tokens, labelled (`CLS`, `REG0`, …).
    pub fn prefix(&self) -> Vec<(String, f32)> {
        self.layout
            .prefix
            .iter()
            .zip(&self.values)
            .map(|(t, v)| (t.label(), *v))
            .collect()
    }
}

/// A tensor's values as a CPU `Vec<f32>` (flattened).
pub fn to_vec_f32(t: &Tensor) -> Result<Vec<f32>> {
    Ok(Vec::<f32>::try_from(
        t.f_to_device(Device::Cpu)?
            .f_to_kind(Kind::Float)?
            .f_contiguous()?
            .f_flatten(0, -1)?,
    )?)
}

/// Fuse the heads of `A` `[H, N, N]` into `[N, N]` (f32).
pub fn fuse_heads(attn: &Tensor, fusion: HeadFusion) -> Result<Tensor> {
    let a = attn.f_to_kind(Kind::Float)?;
    Ok(match fusion {
        HeadFusion::Mean => a.f_mean_dim(0, false, None)?,
        HeadFusion::Max => a.f_amax(0, false)?,
        HeadFusion::Min => a.f_amin(0, false)?,
    })
}

/// `Â = rownorm((1 − α)·discard(F, r) + α·I)` from a fused matrix `F` `[N, N]` (see the module docs).
pub fn transition(fused: &Tensor, residual: f64, discard_ratio: f64) -> Result<Tensor> {
    let n = fused.size()[0];
    let mut f = fused.f_to_kind(Kind::Float)?;
    let k = ((discard_ratio * n as f64).floor() as i64).min(n - 1);
    if k > 0 {
        let (_, idx) = f.f_topk(k, -1, false, false)?;
        f = f.f_scatter_value(-1, &idx, 0.0)?;
    }
    let eye = Tensor::f_eye(n, (Kind::Float, f.device()))?;
    let a = f
        .f_mul_scalar(1.0 - residual)?
        .f_add(&eye.f_mul_scalar(residual)?)?;
    let sums = a.f_sum_dim_intlist(-1, true, None)?.f_clamp_min(1e-30)?;
    Ok(a.f_div(&sums)?)
}

/// The rollout transitions `Â_l` for the layers of `o`, in forward order.
pub fn transitions(attentions: &[Tensor], o: &RolloutOptions) -> Result<Vec<Tensor>> {
    o.range(attentions.len())?
        .map(|l| {
            transition(
                &fuse_heads(&attentions[l], o.fusion)?,
                o.residual,
                o.discard_ratio,
            )
        })
        .collect()
}

/// An error unless `query` is one of `n` tokens.
pub fn check_query(query: usize, n: usize) -> Result<()> {
    if query >= n {
        return Err(ModelError::Invalid(format!(
            "query token {query} out of range (the model has {n} tokens)"
        )));
    }
    Ok(())
}

/// Row `query` of `M_last ··· M_first` for matrices given in forward order: `[N]`.
pub fn product_row(mats: &[Tensor], query: usize) -> Result<Tensor> {
    let first = mats
        .first()
        .ok_or_else(|| ModelError::Invalid("no layers to roll out".into()))?;
    let n = first.size()[0];
    check_query(query, n as usize)?;
    let mut v = Tensor::f_zeros([1, n], (Kind::Float, first.device()))?;
    let _ = v.f_narrow(1, query as i64, 1)?.f_fill_(1.0)?;
    for m in mats.iter().rev() {
        v = v.f_matmul(m)?;
    }
    Ok(v.f_squeeze_dim(0)?)
}

/// Attention rollout from `query`: one value per token (see the module docs).
pub fn rollout(
    attentions: &[Tensor],
    layout: &TokenLayout,
    query: usize,
    o: &RolloutOptions,
) -> Result<TokenMap> {
    let _guard = tch::no_grad_guard();
    TokenMap::from_tensor(&product_row(&transitions(attentions, o)?, query)?, layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(n_patches: usize) -> TokenLayout {
        TokenLayout {
            prefix: vec![crate::model::PrefixToken::Cls],
            grid_h: 1,
            grid_w: n_patches,
            patch_size: 16,
        }
    }

    #[test]
    fn identity_attention_rolls_out_to_identity() {
        let eye = Tensor::eye(5, (Kind::Float, Device::Cpu))
            .unsqueeze(0)
            .repeat([3, 1, 1]);
        let attn = vec![eye.shallow_clone(), eye.shallow_clone(), eye];
        for q in 0..5 {
            let m = rollout(&attn, &layout(4), q, &RolloutOptions::default()).unwrap();
            let want: Vec<f32> = (0..5).map(|i| (i == q) as u8 as f32).collect();
            assert_eq!(m.values, want);
        }
    }

    #[test]
    fn transitions_are_row_stochastic_and_discard_keeps_the_row_maximum() {
        tch::manual_seed(3);
        let attn = Tensor::rand([4, 7, 7], (Kind::Float, Device::Cpu)).softmax(-1, Kind::Float);
        for fusion in [HeadFusion::Mean, HeadFusion::Max, HeadFusion::Min] {
            let f = fuse_heads(&attn, fusion).unwrap();
            let t = transition(&f, 0.0, 0.9).unwrap();
            let sums = Vec::<f32>::try_from(t.sum_dim_intlist(-1, false, None)).unwrap();
            assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-6), "{sums:?}");
            // 0.9·7 = 6 entries dropped per row: exactly the row maximum survives.
            let nonzero =
                Vec::<i64>::try_from(t.gt(0.0).sum_dim_intlist(-1, false, Kind::Int64)).unwrap();
            assert_eq!(nonzero, vec![1; 7]);
            let kept = t.argmax(-1, false);
            assert!(kept.equal(&f.argmax(-1, false)));
        }
    }

    #[test]
    fn bad_ranges_are_refused() {
        let o = RolloutOptions {
            start_layer: 2,
            end_layer: Some(1),
            ..Default::default()
        };
        assert!(o.range(4).is_err());
        let o = RolloutOptions {
            end_layer: Some(4),
            ..Default::default()
        };
        assert!(o.range(4).is_err());
        let o = RolloutOptions {
            discard_ratio: 1.0,
            ..Default::default()
        };
        assert!(o.range(4).is_err());
    }
}
