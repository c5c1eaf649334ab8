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
//! `O(L·N²)` instead of `O(L·N³)`. [`rollout`] reads each layer in blocks of rows (fusion, discard and the
//! renormalisation are all row-wise, so `vᵀÂ = Σ_blocks v_Bᵀ Â_B`) and never builds an `N × N` matrix. With
//! mean fusion and no discard, the rows of `(1 − α)·F + α·I` already sum to 1 (softmax rows do), so there
//! `vᵀÂ = (1 − α)·mean_h(vᵀA_h) + α·vᵀ`: one batched vector × matrix product per block.
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use super::source::{AttentionSource, block_rows};
use crate::grid::Grid;
use crate::model::TokenLayout;

type Result<T> = std::result::Result<T, super::AnalysisError>;

/// How heads are fused into one matrix per layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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
            return Err(super::AnalysisError::Invalid(format!(
                "layer range {}..={end} is not within the model's {layers} layers (0-based, start ≤ end)",
                self.start_layer
            )));
        }
        if !(0.0..=1.0).contains(&self.residual) {
            return Err(super::AnalysisError::Invalid(format!(
                "residual weight {} must be in [0, 1]",
                self.residual
            )));
        }
        if !(0.0..1.0).contains(&self.discard_ratio) {
            return Err(super::AnalysisError::Invalid(format!(
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
            return Err(super::AnalysisError::Invalid(format!(
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
        return Err(super::AnalysisError::Invalid(format!(
            "query token {query} out of range (the model has {n} tokens)"
        )));
    }
    Ok(())
}

/// Row `query` of `M_last ··· M_first` for matrices given in forward order: `[N]`.
pub fn product_row(mats: &[Tensor], query: usize) -> Result<Tensor> {
    let first = mats
        .first()
        .ok_or_else(|| super::AnalysisError::Invalid("no layers to roll out".into()))?;
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
pub fn rollout<S: AttentionSource + ?Sized>(
    attention: &S,
    layout: &TokenLayout,
    query: usize,
    o: &RolloutOptions,
) -> Result<TokenMap> {
    let _guard = tch::no_grad_guard();
    let n = attention.tokens() as i64;
    check_query(query, n as usize)?;
    let v = Tensor::f_zeros([n], (Kind::Float, attention.device()))?;
    let _ = v.f_narrow(0, query as i64, 1)?.f_fill_(1.0)?;
    rollout_from(attention, layout, v, o)
}

/// Rollout of a query that is not a token of the sequence, given its attention over the final tokens `[N]`
/// (the attention-pooling probe of SigLIP: its head-mean row): `row × Ã_end ⋯ Ã_start`.
pub fn rollout_from<S: AttentionSource + ?Sized>(
    attention: &S,
    layout: &TokenLayout,
    start: Tensor,
    o: &RolloutOptions,
) -> Result<TokenMap> {
    let _guard = tch::no_grad_guard();
    let range = o.range(attention.layers())?;
    let (heads, n) = (attention.heads() as i64, attention.tokens() as i64);
    if start.size() != [n] {
        return Err(super::AnalysisError::Invalid(format!(
            "a start row of shape {:?} for {n} tokens",
            start.size()
        )));
    }
    let block = block_rows(heads as usize, n as usize);
    let alpha = o.residual;
    let mean_no_discard = o.fusion == HeadFusion::Mean && o.discard_ratio == 0.0;
    let mut v = start
        .f_to_device(attention.device())?
        .f_to_kind(Kind::Float)?;
    // Only the blocks where v is non-zero contribute (in the end layer, just the query's block).
    let nonzero = |v: &Tensor| -> Result<Vec<bool>> {
        let nz = Vec::<bool>::try_from(v.f_ne(0.0)?.f_to_device(Device::Cpu)?.f_view([-1])?)?;
        Ok(nz
            .chunks(block as usize)
            .map(|c| c.iter().any(|&x| x))
            .collect())
    };
    let mut live = nonzero(&v)?;
    for l in range.rev() {
        let mut next = Tensor::f_zeros([n], (Kind::Float, attention.device()))?;
        for (b, start) in (0..n).step_by(block as usize).enumerate() {
            if !live[b] {
                continue;
            }
            let len = block.min(n - start);
            let vb = v.f_narrow(0, start, len)?;
            let a = attention.rows(l, start, len)?; // [H, len, N]
            let moved = if mean_no_discard {
                vb.f_view([1, 1, len])?
                    .f_expand([heads, 1, len], false)?
                    .f_bmm(&a)?
                    .f_mean_dim(0, false, None)?
                    .f_view([n])?
                    .f_mul_scalar(1.0 - alpha)?
            } else {
                let mut f = fuse_heads(&a, o.fusion)?; // [len, N]
                let k = ((o.discard_ratio * n as f64).floor() as i64).min(n - 1);
                if k > 0 {
                    let (_, idx) = f.f_topk(k, -1, false, false)?;
                    f = f.f_scatter_value(-1, &idx, 0.0)?;
                }
                let f = f.f_mul_scalar(1.0 - alpha)?;
                let _ = f
                    .f_narrow(1, start, len)?
                    .f_diagonal(0, 0, 1)?
                    .f_add_scalar_(alpha)?;
                let sums = f.f_sum_dim_intlist(-1, true, None)?.f_clamp_min(1e-30)?;
                let f = f.f_div(&sums)?;
                vb.f_unsqueeze(0)?.f_matmul(&f)?.f_view([n])?
            };
            next = next.f_add(&moved)?;
            if mean_no_discard {
                let _ = next
                    .f_narrow(0, start, len)?
                    .f_add_(&vb.f_mul_scalar(alpha)?)?;
            }
        }
        v = next;
        live = nonzero(&v)?;
    }
    TokenMap::from_tensor(&v, layout)
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
    fn rollout_from_a_row_is_linear_in_the_row_and_a_one_hot_row_is_the_token() {
        // The probe's rollout (SigLIP) = its attention row times the encoder's rollout: a one-hot row gives the
        // token's own rollout, and a mix of rows gives the same mix of rollouts.
        tch::manual_seed(9);
        let opts = (Kind::Float, Device::Cpu);
        let (layers, heads, n) = (3i64, 2i64, 13i64);
        let attn: Vec<Tensor> = (0..layers)
            .map(|_| Tensor::randn([heads, n, n], opts).softmax(-1, Kind::Float))
            .collect();
        let l = layout(12);
        let o = RolloutOptions {
            discard_ratio: 0.2,
            ..Default::default()
        };
        let one = |q: usize| rollout(&attn[..], &l, q, &o).unwrap().values;
        let hot = |q: i64| {
            let v = Tensor::zeros([n], opts);
            let _ = v.get(q).fill_(1.0);
            v
        };
        assert_eq!(
            rollout_from(&attn[..], &l, hot(4), &o).unwrap().values,
            one(4)
        );
        let mixed = rollout_from(&attn[..], &l, hot(2) * 0.25 + hot(7) * 0.75, &o)
            .unwrap()
            .values;
        for ((m, a), b) in mixed.iter().zip(one(2)).zip(one(7)) {
            assert!((m - (0.25 * a + 0.75 * b)).abs() < 1e-6);
        }
        assert!(rollout_from(&attn[..], &l, Tensor::zeros([n - 1], opts), &o).is_err());
    }

    #[test]
    fn blockwise_rollout_equals_the_matrix_product_on_every_store() {
        // 3,000 tokens and 2 heads: several blocks of rows per layer.
        tch::manual_seed(5);
        let (layers, heads, n) = (2, 2, 3000);
        assert!(crate::analysis::source::block_rows(heads, n) < n as i64 / 2);
        let opts = (Kind::Float, Device::Cpu);
        let qk = crate::model::QueryKeys {
            queries: (0..layers)
                .map(|_| Tensor::randn([heads as i64, n as i64, 16], opts))
                .collect(),
            keys: (0..layers)
                .map(|_| Tensor::randn([heads as i64, n as i64, 16], opts))
                .collect(),
            biases: Vec::new(),
            key_mask: None,
        };
        let full: Vec<Tensor> = (0..layers)
            .map(|l| {
                qk.queries[l]
                    .matmul(&qk.keys[l].transpose(-1, -2))
                    .softmax(-1, Kind::Float)
            })
            .collect();
        let lay = TokenLayout {
            prefix: vec![crate::model::PrefixToken::Cls],
            grid_h: 1,
            grid_w: n - 1,
            patch_size: 16,
        };
        let variants = [
            RolloutOptions::default(),
            RolloutOptions {
                fusion: HeadFusion::Max,
                residual: 0.3,
                discard_ratio: 0.9,
                ..Default::default()
            },
        ];
        for (o, q) in variants.iter().zip([0, 2345]) {
            let want =
                to_vec_f32(&product_row(&transitions(&full, o).unwrap(), q).unwrap()).unwrap();
            for got in [
                rollout(&full, &lay, q, o).unwrap(),
                rollout(&qk, &lay, q, o).unwrap(),
            ] {
                let d = got
                    .values
                    .iter()
                    .zip(&want)
                    .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                let top = want.iter().fold(0f32, |m, v| m.max(*v));
                assert!(d <= 1e-5 * top.max(1.0), "{o:?}: {d:e}");
            }
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
