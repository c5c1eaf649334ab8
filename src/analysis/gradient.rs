//! Gradient-weighted methods. Both need `∂y/∂A_l` for a scalar target `y` ([`crate::model::GradTarget`]),
//! from [`crate::model::Vit::forward_with_gradients`]; gradients are paired with the layer they belong to
//! (forward order; hooks that fire during the backward pass list them in reverse, a classic bug).
//!
//! **Relevance** (Chefer, Gur & Wolf, ICCV 2021, the generic rule for self-attention):
//! ```text
//! R = I;  per layer l (forward order):  Ā_l = mean_h[(∇A_l ⊙ A_l)⁺];  R ← R + Ā_l·R
//! ```
//! so `R = (I + Ā_L)···(I + Ā_1)`; the map for query q is row q of R. Row q is computed as vector × matrix
//! products from the last layer down.
//!
//! **Gradient rollout** (the method of jacobgil/vit-explain, with rows normalised along the right axis and
//! gradients in the right layer order):
//! ```text
//! F_l = max(mean_h(∇A_l ⊙ A_l), 0)   (the mean over heads first, then negatives to zero)
//! Â_l = rownorm((1 − α)·discard(F_l, r) + α·I)     R = Â_L ··· Â_1
//! ```
//! with the same residual α, discard ratio r and layer range as [`super::rollout`].
use tch::{Kind, Tensor};

use super::rollout::{RolloutOptions, TokenMap, product_row, transition};
use crate::model::TokenLayout;

type Result<T> = std::result::Result<T, super::AnalysisError>;

fn check(attentions: &[Tensor], grads: &[Tensor]) -> Result<()> {
    if attentions.len() != grads.len() || attentions.is_empty() {
        return Err(super::AnalysisError::Invalid(format!(
            "{} attention maps but {} gradients",
            attentions.len(),
            grads.len()
        )));
    }
    Ok(())
}

/// Chefer et al.'s relevance of every token for `query` (see the module docs).
pub fn relevance(
    attentions: &[Tensor],
    grads: &[Tensor],
    layout: &TokenLayout,
    query: usize,
) -> Result<TokenMap> {
    let _guard = tch::no_grad_guard();
    check(attentions, grads)?;
    let mats = attentions
        .iter()
        .zip(grads)
        .map(|(a, g)| {
            let fused = g
                .f_mul(a)?
                .f_to_kind(Kind::Float)?
                .f_clamp_min(0.0)?
                .f_mean_dim(0, false, None)?;
            let n = fused.size()[0];
            Ok(fused.f_add(&Tensor::f_eye(n, (Kind::Float, fused.device()))?)?)
        })
        .collect::<Result<Vec<_>>>()?;
    TokenMap::from_tensor(&product_row(&mats, query)?, layout)
}

/// Gradient rollout for `query` (see the module docs); `o.fusion` is not used (heads are averaged).
pub fn grad_rollout(
    attentions: &[Tensor],
    grads: &[Tensor],
    layout: &TokenLayout,
    query: usize,
    o: &RolloutOptions,
) -> Result<TokenMap> {
    let _guard = tch::no_grad_guard();
    check(attentions, grads)?;
    let mats = o
        .range(attentions.len())?
        .map(|l| {
            let fused = grads[l]
                .f_mul(&attentions[l])?
                .f_to_kind(Kind::Float)?
                .f_mean_dim(0, false, None)?
                .f_clamp_min(0.0)?;
            transition(&fused, o.residual, o.discard_ratio)
        })
        .collect::<Result<Vec<_>>>()?;
    TokenMap::from_tensor(&product_row(&mats, query)?, layout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn zero_gradients_give_identity_relevance() {
        let layout = TokenLayout {
            prefix: vec![crate::model::PrefixToken::Cls],
            grid_h: 2,
            grid_w: 2,
            patch_size: 14,
        };
        let a = Tensor::rand([2, 5, 5], (Kind::Float, Device::Cpu)).softmax(-1, Kind::Float);
        let g = a.zeros_like();
        let r = relevance(&[a.shallow_clone()], &[g.shallow_clone()], &layout, 0).unwrap();
        assert_eq!(r.values, vec![1.0, 0.0, 0.0, 0.0, 0.0]);
        let gr = grad_rollout(&[a], &[g], &layout, 3, &RolloutOptions::default()).unwrap();
        assert_eq!(gr.values, vec![0.0, 0.0, 0.0, 1.0, 0.0]);
    }
}
