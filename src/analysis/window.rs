//! Swin's window attention as query rows: for a cell of the finest (stem) grid, each block's attention row
//! of that cell inside its window, placed on the stem grid. A stage-`s` cell covers `2^s × 2^s` stem cells;
//! its value is spread evenly over them, so each block's row keeps the mass the window gave (padding's mass
//! is left out). Every head is kept; the stages have different head counts.
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

/// Block `layer`'s attention rows of stage cell `(row, col)`, one per head, each placed on the stage grid.
struct PlacedHeads {
    /// `[heads][h·w]`.
    values: Vec<Vec<f32>>,
    /// Each head's mass on padding tokens.
    padding: Vec<f32>,
    window: usize,
}

fn placed_heads(
    cap: &Capture,
    layer: usize,
    (row, col): (usize, usize),
) -> Result<PlacedHeads, AnalysisError> {
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
    // [heads, area]: the cell's row in its window, every head
    let rows = a.f_get(k as i64)?.f_select(1, t as i64)?;
    let (heads, area) = (rows.size()[0] as usize, rows.size()[1] as usize);
    let flat = Vec::<f32>::try_from(
        rows.f_to_kind(Kind::Float)?
            .f_to_device(tch::Device::Cpu)?
            .f_contiguous()?
            .f_view([-1])?,
    )?;
    let (h, w) = meta.grid;
    let mut values = vec![vec![0f32; h * w]; heads];
    let mut padding = vec![0f32; heads];
    for j in 0..area {
        let cell = meta.cell_of(k, j);
        for hd in 0..heads {
            let v = flat[hd * area + j];
            match cell {
                Some((rr, cc)) => values[hd][rr * w + cc] = v,
                None => padding[hd] += v,
            }
        }
    }
    Ok(PlacedHeads {
        values,
        padding,
        window: k,
    })
}

/// Block `layer`'s attention row of stage cell `(row, col)`, for one head or the head mean.
pub fn window_row(
    cap: &Capture,
    layer: usize,
    cell: (usize, usize),
    head: HeadSel,
) -> Result<WindowRow, AnalysisError> {
    let p = placed_heads(cap, layer, cell)?;
    let heads = p.values.len();
    let stage = cap.windows.get(layer).map_or(0, |m| m.stage);
    match head {
        HeadSel::Head(h) if h < heads => Ok(WindowRow {
            values: p.values[h].clone(),
            padding: p.padding[h],
            window: p.window,
        }),
        HeadSel::Head(h) => Err(AnalysisError::Invalid(format!(
            "head {h} does not exist in block {layer} (stage {stage} has {heads} heads)"
        ))),
        HeadSel::Mean => {
            let n = heads as f32;
            let mut values = vec![0f32; p.values[0].len()];
            for v in &p.values {
                values.iter_mut().zip(v).for_each(|(a, x)| *a += x);
            }
            values.iter_mut().for_each(|a| *a /= n);
            Ok(WindowRow {
                values,
                padding: p.padding.iter().sum::<f32>() / n,
                window: p.window,
            })
        }
    }
}

/// The window rows of stem cell `token` (row-major on [`stem_layout`]) for every block and each of its
/// heads (`heads` is the most of any stage; each layer's own count is in `layer_heads`).
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
    let placed: Vec<PlacedHeads> = cap
        .windows
        .iter()
        .enumerate()
        .map(|(l, meta)| {
            let f = meta.cell_px / stem_px; // stem cells per stage cell, per side
            let cell = ((r0 / f).min(meta.grid.0 - 1), (c0 / f).min(meta.grid.1 - 1));
            placed_heads(cap, l, cell)
        })
        .collect::<Result<_, _>>()?;
    let layer_heads: Vec<usize> = placed.iter().map(|p| p.values.len()).collect();
    let heads = layer_heads.iter().copied().max().unwrap_or(1);
    let n = sh * sw;
    let mut data = vec![0f32; layers * heads * n];
    for (l, (meta, p)) in cap.windows.iter().zip(&placed).enumerate() {
        let f = meta.cell_px / stem_px;
        let share = 1.0 / (f * f) as f32;
        let gw = meta.grid.1;
        for (hd, values) in p.values.iter().enumerate() {
            let out = &mut data[(l * heads + hd) * n..(l * heads + hd + 1) * n];
            for (i, v) in values.iter().enumerate().filter(|(_, v)| **v != 0.0) {
                let (rr, cc) = (i / gw, i % gw);
                for y in rr * f..((rr + 1) * f).min(sh) {
                    for x in cc * f..((cc + 1) * f).min(sw) {
                        out[y * sw + x] = v * share;
                    }
                }
            }
        }
    }
    Ok(QueryRows {
        query: token,
        kind: RowsKind::Windows,
        layers,
        heads,
        layer_heads,
        layout: stem,
        data,
        windows: cap.windows.clone(),
    })
}
