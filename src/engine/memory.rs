//! The memory budget: what a forward pass at a size will take, checked before it runs.
use crate::model::{AttentionStore, ModelError, Result};

/// Bytes a forward pass at `h × w` needs for the attention it keeps as `store`: the kept maps (`L·H·N²` in
/// f32, or half that) plus one layer's transient f32 scores and softmax. `None` for query/key storage, which
/// keeps `O(N)` per layer.
pub fn attention_bytes(
    c: &crate::model::VitConfig,
    h: usize,
    w: usize,
    store: AttentionStore,
) -> Option<u64> {
    let n = c.layout_for(h, w).num_tokens() as u64;
    let per_layer = c.num_attention_heads as u64 * n * n * 4;
    let layers = c.num_hidden_layers as u64;
    match store {
        AttentionStore::F32 => Some(per_layer * (layers + 2)),
        AttentionStore::F16 | AttentionStore::Bf16 => Some(per_layer * (layers.div_ceil(2) + 2)),
        AttentionStore::QueryKeys => None,
    }
}

/// Refuse an input whose kept attention (times `factor`, for work that needs more: autograd keeps about
/// three times the f32 maps) would not fit in `available` bytes, naming a shorter side that would.
pub fn check_memory(
    c: &crate::model::VitConfig,
    h: usize,
    w: usize,
    store: AttentionStore,
    factor: u64,
    available: Option<u64>,
) -> Result<()> {
    match attention_bytes(c, h, w, store) {
        Some(need) => check_need(c, h, w, need * factor, available),
        None => Ok(()),
    }
}

/// Refuse an input at `h × w` that needs `need` bytes when `available` are free (with a 20 % margin),
/// naming a shorter side that would fit.
fn check_need(
    c: &crate::model::VitConfig,
    h: usize,
    w: usize,
    need: u64,
    available: Option<u64>,
) -> Result<()> {
    let Some(avail) = available else {
        return Ok(());
    };
    let budget = avail as f64 * 0.8;
    if (need as f64) <= budget {
        return Ok(());
    }
    // Memory grows with the fourth power of the side.
    let scale = (budget / need as f64).powf(0.25);
    let p = c.patch_size;
    let suggest = ((h.min(w) as f64 * scale) as usize / p).max(1) * p;
    const GIB: f64 = (1u64 << 30) as f64;
    Err(ModelError::TooLarge {
        tokens: c.layout_for(h, w).num_tokens(),
        layers: c.num_hidden_layers,
        heads: c.num_attention_heads,
        need_gib: need as f64 / GIB,
        avail_gib: avail as f64 / GIB,
        suggest,
    })
}
