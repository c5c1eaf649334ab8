//! Errors of the model layer: reading checkpoints and images, validating them, running the forward pass.
use std::path::PathBuf;

/// Everything that can go wrong between a file on disk and a capture of attention.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a readable safetensors file: {reason}")]
    Safetensors { path: PathBuf, reason: String },
    #[error("{path} is a PyTorch pickle file; vitscope reads safetensors only. Convert it with: python -c \"import torch; from safetensors.torch import save_file; save_file({{k: v.contiguous() for k, v in torch.load('{name}', map_location='cpu').items()}}, 'model.safetensors')\"", name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())]
    Pickle { path: PathBuf },
    #[error("no model found at {path}: {reason}")]
    NotFound { path: PathBuf, reason: String },
    #[error("{path}: invalid config.json: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error(
        "unknown checkpoint layout: {found}. vitscope opens ViTs in timm naming (VisionTransformer, DeiT, CLIP towers, DINO/DINOv2) and Hugging Face ViT, DeiT, DINOv2 (with registers) and CLIP vision"
    )]
    UnknownLayout { found: String },
    #[error("checkpoint does not match a {family} model:\n{report}")]
    Mismatch { family: String, report: String },
    #[error("tensor {name} has dtype {dtype}; only F32, F16, BF16 and F64 weights are supported")]
    Dtype { name: String, dtype: String },
    #[error("cannot decode image {path}: {reason}")]
    Image { path: PathBuf, reason: String },
    #[error(
        "invalid input size {0:?}: use a number like 224 (the shorter side) or HxW like 224x336"
    )]
    InputSize(String),
    /// A request that does not fit the model or the capture (a class the head lacks, a layer out of range…).
    #[error("{0}")]
    Invalid(String),
    #[error("CUDA was requested but is not available (libtorch sees no GPU); use --device cpu")]
    NoCuda,
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

pub type Result<T> = std::result::Result<T, ModelError>;
