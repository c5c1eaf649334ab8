//! Swin's window attention as query rows: for a cell of the finest (stem) grid, each block's attention row
//! of that cell inside its window, placed on the stem grid. A stage-`s` cell covers `2^s × 2^s` stem cells;
//! its value is spread evenly over them, so each block's row keeps the mass the window gave (padding's mass
//! is left out). Heads are averaged: the stages have different head counts.
use tch::Kind;

use super::AnalysisError;
use super::attention::{QueryRows, RowsKind};
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
    for (l, (a, meta)) in cap.window_attentions.iter().zip(&cap.windows).enumerate() {
        let f = meta.cell_px / stem_px; // stem cells per stage cell, per side
        let (cr, cc) = ((r0 / f).min(meta.grid.0 - 1), (c0 / f).min(meta.grid.1 - 1));
        let (k, t) = meta.locate(cr, cc).ok_or_else(|| {
            AnalysisError::Invalid(format!("cell ({cr}, {cc}) is outside stage {}", meta.stage))
        })?;
        let row = a
            .f_get(k as i64)?
            .f_select(1, t as i64)?
            .f_mean_dim(0, false, None)?
            .f_to_kind(Kind::Float)?
            .f_to_device(tch::Device::Cpu)?;
        let row = Vec::<f32>::try_from(row)?;
        let out = &mut data[l * sh * sw..(l + 1) * sh * sw];
        let share = 1.0 / (f * f) as f32;
        for (j, v) in row.iter().enumerate() {
            let Some((rr, cc)) = meta.cell_of(k, j) else {
                continue;
            };
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
