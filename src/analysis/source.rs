//! Where the analyses read attention rows from: a stored capture (`[Tensor]` of `[H, N, N]`, any float kind)
//! or per-layer queries and keys whose rows are recomputed ([`QueryKeys`]). Rollout, attention distance and
//! the query maps read through this trait in blocks of rows, so they run unchanged on every
//! [`crate::model::AttentionStore`] and never hold more than a block of f32 besides what the store keeps.
use tch::{Device, Kind, Tensor};

use crate::model::{Capture, QueryKeys};

type Result<T> = std::result::Result<T, super::AnalysisError>;

pub trait AttentionSource {
    fn layers(&self) -> usize;
    fn heads(&self) -> usize;
    fn tokens(&self) -> usize;
    fn device(&self) -> Device;
    /// Rows `start..start + len` of layer `layer`, every head: `[H, len, N]`, f32.
    fn rows(&self, layer: usize, start: i64, len: i64) -> Result<Tensor>;
}

impl AttentionSource for [Tensor] {
    fn layers(&self) -> usize {
        self.len()
    }
    fn heads(&self) -> usize {
        self.first().map_or(0, |a| a.size()[0] as usize)
    }
    fn tokens(&self) -> usize {
        self.first().map_or(0, |a| a.size()[1] as usize)
    }
    fn device(&self) -> Device {
        self.first().map_or(Device::Cpu, Tensor::device)
    }
    fn rows(&self, layer: usize, start: i64, len: i64) -> Result<Tensor> {
        Ok(self[layer]
            .f_narrow(1, start, len)?
            .f_to_kind(Kind::Float)?)
    }
}

impl AttentionSource for Vec<Tensor> {
    fn layers(&self) -> usize {
        self.as_slice().layers()
    }
    fn heads(&self) -> usize {
        self.as_slice().heads()
    }
    fn tokens(&self) -> usize {
        self.as_slice().tokens()
    }
    fn device(&self) -> Device {
        self.as_slice().device()
    }
    fn rows(&self, layer: usize, start: i64, len: i64) -> Result<Tensor> {
        self.as_slice().rows(layer, start, len)
    }
}

impl AttentionSource for QueryKeys {
    fn layers(&self) -> usize {
        self.queries.len()
    }
    fn heads(&self) -> usize {
        self.queries.first().map_or(0, |q| q.size()[0] as usize)
    }
    fn tokens(&self) -> usize {
        self.keys.first().map_or(0, |k| k.size()[1] as usize)
    }
    fn device(&self) -> Device {
        self.queries.first().map_or(Device::Cpu, Tensor::device)
    }
    fn rows(&self, layer: usize, start: i64, len: i64) -> Result<Tensor> {
        Ok(QueryKeys::rows(self, layer, start, len)?)
    }
}

/// Why a windowed (Swin) capture serves no global attention rows, in one line.
pub const WINDOWED: &str = "a Swin Transformer attends inside windows, so there is no attention matrix over all \
    tokens for this method; its window attention is shown per block for a patch (export --method attention \
    --query ROW,COL) and dumped per window (vitscope dump)";

/// The source of a windowed capture: the layer and token counts of the model, and rows that are refused with
/// [`WINDOWED`], so every global method stops with that reason instead of reading a wrong matrix.
pub struct Windowed {
    pub layers: usize,
    pub tokens: usize,
}

impl AttentionSource for Windowed {
    fn layers(&self) -> usize {
        self.layers
    }
    fn heads(&self) -> usize {
        1
    }
    fn tokens(&self) -> usize {
        self.tokens
    }
    fn device(&self) -> Device {
        Device::Cpu
    }
    fn rows(&self, _: usize, _: i64, _: i64) -> Result<Tensor> {
        Err(super::AnalysisError::Invalid(WINDOWED.into()))
    }
}

impl Capture {
    /// The attention of this capture, however it was stored.
    pub fn source(&self) -> &dyn AttentionSource {
        match (&self.query_keys, &self.windowed) {
            (_, Some(w)) => w,
            (Some(qk), None) => qk,
            (None, None) => &self.attentions,
        }
    }

    /// Bytes the kept attention occupies (the matrices, or the queries and keys).
    pub fn attention_bytes(&self) -> u64 {
        let bytes = |t: &Tensor| (t.numel() * t.kind().elt_size_in_bytes()) as u64;
        match &self.query_keys {
            Some(qk) => qk.queries.iter().chain(&qk.keys).map(bytes).sum(),
            None => self
                .attentions
                .iter()
                .chain(&self.window_attentions)
                .map(bytes)
                .sum(),
        }
    }

    /// Every layer's attention as f32 `[H, N, N]` matrices, for the methods that need whole matrices (flow,
    /// the dump): the stored tensors themselves when the capture is f32, computed otherwise (that takes the
    /// memory of an f32 capture, so on the CPU it is refused when that would not fit).
    pub fn matrices(&self) -> Result<Vec<Tensor>> {
        if self.windowed.is_some() {
            return Err(super::AnalysisError::Invalid(WINDOWED.into()));
        }
        if self.query_keys.is_none() && self.attentions.iter().all(|a| a.kind() == Kind::Float) {
            return Ok(self.attentions.iter().map(Tensor::shallow_clone).collect());
        }
        let src = self.source();
        let n = src.tokens() as i64;
        let need = (src.layers() * src.heads()) as u64 * (n * n) as u64 * 4;
        if let (Device::Cpu, Some(avail)) = (src.device(), crate::model::device::available_memory())
            && need as f64 > 0.8 * avail as f64
        {
            const GIB: f64 = (1u64 << 30) as f64;
            return Err(super::AnalysisError::Invalid(format!(
                "this method needs every layer's full attention maps: {n} tokens take {:.1} GiB as f32, and \
                 about {:.1} GiB of memory is available; use a smaller input size",
                need as f64 / GIB,
                avail as f64 / GIB
            )));
        }
        (0..src.layers()).map(|l| src.rows(l, 0, n)).collect()
    }
}

/// How many query rows a block holds so that `[H, rows, N]` f32 stays near 8 MiB: temporaries of that size
/// stay under glibc's largest mmap threshold (32 MiB), so they are reused from the heap instead of being
/// mapped, faulted in and unmapped for every block.
pub fn block_rows(heads: usize, tokens: usize) -> i64 {
    ((8usize << 20) / (4 * heads.max(1) * tokens.max(1))).clamp(16, 4096) as i64
}
