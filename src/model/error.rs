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
    #[error("cannot decode image {path}: {reason}")]
    Image { path: PathBuf, reason: String },
    #[error(
        "invalid input size {0:?}: use a number like 224 (the shorter side) or HxW like 224x336"
    )]
    InputSize(String),
    /// An input size whose longer side would pass vitscope's per-side limit; `suggest` is the largest shorter
    /// side that stays within it.
    #[error("{msg}")]
    SideTooLong { msg: String, suggest: usize },
    /// A request that does not fit the model or the capture (a class the head lacks, a layer out of range…).
    #[error("{0}")]
    Invalid(String),
    #[error("CUDA was requested but is not available (libtorch sees no GPU); use --device cpu")]
    NoCuda,
    /// libtorch could not allocate memory (GPU or CPU), with the way on.
    #[error(
        "out of memory: {detail}. Way on: a smaller input size (e.g. --size 224), reduced precision (f16 or bf16), or the CPU (--device cpu) when the GPU is the one that is full"
    )]
    OutOfMemory { detail: String },
    /// The capture for this input would not fit in memory; refused before running.
    #[error(
        "{tokens} tokens need about {need_gib:.1} GiB for the attention maps of {layers} layers × {heads} heads, and about {avail_gib:.1} GiB of memory is available. Use a smaller input size (for example --size {suggest}), or keep each layer's queries and keys instead of the maps, which takes memory linear in the tokens (--attention query-keys; in the app, Attention storage)"
    )]
    TooLarge {
        tokens: usize,
        layers: usize,
        heads: usize,
        need_gib: f64,
        avail_gib: f64,
        suggest: usize,
    },
    /// The gradient methods at this input would not fit in memory: they keep every layer's full attention
    /// and its gradient whatever the attention storage; refused before running.
    #[error(
        "the gradient methods need every layer's full attention maps and their gradients, whatever the attention storage: about {need_gib:.1} GiB for {tokens} tokens, and about {avail_gib:.1} GiB of memory is available. Use a smaller input size (for example {suggest} px)"
    )]
    GradientsTooLarge {
        tokens: usize,
        need_gib: f64,
        avail_gib: f64,
        suggest: usize,
    },
    #[error("libtorch: {0}")]
    Torch(tch::TchError),
    #[error(transparent)]
    Hub(#[from] super::hub::HubError),
}

impl From<tch::TchError> for ModelError {
    /// Allocation failures become [`ModelError::OutOfMemory`] (libtorch reports them as plain errors).
    fn from(e: tch::TchError) -> Self {
        let text = e.to_string();
        let lower = text.to_ascii_lowercase();
        if lower.contains("out of memory")
            || lower.contains("not enough memory")
            || lower.contains("can't allocate memory")
            || lower.contains("failed to allocate")
        {
            let detail = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .chars()
                .take(300)
                .collect();
            ModelError::OutOfMemory { detail }
        } else {
            ModelError::Torch(e)
        }
    }
}

pub type Result<T> = std::result::Result<T, ModelError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_allocation_in_libtorch_is_out_of_memory_with_a_way_on() {
        let e: ModelError =
            tch::Tensor::f_empty([1i64 << 50], (tch::Kind::Float, tch::Device::Cpu))
                .unwrap_err()
                .into();
        assert!(matches!(e, ModelError::OutOfMemory { .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.contains("smaller input size") && text.contains("--device cpu"));
        assert!(!text.contains('\n'), "{text}");
        // other libtorch errors stay as they are
        let e: ModelError = tch::Tensor::f_zeros([2, 3], (tch::Kind::Float, tch::Device::Cpu))
            .unwrap()
            .f_reshape([7])
            .unwrap_err()
            .into();
        assert!(matches!(e, ModelError::Torch(_)), "{e:?}");
    }
}
