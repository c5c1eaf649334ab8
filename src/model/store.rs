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
use tch::{Device, Kind, Tensor};

use super::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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
/// precision: `softmax(q kᵀ + bias)` in f32 is the layer's attention.
pub struct QueryKeys {
    pub queries: Vec<Tensor>,
    pub keys: Vec<Tensor>,
    /// Per layer, the additive score bias where the model has one (BEiT); empty or `None` for none.
    pub biases: Vec<Option<TableBias>>,
    /// The dropped tokens' key mask `[1, 1, 1, N]` (`−∞` on them), every layer, under an intervention.
    pub key_mask: Option<Tensor>,
}

impl QueryKeys {
    /// Rows `start..start + len` of layer `layer`'s attention, every head: `[H, len, N]`, f32.
    pub fn rows(&self, layer: usize, start: i64, len: i64) -> Result<Tensor> {
        let mut scores = self.queries[layer]
            .f_narrow(1, start, len)?
            .f_matmul(&self.keys[layer].f_transpose(-1, -2)?)?;
        if let Some(Some(bias)) = self.biases.get(layer) {
            scores = scores.f_add(&bias.rows(start, len)?)?;
        }
        if let Some(mask) = &self.key_mask {
            scores = scores.f_add(&mask.f_squeeze_dim(0)?)?;
        }
        Ok(scores.f_softmax(-1, Kind::Float)?)
    }
}

/// An additive attention-score bias gathered from a learned table (BEiT's relative position bias): entry
/// `(i, j)` of head `h` is `table[index[i, j], h]`. Kept as table and index, so any block of rows costs only
/// its own size.
pub struct TableBias {
    /// `[R, H]`, in the model's precision.
    pub table: Tensor,
    /// `[N, N]`, int64.
    pub index: Tensor,
}

impl TableBias {
    /// Rows `start..start + len`: `[H, len, N]`.
    pub fn rows(&self, start: i64, len: i64) -> Result<Tensor> {
        let n = self.index.size()[1];
        let idx = self.index.f_narrow(0, start, len)?.f_reshape([-1])?;
        Ok(self
            .table
            .f_index_select(0, &idx)?
            .f_reshape([len, n, -1])?
            .f_permute([2, 0, 1])?)
    }
    /// The whole bias `[1, H, N, N]`.
    pub fn full(&self) -> Result<Tensor> {
        let n = self.index.size()[0];
        Ok(self.rows(0, n)?.f_unsqueeze(0)?)
    }
    pub fn shallow_clone(&self) -> TableBias {
        TableBias {
            table: self.table.shallow_clone(),
            index: self.index.shallow_clone(),
        }
    }
}

/// One layer's attention for queries (already scaled), keys and values `[B, heads, N, d]`: the context
/// `softmax(q kᵀ) v` `[B, heads, N, d]` and what the layer keeps. `store` is `None` under autograd (the
/// attention is kept as the graph uses it).
pub(super) fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: Option<&TableBias>,
    key_mask: Option<&Tensor>,
    store: Option<AttentionStore>,
) -> Result<(Tensor, Kept)> {
    let size = q.size();
    let (batch, heads, n) = (size[0], size[1], size[2]);
    let kt = k.f_transpose(-1, -2)?;
    let bias = bias.map(TableBias::full).transpose()?; // [1, heads, N, N]
    // dropped tokens' −∞ joins the bias (in the scores' kind)
    let bias = match (bias, key_mask) {
        (b, None) => b,
        (None, Some(m)) => Some(m.f_to_kind(q.kind())?),
        (Some(b), Some(m)) => Some(b.f_add(&m.f_to_kind(b.kind())?)?),
    };
    Ok(match store {
        Some(AttentionStore::QueryKeys) => {
            // PyTorch's fused attention: nothing N×N is allocated. Q is already scaled.
            let ctx = Tensor::f_scaled_dot_product_attention(
                q,
                k,
                v,
                bias.as_ref(),
                0.0,
                false,
                1.0,
                false,
            )?;
            let kept = Kept::QueryKeys(q.f_squeeze_dim(0)?, k.f_squeeze_dim(0)?.f_contiguous()?);
            (ctx, kept)
        }
        _ => {
            // Without autograd in f32, the scores are written straight into the tensor that keeps the
            // attention and the softmax runs in place: one [heads, N, N] allocation per layer, not two.
            let attn = if store.is_some() && q.kind() == Kind::Float {
                let mut buf = capture_buffer([batch, heads, n, n], q.device())?;
                let _ = q.f_matmul_out(&buf, &kt)?;
                if let Some(b) = &bias {
                    let _ = buf.f_add_(b)?;
                }
                let _ = buf.f_softmax_int_out(&buf, -1, Kind::Float)?;
                buf
            } else {
                let scores = q.f_matmul(&kt)?;
                let scores = match &bias {
                    Some(b) => scores.f_add(b)?,
                    None => scores,
                };
                scores.f_softmax(-1, Kind::Float)?
            }; // [1, heads, N, N], f32
            let ctx = attn.f_to_kind(v.kind())?.f_matmul(v)?;
            let kept = match store.and_then(AttentionStore::matrix_kind) {
                Some(kind) => attn.f_to_kind(kind)?,
                None => attn,
            };
            (ctx, Kept::Matrix(kept))
        }
    })
}

/// What a block keeps of its attention: the matrix `[1, heads, N, N]`, or its queries and keys `[heads, N, d]`.
pub(super) enum Kept {
    Matrix(Tensor),
    QueryKeys(Tensor, Tensor),
}

/// An uninitialised f32 tensor for a layer's attention.
///
/// It is not advised for transparent huge pages. `madvise(MADV_HUGEPAGE)` was tried here: on this project's
/// build machine (THP enabled=madvise, defrag=madvise) it made the built-in model's forward at 700 px 1.7-2.3x
/// slower (3.5-4.7 s against 2.0-2.1 s, release build, page cache dropped, 22 GB free), and slower at 448 px
/// too, so the kernel's default 4 KiB faulting is kept.
fn capture_buffer(shape: [i64; 4], device: Device) -> Result<Tensor> {
    Ok(Tensor::f_empty(shape, (Kind::Float, device))?)
}
