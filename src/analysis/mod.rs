//! Analysis: functions over captured tensors that produce plain data (no I/O, no egui).
//! Each module states the definition it implements; see also DESIGN.md §4.
use crate::model::ModelError;

/// What can go wrong in an analysis: a request that does not fit the capture (a layer out of range, a
/// query that is not a token, …), or the model layer below failing (libtorch, memory).
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Model(#[from] ModelError),
}

impl From<tch::TchError> for AnalysisError {
    /// Through [`ModelError`], which recognises running out of memory.
    fn from(e: tch::TchError) -> Self {
        AnalysisError::Model(ModelError::from(e))
    }
}

impl From<AnalysisError> for ModelError {
    /// For callers in the model's terms (the engine's session): an invalid request stays one.
    fn from(e: AnalysisError) -> Self {
        match e {
            AnalysisError::Invalid(s) => ModelError::Invalid(s),
            AnalysisError::Model(m) => m,
        }
    }
}

pub mod attention;
pub mod distance;
pub mod embeddings;
pub mod flow;
pub mod gradient;
pub mod pca;
pub mod rollout;
pub mod source;
pub mod tokens;
pub mod window;

pub use attention::{HeadSel, QueryRows, RowsKind};
pub use distance::{HeadStats, PrefixConvention, head_stats};
pub use embeddings::{
    PatchFilters, PosSimilarity, RelativeBias, patch_filter_components, position_similarity,
    relative_bias,
};
pub use flow::{Progress, attention_flow, attention_flow_with};
pub use gradient::{grad_rollout, relevance};
pub use pca::{FeaturePcaImage, feature_pca};
pub use rollout::{HeadFusion, RolloutOptions, TokenMap, rollout, rollout_from};
pub use source::AttentionSource;
pub use tokens::{HeadMasks, TokenNorms, dino_masks, prefix_mass, token_norms};
