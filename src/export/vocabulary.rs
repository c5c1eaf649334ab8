//! The names of every analysis method and output format: one vocabulary for file names, provenance and both
//! front ends (the command line maps its own values onto it, src/cli/args.rs).
use serde::{Deserialize, Serialize};

/// The analysis methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Method {
    #[default]
    Attention,
    Rollout,
    Flow,
    GradRollout,
    Relevance,
    DinoMask,
    TokenNorm,
    FeaturePca,
    PosSim,
    PatchPca,
    RelBias,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Attention => "attention",
            Method::Rollout => "rollout",
            Method::Flow => "flow",
            Method::GradRollout => "grad-rollout",
            Method::Relevance => "relevance",
            Method::DinoMask => "dino-mask",
            Method::TokenNorm => "token-norm",
            Method::FeaturePca => "feature-pca",
            Method::PosSim => "pos-sim",
            Method::PatchPca => "patch-pca",
            Method::RelBias => "rel-bias",
        }
    }
    /// Methods that look at the weights only.
    pub fn needs_image(self) -> bool {
        !matches!(self, Method::PosSim | Method::PatchPca | Method::RelBias)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Png,
    Npy,
}
