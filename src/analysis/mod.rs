//! Analysis: functions over captured tensors that produce plain data (no I/O, no egui).
//! Each module states the definition it implements; see also DESIGN.md §4.
pub mod attention;
pub mod distance;
pub mod embeddings;
pub mod flow;
pub mod gradient;
pub mod pca;
pub mod rollout;
pub mod source;
pub mod tokens;

pub use attention::{HeadSel, QueryRows};
pub use distance::{HeadStats, PrefixConvention, head_stats};
pub use embeddings::{PatchFilters, PosSimilarity, patch_filter_components, position_similarity};
pub use flow::{Progress, attention_flow, attention_flow_with};
pub use gradient::{grad_rollout, relevance};
pub use pca::{FeaturePcaImage, feature_pca};
pub use rollout::{HeadFusion, RolloutOptions, TokenMap, rollout};
pub use source::AttentionSource;
pub use tokens::{HeadMasks, TokenNorms, dino_masks, prefix_mass, token_norms};
