//! What a forward pass hands out ([`Capture`]) and the scalar the gradient methods explain ([`GradTarget`]).
use tch::Tensor;

use crate::model::error::{ModelError, Result};
use crate::model::layout::TokenLayout;
use crate::model::store::QueryKeys;

/// Everything one forward pass captured. Tensors stay on the model's device.
pub struct Capture {
    /// Per layer: softmax attention `[heads, N, N]`, rows are queries and sum to 1; f32 unless the forward
    /// was asked for another [`AttentionStore`] (empty for `QueryKeys`).
    pub attentions: Vec<Tensor>,
    /// Per layer queries and keys, when the forward kept those instead of the matrices.
    pub query_keys: Option<QueryKeys>,
    /// The family's final tokens `[N, D]` (after the final norm where the model has one).
    pub last_hidden_state: Tensor,
    /// Per layer: the tokens each block outputs `[N, D]`, in the model's precision (before any final norm).
    pub hidden_states: Vec<Tensor>,
    /// The pooled feature the head sees `[D]` (`[2D]` for `Pool::ClsAndAvg`).
    pub pooled: Tensor,
    /// Classifier logits `[classes]`, for models with a head.
    pub logits: Option<Tensor>,
    /// The projected image embedding `[E]` (CLIP `visual_projection`).
    pub image_embeds: Option<Tensor>,
    /// The attention-pooling head's attention over the final tokens `[heads, N]` (f32; SigLIP, timm `map`).
    pub pool_attention: Option<Tensor>,
    /// Swin: each block's window attention `[windows, heads, M², M²]` (f32), with where it sits in `windows`.
    /// `attentions` is then empty: there is no one attention matrix over all tokens.
    pub window_attentions: Vec<Tensor>,
    pub windows: Vec<crate::model::swin::WindowMeta>,
    /// Swin: each block's output tokens `[h·w, C]` on its stage's grid.
    pub stage_hidden: Vec<Tensor>,
    /// Swin: what global methods read instead of a matrix (they are refused with the reason).
    pub windowed: Option<crate::analysis::source::Windowed>,
    /// Under an intervention that drops or removes tokens: the keys no token may see, `[1, 1, 1, N]` (`−∞`
    /// on them); the logit lens reads the layers through the same pooling.
    pub key_mask: Option<Tensor>,
    /// Under a removal of patches from the sequence: each patch's weight in a mean over patches `[P]`.
    pub pool_weights: Option<Tensor>,
    pub layout: TokenLayout,
    /// Input height and width in pixels.
    pub input_hw: (usize, usize),
    /// Wall time of the forward pass (device synchronised), milliseconds.
    pub forward_ms: f64,
}

/// The scalar a gradient-weighted method explains.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum GradTarget {
    /// The logit of one class (models with a classifier head).
    Logit(usize),
    /// The logit of class `a` minus that of class `b`.
    LogitDiff(usize, usize),
    /// For models without a head: the cosine similarity between the pooled feature (the CLS half when the
    /// pooled feature is `[CLS; mean]`) and the final feature of one token.
    Similarity(usize),
}

impl GradTarget {
    pub fn describe(&self) -> String {
        match self {
            GradTarget::Logit(c) => format!("logit of class {c}"),
            GradTarget::LogitDiff(a, b) => format!("logit {a} - logit {b}"),
            GradTarget::Similarity(t) => {
                format!("cosine(pooled feature, final feature of token {t})")
            }
        }
    }

    /// The scalar on a capture (differentiable when the capture was made with autograd on).
    pub fn evaluate(&self, c: &Capture) -> Result<Tensor> {
        let logit = |i: usize| -> Result<Tensor> {
            let l = c.logits.as_ref().ok_or_else(|| {
                ModelError::Invalid(
                    "this model has no classifier head: pick a similarity target".into(),
                )
            })?;
            let n = l.size()[0] as usize;
            if i >= n {
                return Err(ModelError::Invalid(format!(
                    "class {i} out of range (the head has {n} classes)"
                )));
            }
            Ok(l.f_get(i as i64)?)
        };
        match *self {
            GradTarget::Logit(i) => logit(i),
            GradTarget::LogitDiff(a, b) => Ok(logit(a)?.f_sub(&logit(b)?)?),
            GradTarget::Similarity(t) => {
                let n = c.last_hidden_state.size()[0] as usize;
                if t >= n {
                    return Err(ModelError::Invalid(format!(
                        "token {t} out of range (the model has {n} tokens)"
                    )));
                }
                let d = c.last_hidden_state.size()[1];
                let mut pooled = c.pooled.shallow_clone();
                if pooled.size()[0] != d {
                    pooled = pooled.f_narrow(0, 0, d)?;
                }
                let token = c.last_hidden_state.f_get(t as i64)?;
                // A model pooled by its CLS token compares the CLS with itself: the cosine is 1 whatever the
                // image, its gradient is zero and every map would be blank.
                if pooled.size() == token.size() && pooled.f_equal(&token)? {
                    return Err(ModelError::Invalid(format!(
                        "the pooled feature of this model is token {t}'s own final feature, so their \
                         similarity is always 1 and explains nothing (an all-zero map); pick a patch as the \
                         target (sim:ROW,COL){}",
                        if c.logits.is_some() {
                            " or a class"
                        } else {
                            ""
                        }
                    )));
                }
                Ok(Tensor::f_cosine_similarity(&pooled, &token, 0, 1e-8)?)
            }
        }
    }
}
