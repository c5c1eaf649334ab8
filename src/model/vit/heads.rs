//! The end of a [`Vit`]: the pooling (CLS, patch mean, the attention-pooling probe), the classifier and the
//! projection, and the masks an intervention's dropped or removed tokens give them (and every layer's keys).
use tch::{Kind, Tensor};

use super::{MapHead, Vit};
use crate::model::config::Pool;
use crate::model::error::{ModelError, Result};
use crate::model::intervention::Intervention;
use crate::model::layout::TokenLayout;

impl Vit {
    /// The batch's key masks `[B, 1, 1, N]` and patch-pool weights `[B, P]` (see [`Intervention::key_mask`],
    /// [`Intervention::pool_weights`]), `None` where no image of the batch needs one.
    pub(super) fn batch_masks(
        &self,
        ivs: &[Intervention],
        layout: &TokenLayout,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (n, np, p) = (
            layout.num_tokens(),
            layout.num_prefix(),
            layout.num_patches(),
        );
        let masks = ivs
            .iter()
            .map(|iv| iv.key_mask(n, np, self.device))
            .collect::<Result<Vec<_>>>()?;
        let weights = ivs
            .iter()
            .map(|iv| iv.pool_weights(p, self.device))
            .collect::<Result<Vec<_>>>()?;
        // per image its own, or what changes nothing (no key masked, every patch weighed 1); none at all
        // when no image of the batch needs one
        let stack =
            |each: Vec<Option<Tensor>>, shape: &[i64], neutral: f64| -> Result<Option<Tensor>> {
                if each.iter().all(Option::is_none) {
                    return Ok(None);
                }
                let each = each
                    .into_iter()
                    .map(|m| match m {
                        Some(m) => Ok(m.f_view(shape)?),
                        None => Ok(Tensor::f_full(shape, neutral, (Kind::Float, self.device))?),
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(Some(Tensor::f_cat(&each, 0)?))
            };
        Ok((
            stack(masks, &[1, 1, 1, n as i64], 0.0)?,
            stack(weights, &[1, p as i64], 1.0)?,
        ))
    }

    /// The attention-pooling head on the final tokens `[N, D]`: the pooled feature `[D]` and the probe's
    /// attention over the tokens `[heads, N]` (f32).
    fn map_pool(
        &self,
        head: &MapHead,
        tokens: &Tensor,
        key_mask: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        let (n, d) = (tokens.size()[0], tokens.size()[1]);
        let heads = self.config.pool_heads as i64;
        let hd = d / heads;
        let q = head
            .q
            .forward(&head.latent.f_reshape([1, d])?)?
            .f_reshape([1, heads, hd])?
            .f_transpose(0, 1)?
            .f_mul_scalar(1.0 / (hd as f64).sqrt())?; // [heads, 1, hd]
        let kv = head
            .kv
            .forward(tokens)?
            .f_reshape([n, 2, heads, hd])?
            .f_permute([1, 2, 0, 3])?; // [2, heads, N, hd]
        let (k, v) = (kv.f_get(0)?, kv.f_get(1)?);
        let mut scores = q.f_matmul(&k.f_transpose(-1, -2)?)?;
        if let Some(m) = key_mask {
            scores = scores.f_add(&m.f_squeeze_dim(0)?.f_to_kind(scores.kind())?)?;
        }
        let attn = scores.f_softmax(-1, Kind::Float)?; // [heads, 1, N]
        let ctx = attn
            .f_to_kind(v.kind())?
            .f_matmul(&v)?
            .f_transpose(0, 1)?
            .f_reshape([1, d])?;
        let h = head.proj.forward(&ctx)?;
        let m = head
            .fc2
            .forward(&self.activate(&head.fc1.forward(&head.norm.forward(&h)?)?)?)?;
        Ok((h.f_add(&m)?.f_reshape([d])?, attn.f_squeeze_dim(1)?))
    }

    /// Pooled feature, logits, projected embedding and the probe's attention from the final tokens `[N, D]`.
    pub(super) fn heads(
        &self,
        tokens: &Tensor,
        layout: &TokenLayout,
    ) -> Result<(Tensor, Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        self.heads_masked(tokens, layout, None, None)
    }

    /// [`Vit::heads`], the attention-pooling probe not attending to the dropped tokens of `key_mask`
    /// (`[1, 1, 1, N]`), a mean over patches weighting them by `pool_weights` (`[P]`, 0 on removed patches).
    pub(super) fn heads_masked(
        &self,
        tokens: &Tensor,
        layout: &TokenLayout,
        key_mask: Option<&Tensor>,
        pool_weights: Option<&Tensor>,
    ) -> Result<(Tensor, Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let np = layout.num_prefix() as i64;
        let patch_mean = || -> Result<Tensor> {
            let patches = tokens.f_narrow(0, np, layout.num_patches() as i64)?;
            Ok(match pool_weights {
                None => patches.f_mean_dim(0, false, None)?,
                Some(w) => {
                    let w = w.f_to_kind(patches.kind())?.f_reshape([-1, 1])?;
                    patches
                        .f_mul(&w)?
                        .f_sum_dim_intlist(0, false, None)?
                        .f_div(&w.f_sum(None)?)?
                }
            })
        };
        let token = |i: i64| tokens.f_get(i);
        let mut pool_attention = None;
        let mut pooled = match self.config.pool {
            Pool::Map => {
                let head = self.map_head.as_ref().ok_or_else(|| {
                    ModelError::Invalid("attention pooling without its head".into())
                })?;
                let (pooled, attn) = self.map_pool(head, tokens, key_mask)?;
                pool_attention = Some(attn);
                pooled
            }
            Pool::Cls => token(0)?,
            Pool::Avg => patch_mean()?,
            Pool::ClsDist => token(0)?.f_add(&token(1)?)?.f_div_scalar(2.0)?,
            Pool::ClsAndAvg => Tensor::f_cat(&[token(0)?, patch_mean()?], 0)?,
        };
        if let Some(n) = &self.fc_norm {
            pooled = n.forward(&pooled)?;
        }
        let logits = match (&self.head, &self.head_dist) {
            // DeiT at inference: the mean of the class head on CLS and the distillation head on DIST.
            (Some(h), Some(hd)) => Some(
                h.forward(&token(0)?)?
                    .f_add(&hd.forward(&token(1)?)?)?
                    .f_div_scalar(2.0)?,
            ),
            (Some(h), None) => Some(h.forward(&pooled)?),
            _ => None,
        };
        let embeds = match &self.image_proj {
            Some(w) => Some(pooled.f_linear::<&Tensor>(w, None)?),
            None => None,
        };
        Ok((pooled, logits, embeds, pool_attention))
    }
}
