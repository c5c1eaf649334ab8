//! Interventions: changes to the input or to the model that test what an attention map claims, each applied
//! inside the real forward pass.
//!
//! - **Occlude patches**: the pixels of chosen patches (row-major on the input grid) are replaced before the
//!   patch embedding by a [`Fill`]: the model's mean colour (0 after normalisation, so the patch embeds to its
//!   bias), black, or a Gaussian blur of the image (σ = half a patch, 3σ kernel, reflect padding); or the
//!   patches are **removed from the token sequence** ([`Fill::Remove`]). Removal is computed exactly as the
//!   shorter sequence would be: the removed tokens are taken out of every layer's keys and out of the
//!   pooling, and nothing else mixes tokens in a plain ViT (norms and MLPs act per token; learned, RoPE and
//!   relative positions stay with the tokens that keep them). Their own rows are still computed and shown,
//!   but nothing reads them. Every family but Swin allows it (a Swin's windows and patch merging need the
//!   full grid).
//! - **Ablate heads**: a head's output (its attention-weighted values, before the heads are concatenated and
//!   projected) is set to zero or to its mean over the image's tokens ([`Ablation`]).
//! - **Drop tokens**: tokens removed from the keys of every layer and of the attention-pooling head (a
//!   `−∞` added to their scores before the softmax), so no token attends to them; they still attend
//!   themselves and flow through the residual stream.
//!
//! [`Intervention::describe`] names all of it in one line: every export made under an intervention carries it.
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::{ModelError, Result};

/// What occluded pixels become.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Fill {
    /// The model's normalisation mean (0 after normalisation): the "grey" the model was trained around.
    #[default]
    Mean,
    /// Black pixels (`(0 − mean) / std` after normalisation).
    Zero,
    /// A Gaussian blur of the image (σ = half a patch).
    Blur,
    /// Not a fill: the patches' tokens are removed from the sequence (not for a Swin).
    Remove,
}

impl Fill {
    pub const ALL: [Fill; 4] = [Fill::Mean, Fill::Zero, Fill::Blur, Fill::Remove];

    pub fn name(self) -> &'static str {
        match self {
            Fill::Mean => "mean",
            Fill::Zero => "zero",
            Fill::Blur => "blur",
            Fill::Remove => "remove",
        }
    }

    /// What the fill does, in a few words (menus and help).
    pub fn explain(self) -> &'static str {
        match self {
            Fill::Mean => "the model's mean colour (0 after normalisation)",
            Fill::Zero => "black pixels",
            Fill::Blur => "a Gaussian blur of the image (σ = half a patch)",
            Fill::Remove => {
                "removed from the token sequence (every family but Swin: its windows need the full grid)"
            }
        }
    }

    pub fn parse(s: &str) -> std::result::Result<Fill, String> {
        Fill::ALL
            .into_iter()
            .find(|f| f.name() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| format!("unknown fill {s:?}: use mean, zero, blur or remove"))
    }
}

/// What an ablated head's output becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Ablation {
    #[default]
    Zero,
    /// The head's output averaged over the image's tokens (every token gets the same vector).
    Mean,
}

impl Ablation {
    pub fn name(self) -> &'static str {
        match self {
            Ablation::Zero => "zero",
            Ablation::Mean => "mean",
        }
    }

    pub fn parse(s: &str) -> std::result::Result<Ablation, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "zero" => Ok(Ablation::Zero),
            "mean" => Ok(Ablation::Mean),
            _ => Err(format!("unknown ablation {s:?}: use zero or mean")),
        }
    }
}

/// A set of interventions; the default is none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Intervention {
    /// Occluded patches, row-major on the input's patch grid.
    pub occluded: BTreeSet<usize>,
    pub fill: Fill,
    /// Ablated heads as (layer, head).
    pub ablated: BTreeSet<(usize, usize)>,
    pub ablation: Ablation,
    /// Tokens (indices in the sequence: prefix tokens first) removed from every layer's keys.
    pub dropped: BTreeSet<usize>,
}

impl Intervention {
    pub fn is_none(&self) -> bool {
        self.occluded.is_empty() && self.ablated.is_empty() && self.dropped.is_empty()
    }

    /// One line naming every change, for captions and PNG text chunks (`none` when there is none).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.occluded.is_empty() && self.fill == Fill::Remove {
            parts.push(format!(
                "removed {} patch{} ({}) from the token sequence",
                self.occluded.len(),
                if self.occluded.len() == 1 { "" } else { "es" },
                compact(self.occluded.iter().copied()),
            ));
        } else if !self.occluded.is_empty() {
            parts.push(format!(
                "occluded {} patch{} ({}) filled with {}",
                self.occluded.len(),
                if self.occluded.len() == 1 { "" } else { "es" },
                compact(self.occluded.iter().copied()),
                self.fill.name()
            ));
        }
        if !self.ablated.is_empty() {
            let heads: Vec<String> = self
                .ablated
                .iter()
                .map(|(l, h)| format!("L{l}h{h}"))
                .collect();
            parts.push(format!(
                "ablated heads {} (output set to {})",
                heads.join(","),
                match self.ablation {
                    Ablation::Zero => "zero",
                    Ablation::Mean => "its mean over tokens",
                }
            ));
        }
        if !self.dropped.is_empty() {
            parts.push(format!(
                "dropped tokens {} from every layer's keys",
                compact(self.dropped.iter().copied())
            ));
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join("; ")
        }
    }

    /// Check the intervention against a model of `layers` × `heads` and an input of `tokens` tokens
    /// (`patches` of them patches), naming the first thing that does not exist.
    pub fn check(&self, layers: usize, heads: usize, tokens: usize, patches: usize) -> Result<()> {
        if let Some(p) = self.occluded.iter().find(|&&p| p >= patches) {
            return Err(ModelError::Invalid(format!(
                "occluded patch {p} does not exist (the input has {patches} patches)"
            )));
        }
        if let Some((l, h)) = self
            .ablated
            .iter()
            .find(|(l, h)| *l >= layers || *h >= heads)
        {
            return Err(ModelError::Invalid(format!(
                "head L{l}h{h} does not exist (the model has {layers} layers of {heads} heads)"
            )));
        }
        if let Some(t) = self.dropped.iter().find(|&&t| t >= tokens) {
            return Err(ModelError::Invalid(format!(
                "dropped token {t} does not exist (the input has {tokens} tokens)"
            )));
        }
        let prefix = tokens.saturating_sub(patches);
        if self.masked_keys(prefix).len() >= tokens {
            return Err(ModelError::Invalid(
                "every token would be dropped or removed: nothing would be left to attend to"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Whether the occluded patches are removed from the sequence (rather than filled in the pixels).
    pub fn removes(&self) -> bool {
        self.fill == Fill::Remove && !self.occluded.is_empty()
    }

    /// Every token no key may see: the dropped ones and, when removing, the occluded patches' tokens (after
    /// `prefix` prefix tokens). Sorted, without repeats.
    fn masked_keys(&self, prefix: usize) -> BTreeSet<usize> {
        let mut keys = self.dropped.clone();
        if self.fill == Fill::Remove {
            keys.extend(self.occluded.iter().map(|p| p + prefix));
        }
        keys
    }

    /// The parts that fit a model of `layers` × `heads` and an input of `tokens` tokens (`patches` of them
    /// patches); a windowed model (Swin) keeps only occlusion.
    pub fn fitted(
        &self,
        layers: usize,
        heads: usize,
        tokens: usize,
        patches: usize,
        windowed: bool,
    ) -> Intervention {
        let mut out = Intervention {
            occluded: self
                .occluded
                .iter()
                .copied()
                .filter(|&p| p < patches)
                .collect(),
            ablated: self
                .ablated
                .iter()
                .copied()
                .filter(|&(l, h)| l < layers && h < heads && !windowed)
                .collect(),
            dropped: self
                .dropped
                .iter()
                .copied()
                .filter(|&t| t < tokens && !windowed)
                .collect(),
            ..self.clone()
        };
        if windowed && out.fill == Fill::Remove {
            out.occluded.clear();
        }
        if out.masked_keys(tokens.saturating_sub(patches)).len() >= tokens {
            out.dropped.clear();
            if out.fill == Fill::Remove {
                out.occluded.clear();
            }
        }
        out
    }

    /// The heads of `layer` to ablate.
    pub(super) fn heads_of(&self, layer: usize) -> Vec<i64> {
        self.ablated
            .iter()
            .filter(|(l, _)| *l == layer)
            .map(|(_, h)| *h as i64)
            .collect()
    }

    /// Occlude the normalised pixels `[B, 3, H, W]` (patch `p`, normalisation `mean`/`std`).
    pub(super) fn occlude(
        &self,
        pixels: &Tensor,
        p: usize,
        mean: [f32; 3],
        std: [f32; 3],
    ) -> Result<Tensor> {
        if self.occluded.is_empty() || self.fill == Fill::Remove {
            return Ok(pixels.shallow_clone());
        }
        let size = pixels.size();
        let (h, w) = (size[2] as usize, size[3] as usize);
        let gw = w / p;
        // 1 on occluded pixels, [1, 1, H, W]
        let mut mask = vec![0f32; h * w];
        for &k in &self.occluded {
            let (r, c) = (k / gw, k % gw);
            for y in r * p..((r + 1) * p).min(h) {
                mask[y * w + c * p..y * w + ((c + 1) * p).min(w)].fill(1.0);
            }
        }
        let opts = (pixels.kind(), pixels.device());
        let mask = Tensor::f_from_slice(&mask)?
            .f_view([1, 1, h as i64, w as i64])?
            .f_to_kind(opts.0)?
            .f_to_device(opts.1)?;
        let fill = match self.fill {
            Fill::Mean => pixels.f_zeros_like()?,
            Fill::Zero => {
                let black: Vec<f32> = (0..3).map(|c| -mean[c] / std[c]).collect();
                Tensor::f_from_slice(&black)?
                    .f_view([1, 3, 1, 1])?
                    .f_to_kind(opts.0)?
                    .f_to_device(opts.1)?
                    .f_expand_as(pixels)?
            }
            Fill::Blur => gaussian_blur(pixels, p as f64 / 2.0)?,
            Fill::Remove => unreachable!("removal leaves the pixels alone (returned above)"),
        };
        Ok(pixels.f_where_self(&mask.f_eq(0.0)?, &fill)?)
    }

    /// The additive key mask `[1, 1, 1, N]` (`−∞` on dropped and removed tokens; `prefix` prefix tokens come
    /// first), if any token is dropped or removed.
    pub(super) fn key_mask(
        &self,
        tokens: usize,
        prefix: usize,
        device: tch::Device,
    ) -> Result<Option<Tensor>> {
        let mut m = vec![0f32; tokens];
        let mut any = false;
        for t in self.masked_keys(prefix) {
            m[t] = f32::NEG_INFINITY;
            any = true;
        }
        if !any {
            return Ok(None);
        }
        Ok(Some(
            Tensor::f_from_slice(&m)?
                .f_view([1, 1, 1, tokens as i64])?
                .f_to_device(device)?,
        ))
    }

    /// The weights of the patches in a mean over patches `[P]` (1 kept, 0 removed), when patches are removed.
    pub(super) fn pool_weights(
        &self,
        patches: usize,
        device: tch::Device,
    ) -> Result<Option<Tensor>> {
        if !self.removes() {
            return Ok(None);
        }
        let mut w = vec![1f32; patches];
        for &p in &self.occluded {
            w[p] = 0.0;
        }
        Ok(Some(Tensor::f_from_slice(&w)?.f_to_device(device)?))
    }
}

/// Replace the ablated heads' outputs in `ctx` `[B, heads, N, d]`.
pub(super) fn ablate(ctx: &Tensor, heads: &[i64], how: Ablation) -> Result<Tensor> {
    if heads.is_empty() {
        return Ok(ctx.shallow_clone());
    }
    let n_heads = ctx.size()[1];
    let mut keep = vec![1f32; n_heads as usize];
    for &h in heads {
        keep[h as usize] = 0.0;
    }
    let keep = Tensor::f_from_slice(&keep)?
        .f_view([1, n_heads, 1, 1])?
        .f_to_kind(ctx.kind())?
        .f_to_device(ctx.device())?;
    let kept = ctx.f_mul(&keep)?;
    Ok(match how {
        Ablation::Zero => kept,
        Ablation::Mean => {
            let mean = ctx.f_mean_dim(2, true, None)?; // [B, heads, 1, d]
            kept.f_add(&mean.f_mul(&keep.f_neg()?.f_add_scalar(1.0)?)?)?
        }
    })
}

/// A separable Gaussian blur of `[B, C, H, W]` with standard deviation `sigma` pixels (kernel radius ⌈3σ⌉,
/// reflect padding, clamped to the image).
fn gaussian_blur(x: &Tensor, sigma: f64) -> Result<Tensor> {
    let size = x.size();
    let (c, h, w) = (size[1], size[2], size[3]);
    let radius = ((3.0 * sigma).ceil() as i64).clamp(1, (h.min(w) - 1).max(1));
    let taps: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp() as f32)
        .collect();
    let total: f32 = taps.iter().sum();
    let taps: Vec<f32> = taps.iter().map(|t| t / total).collect();
    let k = 2 * radius + 1;
    let kernel = Tensor::f_from_slice(&taps)?
        .f_to_kind(x.kind())?
        .f_to_device(x.device())?;
    let horizontal = kernel.f_view([1, 1, 1, k])?.f_expand([c, 1, 1, k], false)?;
    let vertical = kernel.f_view([1, 1, k, 1])?.f_expand([c, 1, k, 1], false)?;
    let y = x
        .f_pad([radius, radius, 0, 0], "reflect", None)?
        .f_conv2d::<&Tensor>(&horizontal, None, [1, 1], [0, 0], [1, 1], c)?;
    let y = y
        .f_pad([0, 0, radius, radius], "reflect", None)?
        .f_conv2d::<&Tensor>(&vertical, None, [1, 1], [0, 0], [1, 1], c)?;
    Ok(y)
}

/// `3,5-9,12`: sorted indices with runs collapsed.
fn compact(items: impl Iterator<Item = usize>) -> String {
    let v: Vec<usize> = items.collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        out.push(if j > i {
            format!("{}-{}", v[i], v[j])
        } else {
            v[i].to_string()
        });
        i = j + 1;
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn occlusion_touches_only_the_chosen_patches() {
        let x = Tensor::randn([1, 3, 8, 12], (Kind::Float, tch::Device::Cpu));
        let iv = Intervention {
            occluded: [1, 5].into_iter().collect(), // patch 4: grid 2x3; (0,1) and (1,2)
            ..Default::default()
        };
        let y = iv.occlude(&x, 4, [0.5; 3], [0.25; 3]).unwrap();
        let changed = y.ne_tensor(&x).to_kind(Kind::Float);
        // 2 patches x 16 pixels x 3 channels, all set to 0 (the mean fill)
        assert_eq!(changed.sum(Kind::Float).double_value(&[]), 96.0);
        assert_eq!(
            y.narrow(2, 0, 4)
                .narrow(3, 4, 4)
                .abs()
                .sum(Kind::Float)
                .double_value(&[]),
            0.0
        );
        assert_eq!(
            y.narrow(2, 4, 4).narrow(3, 0, 8),
            x.narrow(2, 4, 4).narrow(3, 0, 8)
        );
        let black = Intervention {
            fill: Fill::Zero,
            ..iv.clone()
        }
        .occlude(&x, 4, [0.5; 3], [0.25; 3])
        .unwrap();
        assert_eq!(black.double_value(&[0, 2, 0, 4]), -2.0);
        let blur = Intervention {
            fill: Fill::Blur,
            ..iv
        }
        .occlude(&x, 4, [0.5; 3], [0.25; 3])
        .unwrap();
        // a blur keeps a constant image constant and lowers the variance of noise
        let flat = Tensor::ones([1, 3, 8, 12], (Kind::Float, tch::Device::Cpu));
        let b = gaussian_blur(&flat, 2.0).unwrap();
        assert!((b - &flat).abs().max().double_value(&[]) < 1e-6);
        let patch = blur.narrow(2, 0, 4).narrow(3, 4, 4);
        assert!(patch.std(true).double_value(&[]) < x.std(true).double_value(&[]));
    }

    #[test]
    fn ablation_zeroes_or_averages_only_the_chosen_heads() {
        let ctx = Tensor::randn([1, 3, 5, 2], (Kind::Float, tch::Device::Cpu));
        let z = ablate(&ctx, &[1], Ablation::Zero).unwrap();
        assert_eq!(
            z.get(0).get(1).abs().sum(Kind::Float).double_value(&[]),
            0.0
        );
        assert_eq!(z.get(0).get(0), ctx.get(0).get(0));
        assert_eq!(z.get(0).get(2), ctx.get(0).get(2));
        let m = ablate(&ctx, &[2], Ablation::Mean).unwrap();
        let want = ctx
            .get(0)
            .get(2)
            .mean_dim(0, true, None)
            .expand([5, 2], false);
        assert!((m.get(0).get(2) - want).abs().max().double_value(&[]) < 1e-6);
        assert_eq!(m.get(0).get(1), ctx.get(0).get(1));
    }

    #[test]
    fn describe_names_every_change_and_checks_name_what_is_missing() {
        let iv = Intervention {
            occluded: [3, 4, 5, 9].into_iter().collect(),
            ablated: [(0, 1), (2, 3)].into_iter().collect(),
            dropped: [1].into_iter().collect(),
            ..Default::default()
        };
        assert_eq!(
            iv.describe(),
            "occluded 4 patches (3-5,9) filled with mean; ablated heads L0h1,L2h3 (output set to zero); \
             dropped tokens 1 from every layer's keys"
        );
        assert_eq!(Intervention::default().describe(), "none");
        assert!(iv.check(3, 4, 20, 16).is_ok());
        let e = iv.check(2, 4, 20, 16).unwrap_err().to_string();
        assert!(e.contains("L2h3 does not exist"), "{e}");
        let e = iv.check(3, 4, 20, 8).unwrap_err().to_string();
        assert!(e.contains("occluded patch 9"), "{e}");
    }
}
