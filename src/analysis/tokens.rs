//! Per-token views: DINO head masks, token norms with high-norm outliers, attention mass on prefix tokens.
//!
//! **DINO head masks** (Caron et al. 2021): for each head, the query's attention over the patch tokens
//! (prefix keys dropped, the row renormalised over the patches) is sorted in decreasing order, and the mask
//! is the smallest set of patches whose mass reaches τ (0.6 by default).
//!
//! **Token norms** (Darcet et al. 2023, "Vision Transformers need registers"): `‖x_l[i]‖₂` of every token
//! after every block. A patch token is flagged as a high-norm outlier in layer l when its norm exceeds both
//! `median + 6 · 1.4826 · MAD` and `2 × median` of that layer's patch norms (a robust z-score above 6, and
//! at least twice the typical norm). Prefix tokens are never flagged: registers are meant to be different.
//!
//! **Prefix mass**: per layer, the attention the patch queries give each prefix token, averaged over
//! heads and over patch queries.
use serde::Serialize;
use tch::{Kind, Tensor};

use super::rollout::{check_query, to_vec_f32};
use super::source::{AttentionSource, block_rows};
use crate::grid::Grid;
use crate::model::TokenLayout;

type Result<T> = std::result::Result<T, super::AnalysisError>;

/// One mask per head, over the patch grid.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadMasks {
    pub grid_h: usize,
    pub grid_w: usize,
    /// Per head: `grid_h·grid_w` flags.
    pub masks: Vec<Vec<bool>>,
    /// Per head: the attention mass the mask holds (≥ τ).
    pub mass: Vec<f32>,
}

impl HeadMasks {
    pub fn grid(&self, head: usize) -> Grid {
        Grid {
            h: self.grid_h,
            w: self.grid_w,
            data: self.masks[head].iter().map(|m| *m as u8 as f32).collect(),
        }
    }
}

/// The smallest set of entries of `row` (non-negative) whose share of the row's total reaches `tau`:
/// entries taken in decreasing order. Returns the set as flags and the share it holds.
pub fn smallest_set_holding(row: &[f32], tau: f64) -> (Vec<bool>, f32) {
    let total: f64 = row.iter().map(|v| *v as f64).sum();
    let mut order: Vec<usize> = (0..row.len()).collect();
    order.sort_by(|a, b| row[*b].total_cmp(&row[*a]));
    let mut mask = vec![false; row.len()];
    let mut acc = 0.0;
    for &i in &order {
        mask[i] = true;
        acc += row[i] as f64 / total.max(1e-30);
        if acc >= tau {
            break;
        }
    }
    (mask, acc.min(1.0) as f32)
}

/// DINO head masks of `query` in one layer's attention `[H, N, N]`.
pub fn dino_masks(
    attention: &Tensor,
    layout: &TokenLayout,
    query: usize,
    tau: f64,
) -> Result<HeadMasks> {
    let _guard = tch::no_grad_guard();
    if !(tau > 0.0 && tau <= 1.0) {
        return Err(super::AnalysisError::Invalid(format!(
            "τ = {tau} must be in (0, 1]"
        )));
    }
    let n = layout.num_tokens();
    check_query(query, n)?;
    let np = layout.num_patches();
    let rows =
        attention
            .f_select(1, query as i64)?
            .f_narrow(1, layout.num_prefix() as i64, np as i64)?;
    let heads = rows.size()[0] as usize;
    let data = to_vec_f32(&rows)?;
    let mut masks = Vec::with_capacity(heads);
    let mut mass = Vec::with_capacity(heads);
    for h in 0..heads {
        let (mask, kept) = smallest_set_holding(&data[h * np..(h + 1) * np], tau);
        masks.push(mask);
        mass.push(kept);
    }
    Ok(HeadMasks {
        grid_h: layout.grid_h,
        grid_w: layout.grid_w,
        masks,
        mass,
    })
}

/// Token norms per layer, with outliers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenNorms {
    pub layers: usize,
    pub tokens: usize,
    #[serde(skip)]
    pub layout: TokenLayout,
    /// `[layers, tokens]`, row-major.
    pub norms: Vec<f32>,
    /// Flagged `(layer, token)` pairs.
    pub outliers: Vec<(usize, usize)>,
}

impl TokenNorms {
    pub fn layer(&self, l: usize) -> &[f32] {
        &self.norms[l * self.tokens..(l + 1) * self.tokens]
    }
    /// The patch-token norms of layer `l` as a grid.
    pub fn patch_grid(&self, l: usize) -> Grid {
        Grid {
            h: self.layout.grid_h,
            w: self.layout.grid_w,
            data: self.layer(l)[self.layout.num_prefix()..].to_vec(),
        }
    }
    /// The outlier patches of layer `l` as a 0/1 grid.
    pub fn outlier_grid(&self, l: usize) -> Grid {
        let mut g = Grid {
            h: self.layout.grid_h,
            w: self.layout.grid_w,
            data: vec![0.0; self.layout.num_patches()],
        };
        for (_, t) in self.outliers.iter().filter(|(ll, _)| *ll == l) {
            g.data[t - self.layout.num_prefix()] = 1.0;
        }
        g
    }
}

fn median(v: &mut [f32]) -> f32 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Norms of every token after every block (`hidden_states`, each `[N, D]`).
pub fn token_norms(hidden_states: &[Tensor], layout: &TokenLayout) -> Result<TokenNorms> {
    let _guard = tch::no_grad_guard();
    if hidden_states.is_empty() {
        return Err(super::AnalysisError::Invalid(
            "no block outputs on one token grid were kept (a Swin's stages each have their own grid)".into(),
        ));
    }
    let tokens = layout.num_tokens();
    let mut norms = Vec::with_capacity(hidden_states.len() * tokens);
    let mut outliers = Vec::new();
    for (l, x) in hidden_states.iter().enumerate() {
        let n = to_vec_f32(&x.f_to_kind(Kind::Float)?.f_norm_scalaropt_dim(
            2.0,
            [1i64].as_slice(),
            false,
        )?)?;
        if n.len() != tokens {
            return Err(super::AnalysisError::Invalid(format!(
                "layer {l} has {} tokens, the layout {tokens}",
                n.len()
            )));
        }
        let p = layout.num_prefix();
        let mut patch = n[p..].to_vec();
        let med = median(&mut patch);
        let mut dev: Vec<f32> = patch.iter().map(|v| (v - med).abs()).collect();
        let mad = median(&mut dev);
        let limit = (med + 6.0 * 1.4826 * mad).max(2.0 * med);
        outliers.extend((p..tokens).filter(|t| n[*t] > limit).map(|t| (l, t)));
        norms.extend(n);
    }
    Ok(TokenNorms {
        layers: hidden_states.len(),
        tokens,
        layout: layout.clone(),
        norms,
        outliers,
    })
}

/// Per layer, the attention mass patch queries give each prefix token (mean over heads and patch queries):
/// `[layers][prefix tokens]`.
pub fn prefix_mass<S: AttentionSource + ?Sized>(
    attention: &S,
    layout: &TokenLayout,
) -> Result<Vec<Vec<f32>>> {
    let _guard = tch::no_grad_guard();
    let p = layout.num_prefix() as i64;
    let npatch = layout.num_patches() as i64;
    let block = block_rows(attention.heads(), layout.num_tokens());
    (0..attention.layers())
        .map(|l| {
            if p == 0 {
                return Ok(Vec::new());
            }
            let mut sum = Tensor::f_zeros([p], (Kind::Double, attention.device()))?;
            for start in (0..npatch).step_by(block as usize) {
                let len = block.min(npatch - start);
                let to_prefix = attention.rows(l, p + start, len)?.f_narrow(2, 0, p)?;
                sum = sum.f_add(&to_prefix.f_sum_dim_intlist(
                    [0i64, 1].as_slice(),
                    false,
                    Some(Kind::Double),
                )?)?;
            }
            let heads = attention.heads() as f64;
            to_vec_f32(&sum.f_div_scalar(heads * npatch as f64)?)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn layout() -> TokenLayout {
        TokenLayout {
            prefix: vec![crate::model::PrefixToken::Cls],
            grid_h: 2,
            grid_w: 3,
            patch_size: 8,
        }
    }

    #[test]
    fn dino_mask_is_the_smallest_set_reaching_tau() {
        // CLS row: prefix 0.5, patches 0.25, 0.1, 0.05, 0.05, 0.03, 0.02 → renormalised 0.5, 0.2, 0.1, …
        let mut a = vec![0f32; 49];
        let row = [0.5, 0.25, 0.1, 0.05, 0.05, 0.03, 0.02];
        a[..7].copy_from_slice(&row);
        let t = Tensor::from_slice(&a).reshape([1, 7, 7]);
        let m = dino_masks(&t, &layout(), 0, 0.6).unwrap();
        assert_eq!(m.masks[0], vec![true, true, false, false, false, false]);
        assert!((m.mass[0] - 0.7).abs() < 1e-6);
        let m = dino_masks(&t, &layout(), 0, 0.45).unwrap();
        assert_eq!(m.masks[0], vec![true, false, false, false, false, false]);
    }

    #[test]
    fn a_high_norm_patch_is_flagged_and_cls_is_not() {
        let x = Tensor::ones([7, 4], (Kind::Float, Device::Cpu));
        let _ = x.get(0).fill_(50.0);
        let _ = x.get(4).fill_(20.0);
        let _ = x.get(2).fill_(1.1);
        let n = token_norms(&[x.shallow_clone(), x * 1.0], &layout()).unwrap();
        assert_eq!(n.outliers, vec![(0, 4), (1, 4)]);
        assert!((n.layer(0)[4] - 40.0).abs() < 1e-4);
        assert_eq!(n.outlier_grid(1).data, vec![0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
    }
}
