//! How a forward pass keeps its attention: the storage strategies, compared (time, peak memory, error
//! against f32) by `bash scripts/bench.sh`. The app keeps f32; the CLI takes `--attention STORE`.
//!
//! | store        | kept per layer                   | bytes at N tokens, H heads, width D | rows served by        |
//! |--------------|----------------------------------|--------------------------------------|-----------------------|
//! | `F32`        | softmax `[H, N, N]`, f32         | 4·H·N²                               | a view                |
//! | `F16`/`Bf16` | softmax `[H, N, N]`, half        | 2·H·N²                               | a view, cast to f32   |
//! | `QueryKeys`  | scaled `Q`, `K`, `[H, N, D/H]`   | 2·4·N·D (f32)                        | `softmax(Q_rows Kᵀ)`  |
//!
//! `QueryKeys` runs the forward with PyTorch's fused attention (nothing `N²` is allocated) and recomputes
//! rows when they are asked for: a query's row in every layer and head costs `O(L·N·D)`; a whole-matrix
//! method (rollout, attention distance) recomputes each layer once, in blocks of rows.
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
pub enum AttentionStore {
    /// Every layer's softmax attention in f32 (exact; what the app keeps).
    #[default]
    F32,
    /// Every layer's softmax attention in IEEE half precision (half the memory; values below 6.1e-5 lose
    /// relative precision, below 6e-8 they flush to 0).
    F16,
    /// Every layer's softmax attention in bfloat16 (half the memory; f32's range, 3 significant digits).
    Bf16,
    /// Each layer's scaled queries and keys; attention rows recomputed on demand.
    QueryKeys,
}

impl AttentionStore {
    pub const ALL: [AttentionStore; 4] = [
        AttentionStore::F32,
        AttentionStore::F16,
        AttentionStore::Bf16,
        AttentionStore::QueryKeys,
    ];
    /// The name in the app's menu.
    pub fn describe(self) -> &'static str {
        match self {
            AttentionStore::F32 => "f32 maps (exact)",
            AttentionStore::F16 => "f16 maps (half memory)",
            AttentionStore::Bf16 => "bf16 maps (half memory)",
            AttentionStore::QueryKeys => "queries and keys (rows on demand)",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            AttentionStore::F32 => "f32",
            AttentionStore::F16 => "f16",
            AttentionStore::Bf16 => "bf16",
            AttentionStore::QueryKeys => "qk",
        }
    }
    /// The kind a stored attention tensor has, for the stores that keep matrices.
    pub fn matrix_kind(self) -> Option<Kind> {
        match self {
            AttentionStore::F32 => Some(Kind::Float),
            AttentionStore::F16 => Some(Kind::Half),
            AttentionStore::Bf16 => Some(Kind::BFloat16),
            AttentionStore::QueryKeys => None,
        }
    }
}

/// Per layer, the queries (already multiplied by `1/√d_head`) and keys `[H, N, d_head]`, in the model's
/// precision: `softmax(q kᵀ)` in f32 is the layer's attention.
pub struct QueryKeys {
    pub queries: Vec<Tensor>,
    pub keys: Vec<Tensor>,
}

impl QueryKeys {
    /// Rows `start..start + len` of layer `layer`'s attention, every head: `[H, len, N]`, f32.
    pub fn rows(&self, layer: usize, start: i64, len: i64) -> Result<Tensor> {
        Ok(self.queries[layer]
            .f_narrow(1, start, len)?
            .f_matmul(&self.keys[layer].f_transpose(-1, -2)?)?
            .f_softmax(-1, Kind::Float)?)
    }
}
