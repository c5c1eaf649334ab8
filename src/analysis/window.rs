//! Swin's window attention as query rows: for a cell of the finest (stem) grid, each block's attention row
//! of that cell inside its window, placed on the stem grid. A stage-`s` cell covers `2^s × 2^s` stem cells;
//! its value is spread evenly over them, so each block's row keeps the mass the window gave (padding's mass
//! is left out). Heads are averaged: the stages have different head counts.
use tch::Kind;

use super::AnalysisError;
use super::attention::{HeadSel, QueryRows, RowsKind};
use crate::model::{Capture, TokenLayout};

/// The finest grid of a Swin capture: the stem's patches.
pub fn stem_layout(cap: &Capture) -> Option<TokenLayout> {
    let first = cap.windows.first()?;
    Some(TokenLayout {
        prefix: Vec::new(),
        grid_h: first.grid.0,
        grid_w: first.grid.1,
        patch_size: first.cell_px,
    })
}

/// One block's attention row for one cell of its stage grid, placed on that grid.
pub struct WindowRow {
    /// `[h·w]` on the block's stage grid, zero outside the cell's window.
    pub values: Vec<f32>,
    /// The mass the row gives to padding tokens (left out of `values`).
    pub padding: f32,
    /// Which window (in the model's own order) holds the cell.
    pub window: usize,
}

/// Block `layer`'s attention row of stage cell `(row, col)`, for one head or the head mean.
pub fn window_row(
    cap: &Capture,
    layer: usize,
    (row, col): (usize, usize),
    head: HeadSel,
) -> Result<WindowRow, AnalysisError> {
    let (a, meta) = cap
        .window_attentions
        .get(layer)
        .zip(cap.windows.get(layer))
        .ok_or_else(|| AnalysisError::Invalid(format!("block {layer} has no window attention")))?;
    let (k, t) = meta.locate(row, col).ok_or_else(|| {
        AnalysisError::Invalid(format!(
            "cell ({row}, {col}) is outside stage {}",
            meta.stage
        ))
    })?;
    let a = a.f_get(k as i64)?; // [heads, area, area]
    let heads = a.size()[0] as usize;
    let r = match head {
        HeadSel::Mean => a.f_select(1, t as i64)?.f_mean_dim(0, false, None)?,
        HeadSel::Head(h) if h < heads => a.f_get(h as i64)?.f_get(t as i64)?,
        HeadSel::Head(h) => {
            return Err(AnalysisError::Invalid(format!(
                "head {h} does not exist in block {layer} (stage {} has {heads} heads)",
                meta.stage
            )));
        }
    };
    let r = Vec::<f32>::try_from(r.f_to_kind(Kind::Float)?.f_to_device(tch::Device::Cpu)?)?;
    let (h, w) = meta.grid;
    let mut values = vec![0f32; h * w];
    let mut padding = 0f32;
    for (j, v) in r.iter().enumerate() {
        match meta.cell_of(k, j) {
            Some((rr, cc)) => values[rr * w + cc] = *v,
            None => padding += v,
        }
    }
    Ok(WindowRow {
        values,
        padding,
        window: k,
    })
}

/// The window rows of stem cell `token` (row-major on [`stem_layout`]) for every block.
pub fn window_rows(cap: &Capture, token: usize) -> Result<QueryRows, AnalysisError> {
    let stem = stem_layout(cap)
        .ok_or_else(|| AnalysisError::Invalid("this capture has no window attention".into()))?;
    let (sh, sw) = (stem.grid_h, stem.grid_w);
    if token >= sh * sw {
        return Err(AnalysisError::Invalid(format!(
            "cell {token} is outside the {sh}x{sw} grid"
        )));
    }
    let (r0, c0) = (token / sw, token % sw);
    let stem_px = stem.patch_size;
    let layers = cap.window_attentions.len();
    let mut data = vec![0f32; layers * sh * sw];
    for (l, meta) in cap.windows.iter().enumerate() {
        let f = meta.cell_px / stem_px; // stem cells per stage cell, per side
        let cell = ((r0 / f).min(meta.grid.0 - 1), (c0 / f).min(meta.grid.1 - 1));
        let row = window_row(cap, l, cell, HeadSel::Mean)?;
        let out = &mut data[l * sh * sw..(l + 1) * sh * sw];
        let share = 1.0 / (f * f) as f32;
        let gw = meta.grid.1;
        for (i, v) in row.values.iter().enumerate().filter(|(_, v)| **v != 0.0) {
            let (rr, cc) = (i / gw, i % gw);
            for y in rr * f..((rr + 1) * f).min(sh) {
                for x in cc * f..((cc + 1) * f).min(sw) {
                    out[y * sw + x] = v * share;
                }
            }
        }
    }
    Ok(QueryRows {
        query: token,
        kind: RowsKind::Windows,
        layers,
        heads: 1,
        layout: stem,
        data,
        windows: cap.windows.clone(),
    })
}
